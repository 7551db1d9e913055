/**
 * When the attack in an attack trace starts, where the dataset says so. An
 * LID-DS recording runs the application normally and then its exploit; its
 * metadata (`<name>.json` beside `<name>.sc`) holds the exploit's time:
 *
 *   { "exploit": true, "time": { "exploit": [ { "absolute": <unix seconds>, ... } ], ... }, ... }
 *
 * (written with Python's quotes in some releases: single quotes are read too).
 *
 * LID-DS 2019 has no metadata file per recording but one table per scenario,
 * `runs.csv` beside the recordings (`<name>.txt`):
 *
 *   image_name, scenario_name, is_executing_exploit, warmup_time, recording_time, exploit_start_time
 *   victim_bruteforce:latest, ripe_faraday_5596, True, 10, 35, 24
 *
 * with times in whole seconds and the events' times of day only. There the
 * start is placed as the LID-DS framework's loader for that release places
 * it: the recording's first event plus the warmup, less 2 s for the coarse
 * times (exploit_start_time is not used: what it counts from is not
 * documented). An alarm before that is early; from it on, a detection.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SyswardenError } from '../errors.js';
import { readInputFileSync } from '../io/safe-file.js';
import { isZipArchive, readZipMemberSync } from '../io/zip.js';
import { RUNS_TABLE, stem } from './paths.js';
import { zipTrace } from './read-trace.js';

/** Metadata files are a few KiB. */
const MAX_METADATA_BYTES = 1 << 20;

/** The metadata file beside a trace: the same path with `.json` for its extension. */
function metadataPath(tracePath: string): string {
  return join(dirname(tracePath), `${stem(basename(tracePath))}.json`);
}

/**
 * Where a trace's LID-DS metadata is, and its text: in the trace's zip
 * archive (`<name>.json` beside its `<name>.sc`, as LID-DS 2021 ships a
 * recording), else the file beside the trace; undefined when there is none.
 */
function metadataOf(tracePath: string): { where: string; text: string } | undefined {
  if (isZipArchive(tracePath, 'trace')) {
    const { zip, member } = zipTrace(tracePath);
    const name = `${stem(member.name)}.json`;
    const meta = zip.members.find((m) => m.name === name);
    if (meta) return { where: `${tracePath}:${name}`, text: readZipMemberSync(zip, meta, MAX_METADATA_BYTES).toString('utf8') };
  }
  const path = metadataPath(tracePath);
  if (path === tracePath || !existsSync(path)) return undefined;
  // A regular file of bounded size only: a FIFO named like metadata must not hang eval.
  return { where: path, text: readInputFileSync(path, { what: 'trace metadata', maxBytes: MAX_METADATA_BYTES }).toString('utf8') };
}

/** Where the metadata giving a trace's attack start is (see metadataOf), for messages. */
export function metadataWhere(tracePath: string): string {
  return metadataOf(tracePath)?.where ?? metadataPath(tracePath);
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
  const found = metadataOf(tracePath);
  if (!found) return undefined;
  const { where: path, text } = found;
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch {
    try {
      meta = JSON.parse(text.replaceAll("'", '"'));
    } catch {
      throw new SyswardenError('ERR_DATASET', `${path}, the metadata of ${tracePath}, is not JSON. Fix: restore it from the dataset's zip, or move it away to count the whole trace as the attack.`);
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

/** The LID-DS framework's allowance for the 2019 release's coarse times, seconds before the warmup's end. */
const COARSE_SECONDS = 2;

/** What LID-DS 2019's runs.csv says of one recording. */
export interface RecordedRun {
  /** Whether the run executes an exploit. */
  exploit: boolean;
  /** For an exploit run: how long after the recording's first event the exploit is taken to start, in ns (see the top of this file). */
  attackOffsetNs: number | undefined;
}

/** Each directory's runs.csv, read once per evaluation: recording name -> its row (null: no LID-DS table there). */
export type RunsTables = Map<string, Map<string, RecordedRun> | null>;

/**
 * The row of LID-DS 2019's runs.csv beside `tracePath`; undefined when there
 * is no such table or it does not list the recording. `tables` caches each
 * directory's table.
 */
export function recordedRun(tracePath: string, tables: RunsTables = new Map()): RecordedRun | undefined {
  const dir = dirname(tracePath);
  let table = tables.get(dir);
  if (table === undefined) {
    table = readRunsTable(join(dir, RUNS_TABLE));
    tables.set(dir, table);
  }
  return table?.get(stem(basename(tracePath)));
}

/** Tables are a line per recording: a few hundred KiB. */
const MAX_TABLE_BYTES = 64 << 20;

/** null: no table there, or none with LID-DS's columns (some other runs.csv). */
function readRunsTable(path: string): Map<string, RecordedRun> | null {
  if (!existsSync(path)) return null;
  const lines = readInputFileSync(path, { what: 'LID-DS runs table', maxBytes: MAX_TABLE_BYTES }).toString('utf8').split(/\r?\n/);
  const header = lines[0]!.split(',').map((c) => c.trim());
  const col = (name: string) => header.indexOf(name);
  const [name, exploit, warmup] = [col('scenario_name'), col('is_executing_exploit'), col('warmup_time')];
  if (name < 0 || exploit < 0 || warmup < 0) return null;
  const out = new Map<string, RecordedRun>();
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === '') return;
    const cells = line.split(',').map((c) => c.trim());
    if (!/^(true|1|yes)$/i.test(cells[exploit] ?? '')) {
      out.set(cells[name] ?? '', { exploit: false, attackOffsetNs: undefined });
      return;
    }
    const seconds = Number(cells[warmup]);
    if (cells[warmup] === '' || !Number.isFinite(seconds) || seconds < 0 || seconds > 1e6) {
      throw new SyswardenError(
        'ERR_DATASET',
        `${path}:${i + 2}: warmup_time '${(cells[warmup] ?? '').slice(0, 20)}' is no number of seconds, so the exploit of ${cells[name] ?? 'that recording'} cannot be placed. Fix: correct the table, or move it away to count each attack recording whole as the attack.`,
      );
    }
    out.set(cells[name] ?? '', { exploit: true, attackOffsetNs: Math.max(0, seconds - COARSE_SECONDS) * 1e9 });
  });
  return out;
}
