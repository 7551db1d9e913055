// Scoring worker: per-thread sliding windows over the threads it owns, a
// detector restored from the model file, and incident grouping.
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { NR_U16 as NR, SLOT_U16 as SLOT, TID_U32 as TID, TS_LO_U32 as TS, U16_PER_RECORD as U16, U32_PER_RECORD as U32 } from '../capture/record.js';
import { FrameDecision } from '../detect/decision.js';
import { modelFromBytes } from '../detect/model-file.js';
import { syscallName, syscallNumber } from '../trace/syscalls.js';
import { IncrementalWindower } from '../window/incremental.js';
import type { WindowSet } from '../window/window-set.js';
import { selectWindows } from '../window/windows.js';
import { makeFilter } from '../window/filter.js';
import { ownerOf, progressViews, toWorkerProblem, type FromWorker, type ToWorker, type WorkerAlert, type WorkerInit } from './protocol.js';

const init = workerData as WorkerInit;
const port = parentPort!;

// pid 0 is this thread alone on Linux. Without the privilege, stay as is.
if (init.nice !== null) {
  try {
    setPriority(0, init.nice);
  } catch {
    /* not root: keep the inherited priority */
  }
}

function post(m: FromWorker): void {
  port.postMessage(m);
}

const progress = progressViews(init.progress);
const totals = { events: 0, windows: 0, alarms: 0 };
/** Batch or flush `seq` is done: its alerts (if any) to the main thread, then the totals and the sequence number in shared memory. */
function finished(seq: number, live: boolean, alerts: WorkerAlert[]): void {
  if (alerts.length > 0) post({ type: 'ack', seq, index: init.index, live, alerts });
  progress.totals[0] = totals.events;
  progress.totals[1] = totals.windows;
  progress.totals[2] = totals.alarms;
  progress.totals[3] = windower.liveThreads;
  Atomics.store(progress.seq, 0, seq | 0);
}

const { detector, file, profiles } = modelFromBytes(init.model, init.modelName);
// Window scores, then each thread's frame mean: the one decision eval and replay make too.
const decision = new FrameDecision(file.calibration.frame, file.calibration.trim);
const threshold = file.threshold;
// Per-executable models: profile p scores with detectors[p + 1] against thresholds[p + 1]; -1 is the model's own.
const detectors = [detector, ...profiles.map((p) => p.detector)];
const thresholds = [threshold, ...profiles.map((p) => p.calibration.threshold)];
/** The profile each owned thread runs under (absent: the container-wide one). */
const profileOfTid = new Map<number, number>();
let scores = new Float64Array(1024);
const size = file.windowSize;
const windower = new IncrementalWindower(size, { filter: makeFilter(file.filter) });

const EXIT = syscallNumber('exit')!;
const EXIT_GROUP = syscallNumber('exit_group')!;

interface Incident {
  key: number;
  count: number;
  quiet: number;
  first: WorkerAlert;
}
const incidents = new Map<number, Incident>();
let nextIncident = 0;
let lastSweepNs = 0;

function endIncident(tid: number, out: WorkerAlert[]): void {
  const inc = incidents.get(tid);
  if (!inc) return;
  incidents.delete(tid);
  out.push({ ...inc.first, type: 'incident-end', count: inc.count });
}

function forgetThread(tid: number, out: WorkerAlert[]): void {
  endIncident(tid, out);
  windower.forget(tid);
  decision.forget(tid);
  profileOfTid.delete(tid);
}

/**
 * Per-executable models: the profile of each window of this batch (-1: the
 * container-wide one), from the profile its thread ran under when the call
 * completing it was made. `before`: a thread's profile before its first
 * change in the batch; `changes`: [position, profile] of each change.
 */
