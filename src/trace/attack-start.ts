/**
 * When the attack in an attack trace starts, where the dataset says so. An
 * LID-DS recording runs the application normally and then its exploit; its
 * metadata (`<name>.json` beside `<name>.sc`) holds the exploit's time:
 *
 *   { "exploit": true, "time": { "exploit": [ { "absolute": <unix seconds>, ... } ], ... }, ... }
 *
 * (written with Python's quotes in some releases: single quotes are read too).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SyswardenError } from '../errors.js';
import { stem } from './paths.js';

/** Metadata files are a few KiB; a larger one is not LID-DS metadata. */
const MAX_METADATA_BYTES = 1 << 20;

/** The metadata file of a trace: the same path with `.json` for its extension. */
export function metadataPath(tracePath: string): string {
  return join(dirname(tracePath), `${stem(basename(tracePath))}.json`);
}

/**
 * The attack's start in unix ns, from the LID-DS metadata beside `tracePath`;
 * undefined when there is none, or it is no LID-DS metadata (no `exploit`
 * key), or it says the recording holds no exploit.
 */
export function attackStartNs(tracePath: string): number | undefined {
  const path = metadataPath(tracePath);
  if (path === tracePath || !existsSync(path)) return undefined;
  const bytes = readFileSync(path);
  if (bytes.length > MAX_METADATA_BYTES) return undefined;
  const text = bytes.toString('utf8');
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch {
    try {
      meta = JSON.parse(text.replaceAll("'", '"'));
    } catch {
      return undefined;
    }
  }
  if (typeof meta !== 'object' || meta === null || !('exploit' in meta)) return undefined;
  const m = meta as { exploit?: unknown; time?: { exploit?: unknown } };
  if (m.exploit !== true) return undefined;
  const first = Array.isArray(m.time?.exploit) ? (m.time.exploit[0] as { absolute?: unknown } | undefined) : undefined;
  const seconds = first?.absolute;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new SyswardenError(
      'ERR_DATASET',
      `${path} says its recording holds an exploit but gives no time for it (time.exploit[0].absolute, unix seconds). Fix: correct the metadata, or move the file away to count the whole trace as the attack.`,
    );
  }
  return Math.round(seconds * 1e9);
}
