/**
 * For the tests that read the hids-docker dataset: find out once per test
 * file whether it is there, and if not say so in one line (what is missing,
 * where it was looked for, where it comes from) so the file's tests can skip
 * with `describe.skipIf(missing)` instead of failing on ENOENT.
 */
import { datasetMissing } from '../../../src/trace/dataset.js';

export function datasetMissingForTests(needs: readonly string[]): string | undefined {
  const missing = datasetMissing(needs);
  if (missing !== undefined) console.log(`skipping the dataset tests: ${missing}`);
  return missing;
}
