/**
 * Reading a scenario dataset (what `scenario run` writes): one directory per
 * scenario, each run a recording and a label. Labels are checked field by
 * field; a recording is read into per-thread streams with the time of every
 * call, relative to the run's start, so alarms can be placed before or
 * after the attack.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { eachRecordingBatch } from '../capture/recording.js';
import { SyswardenError } from '../errors.js';
import { readInputFile } from '../io/safe-file.js';
import { ThreadStreams } from '../trace/recording-format.js';
import { GrowableUint16 } from '../trace/growable.js';
import { RUN_LABEL_FORMAT, RUN_LABEL_VERSION, type RunLabel } from './runner.js';

export interface DatasetRun {
  label: RunLabel;
  /** The run's recording (absolute). */
  recording: string;
}

export interface ScenarioRuns {
  scenario: string;
  dir: string;
  runs: DatasetRun[];
}

const NS = /^[0-9]{1,20}$/;

function badLabel(path: string, what: string): SyswardenError {
  return new SyswardenError('ERR_DATASET', `${path} is not a valid run label: ${what}. Fix: rebuild that run (delete the label and its recording, then run 'syswarden scenario run' again with the same options).`);
}

/** Check a parsed label's fields; returns it typed. */
export function checkLabel(v: unknown, path: string): RunLabel {
  if (typeof v !== 'object' || v === null) throw badLabel(path, 'not a JSON object');
  const l = v as Record<string, unknown>;
  if (l.format !== RUN_LABEL_FORMAT) throw badLabel(path, `format is ${JSON.stringify(l.format)}, not "${RUN_LABEL_FORMAT}"`);
  if (l.version !== RUN_LABEL_VERSION) throw badLabel(path, `version ${JSON.stringify(l.version)}; this syswarden reads version ${RUN_LABEL_VERSION}`);
  for (const k of ['scenario', 'run', 'recording', 'image'] as const) if (typeof l[k] !== 'string' || (l[k] as string).length === 0) throw badLabel(path, `${k} must be a non-empty string`);
  if (l.kind !== 'normal' && l.kind !== 'attack') throw badLabel(path, `kind must be "normal" or "attack", got ${JSON.stringify(l.kind)}`);
  if (/[/\\]/.test(l.recording as string) || (l.recording as string).startsWith('.')) throw badLabel(path, 'recording must be a file name in the same directory');
  for (const k of ['startNs', 'endNs'] as const) if (typeof l[k] !== 'string' || !NS.test(l[k] as string)) throw badLabel(path, `${k} must be a decimal string of nanoseconds`);
  if (BigInt(l.endNs as string) <= BigInt(l.startNs as string)) throw badLabel(path, 'endNs is not after startNs');
  if (l.kind === 'attack') {
    const a = l.attack as Record<string, unknown> | null;
    if (typeof a !== 'object' || a === null || typeof a.startNs !== 'string' || typeof a.endNs !== 'string' || !NS.test(a.startNs) || !NS.test(a.endNs)) {
      throw badLabel(path, 'an attack run needs attack.startNs and attack.endNs (decimal nanoseconds)');
    }
    const s = BigInt(a.startNs);
    const e = BigInt(a.endNs);
    if (s < BigInt(l.startNs as string) || e < s || e > BigInt(l.endNs as string)) throw badLabel(path, 'the attack does not lie within the run');
    if (typeof l.attackKind !== 'string') throw badLabel(path, 'an attack run needs attackKind');
  } else if (l.attack !== null) throw badLabel(path, 'a normal run has attack: null');
  return v as RunLabel;
}

/** Every scenario directory of a dataset with its runs (label order). Refuses a directory that holds none. */
export async function readDataset(dir: string): Promise<ScenarioRuns[]> {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (e) {
    throw new SyswardenError('ERR_DATASET', `cannot read the dataset directory ${dir} (${(e as NodeJS.ErrnoException).code ?? e}). Fix: give the --out directory of 'syswarden scenario run'.`);
  }
  const out: ScenarioRuns[] = [];
  for (const name of entries) {
    const sdir = join(dir, name);
    if (!statSync(sdir).isDirectory() || !existsSync(join(sdir, 'scenario.json'))) continue;
    const runs: DatasetRun[] = [];
    for (const f of readdirSync(sdir).sort()) {
      if (!/^run-[0-9]+\.json$/.test(f)) continue;
      const path = join(sdir, f);
      const text = (await readInputFile(path, { what: 'run label', maxBytes: 16 << 20 })).toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw badLabel(path, 'not JSON');
      }
      const label = checkLabel(parsed, path);
      const recording = join(sdir, label.recording);
      if (!existsSync(recording)) throw new SyswardenError('ERR_DATASET', `${path} names the recording ${label.recording}, which is missing. Fix: rebuild that run (delete ${f}, run 'syswarden scenario run' again).`);
      runs.push({ label, recording });
    }
    if (runs.length > 0) out.push({ scenario: name, dir: sdir, runs });
  }
  if (out.length === 0) throw new SyswardenError('ERR_DATASET', `${dir} holds no scenario runs (no <scenario>/run-NNN.json). Fix: build one with 'syswarden scenario run <name> --out ${dir}'.`);
  return out;
}

/** A thread's calls and the time of each, ns after the run's start. */
export interface TimedThread {
  /** The kernel's thread id (a reused tid after an exit is a new stream). */
  tid: number;
  calls: Uint16Array;
  times: Float64Array;
}

/** Read a run's recording into per-thread streams with call times (ns after label.startNs). */
export async function loadRun(run: DatasetRun): Promise<TimedThread[]> {
  const start = Number(BigInt(run.label.startNs));
  const streams = new ThreadStreams();
  const calls: GrowableUint16[] = [];
  const times: number[][] = [];
  const tids: number[] = [];
  const end = await eachRecordingBatch(run.recording, (b) => {
    for (let i = 0; i < b.count; i++) {
      const tid = b.tid(i);
      const nr = b.nr(i);
      const id = streams.of(tid, (n) => {
        calls[n] = new GrowableUint16(64);
        times[n] = [];
        tids[n] = tid;
      });
      calls[id]!.push(nr);
      times[id]!.push(b.tsNs(i) - start);
      streams.ended(tid, nr);
    }
  });
  if (end.truncated) throw new SyswardenError('ERR_DATASET', `${run.recording}: ${end.truncated}. Fix: rebuild that run.`);
  return calls.map((c, i) => ({ tid: tids[i]!, calls: c.toArray(), times: Float64Array.from(times[i]!) }));
}