function windowProfiles(count: number, source: Int32Array, tags: ArrayLike<number>, before: Map<number, number>, changes: Map<number, number[]>): Int32Array {
  const out = new Int32Array(count);
  for (let w = 0; w < count; w++) {
    const tid = source[w]!;
    const list = changes.get(tid);
    if (!list) {
      out[w] = profileOfTid.get(tid) ?? -1;
      continue;
    }
    let p = before.get(tid)!;
    for (let k = 0; k < list.length && list[k]! <= tags[w]!; k += 2) p = list[k + 1]!;
    out[w] = p;
  }
  return out;
}

/** Scores of windows whose profiles differ: each group by its own detector. */
function scoreByProfile(windows: WindowSet, of: Int32Array, out: Float64Array): void {
  const groups = new Map<number, number[]>();
  for (let w = 0; w < windows.count; w++) {
    let g = groups.get(of[w]!);
    if (!g) groups.set(of[w]!, (g = []));
    g.push(w);
  }
  for (const [p, idx] of groups) {
    const part = selectWindows(windows, idx);
    const scored = detectors[p + 1]!.score(part);
    for (let k = 0; k < idx.length; k++) out[idx[k]!] = scored[k]!;
  }
}

function onBatch(seq: number, buffer: SharedArrayBuffer, count: number, live: boolean, exits?: number[], changes?: number[]): void {
  const u32 = new Uint32Array(buffer, 0, count * U32);
  const u16 = new Uint16Array(buffer, 0, count * U16);
  const me = init.index;
  const n = init.workers;
  let owned = 0;
  let exited: number[] | undefined;
  // The idle clock is this batch's last kernel time, set before its calls are pushed: a thread
  // seen in the first batch must not look idle since time 0 at that batch's sweep.
  const maxTs = count > 0 ? u32[(count - 1) * U32 + TS + 1]! * 4294967296 + u32[(count - 1) * U32 + TS]! : 0;
  if (maxTs > 0) windower.tick(maxTs);
  let lastTid = -1;
  let mine = false;
  // The kernel's exits, in record order: a thread's history ends where it exited, so a
  // tid reused later in the batch (or after a SIGKILL, which makes no exit call) starts afresh.
  let x = 0;
  const nExits = exits ? exits.length : 0;
  // Per-executable models: profile changes, placed like exits.
  let c = 0;
  const nChanges = changes ? changes.length : 0;
  let before: Map<number, number> | undefined;
  let changed: Map<number, number[]> | undefined;
  // One step past the last record: exits and changes at (or beyond) the batch's end are taken there.
  for (let i = 0; i <= count; i++) {
    while (c < nChanges && (changes![c]! <= i || i === count)) {
      const tid = changes![c + 1]!;
      if (ownerOf(tid, n) === me) {
        // A profile this model does not have (only a broken message could name one) is the container-wide one.
        const p = changes![c + 2]! < profiles.length ? changes![c + 2]! : -1;
        before ??= new Map();
        changed ??= new Map();
        if (!before.has(tid)) before.set(tid, profileOfTid.get(tid) ?? -1);
        let list = changed.get(tid);
        if (!list) changed.set(tid, (list = []));
        list.push(changes![c]!, p);
        // An exec starts another program: its windows and frame start afresh, under its profile.
        if (changes![c + 3] === 1) {
          windower.forget(tid);
          decision.forget(tid);
        }
        if (p >= 0) profileOfTid.set(tid, p);
        else profileOfTid.delete(tid);
      }
      lastTid = -1;
      c += 4;
    }
    while (x < nExits && (exits![x]! <= i || i === count)) {
      const gone = exits![x + 1]!;
      if (ownerOf(gone, n) === me) {
        windower.forget(gone);
        (exited ??= []).push(gone);
      }
      lastTid = -1;
      x += 2;
    }
    if (i === count) break;
    const tid = u32[i * U32 + TID]!;
    if (tid !== lastTid) {
      lastTid = tid;
      mine = ownerOf(tid, n) === me;
    }
    if (!mine) continue;
    owned++;
    const nr = u16[i * U16 + NR]!;
    windower.push(tid, nr, i);
    if (nr === EXIT || nr === EXIT_GROUP) (exited ??= []).push(tid);
  }

  // Views, not copies: this batch's windows are scored before the next push.
  const { windows, tags } = windower.drainTagged();
  if (scores.length < windows.count) scores = new Float64Array(Math.max(windows.count, scores.length * 2));
  const src = windows.source!;
  // Per-executable models: the windows of profiled threads are scored by their profiles.
  let of: Int32Array | undefined;
  if (detectors.length > 1 && windows.count > 0) {
    of = windowProfiles(windows.count, src, tags, before ?? new Map(), changed ?? new Map());
    if (of.every((p) => p === -1)) of = undefined;
  }
  if (of) scoreByProfile(windows, of, scores);
  else detector.score(windows, scores);
  // Exact where a frame may alarm, a cheaper bound below the threshold elsewhere: the same alarms as decide().
  for (let w = 0; w < windows.count; w++) scores[w] = decision.pushAgainst(src[w]!, scores[w]!, of ? thresholds[of[w]! + 1]! : threshold);
  const alerts: WorkerAlert[] = [];
  let alarms = 0;
  const source = windows.source!;
  for (let w = 0; w < windows.count; w++) {
    const score = scores[w]!;
    const limit = of ? thresholds[of[w]! + 1]! : threshold;
    // Most windows are normal and most threads have no open incident: skip the map then.
    if (score < limit && incidents.size === 0) continue;
    const tid = source[w]!;
    const inc = incidents.get(tid);
    if (score >= limit) {
      alarms++;
      if (inc) {
        inc.count++;
        inc.quiet = 0;
        continue;
      }
      const ev = tags[w]!;
      const names: string[] = [];
      for (let k = 0; k < size; k++) names.push(syscallName(windows.data[w * size + k]!));
      const first: WorkerAlert = {
        type: 'alert',
        tid,
        window: names,
        score,
        threshold: limit,
        detector: detector.name,
        model: init.modelName,
        count: 1,
        eventTsNs: u32[ev * U32 + TS + 1]! * 4294967296 + u32[ev * U32 + TS]!,
        slot: u16[ev * U16 + SLOT]!,
        incidentKey: init.index + n * nextIncident++,
      };
      if (of && of[w]! >= 0) first.profile = profiles[of[w]!]!.exe;
      incidents.set(tid, { key: first.incidentKey, count: 1, quiet: 0, first });
      alerts.push(first);
    } else if (inc && ++inc.quiet >= init.quietWindows) {
      endIncident(tid, alerts);
    }
  }
  if (exited) for (const tid of exited) forgetThread(tid, alerts);
  // Threads that stopped calling (killed, or blocked for long) are forgotten
  // on the kernel clock, so hours of short-lived processes cost no memory.
  if (maxTs > 0) {
    if (maxTs - lastSweepNs > init.idleNs / 4) {
      lastSweepNs = maxTs;
      for (const tid of windower.forgetIdle(maxTs - init.idleNs)) forgetThread(tid, alerts);
    }
  }
  totals.events += owned;
  totals.windows += windows.count;
  totals.alarms += alarms;
  finished(seq, live, alerts);
}

port.on('message', (raw: unknown) => {
  // Only the pipeline posts here, but a bad message must cost one report, not the worker and its threads' windows.
  const problem = toWorkerProblem(raw);
  if (problem !== undefined) {
    post({ type: 'fatal', index: init.index, message: `worker ${init.index} ignored a malformed message: ${problem}` });
    return;
  }
  const m = raw as ToWorker;
  try {
    if (m.type === 'batch') onBatch(m.seq, m.buffer, m.count, m.live, m.exits, m.profiles);
    else if (m.type === 'flush') {
      const alerts: WorkerAlert[] = [];
      for (const tid of [...incidents.keys()]) endIncident(tid, alerts);
      finished(m.seq, false, alerts);
    } else if (m.type === 'sync') post({ type: 'synced', seq: m.seq });
  } catch (err) {
    post({ type: 'fatal', index: init.index, message: (err as Error).message });
    throw err;
  }
});

post({ type: 'ready', index: init.index });
