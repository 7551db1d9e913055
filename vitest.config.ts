import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    // Kernel tests share one machine-wide resource (BPF programs on the same
    // tracepoint, cgroups, dockerd): run files one after another so their
    // counts cannot interfere.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
