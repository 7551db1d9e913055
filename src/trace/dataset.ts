import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { SyswardenError } from '../errors.js';

/** The project root: two levels above this module in both src/trace and dist/trace. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Where the hids-docker dataset lives: $SYSWARDEN_DATASET, else
 * ../shared/datasets/hids-docker beside the project (resolved from this
 * module, so the answer does not depend on the working directory).
 */
export function datasetPath(): string {
  const env = process.env.SYSWARDEN_DATASET;
  return env && env.length > 0 ? resolve(env) : resolve(PROJECT_ROOT, '../shared/datasets/hids-docker');
}

/** datasetPath(), checked to exist. */
export function requireDataset(): string {
  const root = datasetPath();
  if (!existsSync(resolve(root, 'wordpress'))) {
    throw new SyswardenError(
      'ERR_DATASET_MISSING',
      `the hids-docker dataset is not at ${root} (no wordpress/ folder there). Fix: set SYSWARDEN_DATASET to the dataset folder, or pass --normal and --attack explicitly.`,
    );
  }
  return root;
}
