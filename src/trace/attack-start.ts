/**
 * When the attack in an attack trace starts, where the dataset says so. An
 * LID-DS recording runs the application normally and then its exploit; its
 * metadata (`<name>.json` beside `<name>.sc`) holds the exploit's time:
 *
 *   { "exploit": true, "time": { "exploit": [ { "absolute": <unix seconds>, ... } ], ... }, ... }
 *
 * (written with Python's quotes in some releases: single quotes are read too).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SyswardenError } from '../errors.js';
import { readInputFileSync } from '../io/safe-file.js';
import { stem } from './paths.js';

/** Metadata files are a few KiB. */
const MAX_METADATA_BYTES = 1 << 20;

/** The metadata file of a trace: the same path with `.json` for its extension. */
export function metadataPath(tracePath: string): string {
  return join(dirname(tracePath), `${stem(basename(tracePath))}.json`);
}

/** Latest exploit time accepted, unix seconds (the year 5138): a larger one is a broken file. */
const MAX_SECONDS = 1e11;

/**
 * The attack's start in unix ns, from the LID-DS metadata beside `tracePath`;
 * undefined when there is none, or it is no LID-DS metadata (no `exploit`
 * key), or it says the recording holds no exploit. A metadata file that
 * cannot be read (not a regular file, too large, not JSON) is an error: the
 * start it may hold must not be dropped in silence.
 */
export function attackStartNs(tracePath: string): number | undefined {
  const path = metadataPath(tracePath);
  if (path === tracePath || !existsSync(path)) return undefined;
  // A regular file of bounded size only: a FIFO named like metadata must not hang eval.
  const text = readInputFileSync(path, { what: 'trace metadata', maxBytes: MAX_METADATA_BYTES }).toString('utf8');
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch {
    try {
      meta = JSON.parse(text.replaceAll("'", '"'));
    } catch {
      throw new SyswardenError('ERR_DATASET', `${path}, the metadata beside ${tracePath}, is not JSON. Fix: restore it from the dataset's zip, or move it away to count the whole trace as the attack.`);
    }
  }
  if (typeof meta !== 'object' || meta === null || !('exploit' in meta)) return undefined;
  const m = meta as { exploit?: unknown; time?: { exploit?: unknown } };
  if (m.exploit !== true) return undefined;
  const first = Array.isArray(m.time?.exploit) ? (m.time.exploit[0] as { absolute?: unknown } | undefined) : undefined;
  const seconds = first?.absolute;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_SECONDS) {
    throw new SyswardenError(
      'ERR_DATASET',
      `${path} says its recording holds an exploit but gives no usable time for it (time.exploit[0].absolute, unix seconds). Fix: correct the metadata, or move the file away to count the whole trace as the attack.`,
    );
  }
  return Math.round(seconds * 1e9);
}
