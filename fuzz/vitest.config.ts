import { defineConfig } from 'vitest/config';

// `npm run fuzz`: the properties of test/fuzz/, each reader with FUZZ_RUNS
// (100 000) generated inputs and a fresh random seed. Files run one after
// another so a campaign uses one core.
export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/fuzz/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 900_000,
    hookTimeout: 300_000,
    reporters: ['verbose'],
  },
});
