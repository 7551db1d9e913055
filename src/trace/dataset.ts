import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { SyswardenError } from '../errors.js';

/** The project root: two levels above this module in both src/trace and dist/trace. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where the dataset comes from, for the messages that say it is missing. */
export const DATASET_ORIGIN =
  'the public GitHub repository gabrielruschel/hids-docker (the reference study\'s strace captures of WordPress in Docker, Castanhel et al.)';

/** The study's stand-in data that `eval` reads by default: the ISCC normal traces and the SBSeg attack trace. */
export const STAND_IN = { normal: 'wordpress/iscc/normal', attack: 'wordpress/sbseg/exec/wordpress_exec_1_teste1' } as const;

/**
 * Where the hids-docker dataset lives: $SYSWARDEN_DATASET, else
 * ../shared/datasets/hids-docker beside the project (resolved from this
 * module, so the answer does not depend on the working directory).
 */
export function datasetPath(): string {
  const env = process.env.SYSWARDEN_DATASET;
  return env && env.length > 0 ? resolve(env) : resolve(PROJECT_ROOT, '../shared/datasets/hids-docker');
}

/**
 * Why the dataset cannot serve, in one line (what is missing, where it was
 * looked for, where it comes from), or undefined when every path in `needs`
 * (relative to the dataset folder) is there.
 */
export function datasetMissing(needs: readonly string[] = ['wordpress']): string | undefined {
  const root = datasetPath();
  const absent = needs.filter((p) => !existsSync(resolve(root, p)));
  if (absent.length === 0) return undefined;
  const where = process.env.SYSWARDEN_DATASET ? `${root} (from $SYSWARDEN_DATASET)` : `${root} (the default place, beside the project)`;
  const what = existsSync(root) ? `${where} has no ${absent.join(', ')}` : `there is no folder ${where}`;
  return `hids-docker dataset not found: ${what}. It comes from ${DATASET_ORIGIN}; put a copy there or set SYSWARDEN_DATASET to its folder.`;
}

/** datasetPath(), checked to hold every path in `needs`; `alternative` says how to do without it. */
export function requireDataset(needs: readonly string[] = ['wordpress'], alternative?: string): string {
  const missing = datasetMissing(needs);
  if (missing !== undefined) throw new SyswardenError('ERR_DATASET_MISSING', alternative ? `${missing} Or ${alternative}.` : missing);
  return datasetPath();
}
