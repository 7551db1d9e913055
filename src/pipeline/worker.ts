// Scoring worker: per-thread sliding windows over the threads it owns, the
// pipeline's models restored from their files (scorer.ts), each target's
// calls scored by its own, and incident grouping.
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { NR_U16 as NR, SLOT_U16 as SLOT, TID_U32 as TID, TS_LO_U32 as TS, U16_PER_RECORD as U16, U32_PER_RECORD as U32 } from '../capture/record.js';
import { syscallName, syscallNumber } from '../trace/syscalls.js';
import type { WindowSet } from '../window/window-set.js';
import { selectWindows } from '../window/windows.js';
import { MARK_EXEC, MARK_EXIT, MARK_FORK, MARK_MIN, MARK_MODEL, MODEL_ASSIGN, MODEL_RELEASE, ROUTE_CAPACITY, ROUTE_HEADER_BYTES, ROUTE_READ, ROUTE_WANT_WAKE, ROUTE_WRITE, routeHeader } from './route-ring.js';
import { loadAddon } from '../capture/addon.js';
import { MAX_PROCESSES } from '../process/table.js';
import { NO_MODEL, ownerOf, PROGRESS_RING_READ, PROGRESS_UNJUDGED, PROGRESS_UNSCORED, progressViews, toWorkerProblem, type FromWorker, type ToWorker, type WorkerAlert, type WorkerInit } from './protocol.js';
import { Scorer } from './scorer.js';

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
/** unjudged: threads whose calls ended before they were enough for an alarm (Scorer.judgeable). */
const totals = { events: 0, windows: 0, alarms: 0, unscored: 0, unjudged: 0 };
/** Batch or flush `seq` is done: its alerts (if any) to the main thread, then the totals and the sequence number in shared memory. */
function finished(seq: number, live: boolean, alerts: WorkerAlert[]): void {
  if (alerts.length > 0) post({ type: 'ack', seq, index: init.index, live, alerts });
  publishTotals();
  Atomics.store(progress.seq, 0, seq | 0);
}

function publishTotals(): void {
  progress.totals[0] = totals.events;
  progress.totals[1] = totals.windows;
  progress.totals[2] = totals.alarms;
  progress.totals[3] = liveThreads();
  progress.totals[PROGRESS_UNSCORED] = totals.unscored;
  progress.totals[PROGRESS_UNJUDGED] = totals.unjudged;
}

// The pipeline's models (model-table.ts), by id, and which one scores each
// target (by target id, the u16 every record carries). A target without a
// model of its own has the default one; with neither, its events are
// counted as unscored. Changes come in data order (MARK_MODEL markers in the
// ring, 'assign' and 'release' messages among pushed batches).
const scorers = new Map<number, Scorer>();
for (const m of init.models) scorers.set(m.id, new Scorer(m));
const defaultScorer: Scorer | null = scorers.get(init.defaultModel) ?? null;
if (defaultScorer) defaultScorer.targets++;
const byTarget: Array<Scorer | null> = new Array<Scorer | null>(1 << 16).fill(defaultScorer);
/** Targets with a model of their own (possibly none: an id this worker never had). */
const assigned = new Set<number>();
/**
 * The scorer each owned thread's windows are in, when it is not the default
 * one: a thread whose target changes model leaves its windows, frame and
 * incident behind, so no window mixes calls scored by two models.
 */
const threadScorer = new Map<number, Scorer | null>();
for (let k = 0; k + 1 < init.assigned.length; k += 2) setTargetModel(init.assigned[k]!, init.assigned[k + 1]!);

/** A target's records from here on are scored by model `id` (NO_MODEL: the default). */
function setTargetModel(target: number, id: number): void {
  const was = byTarget[target]!;
  // An id this worker does not hold (a replacement reading markers older than its table) leaves the target unscored until the next marker.
  const now = id === NO_MODEL ? defaultScorer : (scorers.get(id) ?? null);
  if (id === NO_MODEL) assigned.delete(target);
  else assigned.add(target);
  if (was === now) return;
  if (was) was.targets--;
  if (now) now.targets++;
  byTarget[target] = now;
}

function releaseModel(id: number): void {
  const sc = scorers.get(id);
  if (sc && sc !== defaultScorer) sc.released = true;
}

/**
 * Released models no target names go, with the windows of the threads that
 * were in them; those threads' incidents end at the next pass. Run after a
 * pass has scored what they held.
 */
function collectUnused(): void {
  for (const sc of scorers.values()) {
    if (!sc.released || sc.targets > 0) continue;
    scorers.delete(sc.id);
    for (const [tid, was] of threadScorer) {
      if (was !== sc) continue;
      threadScorer.delete(tid);
      pendingEnds.push(tid);
    }
  }
}
/** Threads whose incidents end at the next scoring pass (their model went away). */
const pendingEnds: number[] = [];

/** The scorer a thread's windows are in (null: none, its events are unscored). */
function scorerOfThread(tid: number): Scorer | null {
  const sc = threadScorer.get(tid);
  return sc === undefined ? defaultScorer : sc;
}

/** Threads whose windows held calls of another model and were dropped in this pass: [tid, scorer left]. */
let leftBehind: Array<[number, Scorer]> | undefined;

/**
 * The scorer of a call of `tid` in `target`: its target's model. A thread
 * that comes to another model than its windows are in leaves them there.
 */
function scorerFor(tid: number, target: number, out: WorkerAlert[]): Scorer | null {
  const want = byTarget[target]!;
  const had = scorerOfThread(tid);
  if (had === want) return want;
  if (had) {
    had.forget(tid);
    (leftBehind ??= []).push([tid, had]);
  }
  endIncident(tid, out);
  if (want === defaultScorer) threadScorer.delete(tid);
  else threadScorer.set(tid, want);
  return want;
}

/** Scratch for window scores, shared by the scorers (each scores its windows before the next). */
let scores = new Float64Array(1024);

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
  if (scorerOfThread(tid)?.forget(tid)) totals.unjudged++;
  threadScorer.delete(tid);
  ownedProfile.delete(tid);
}

/** Threads held over every model. */
function liveThreads(): number {
  let n = 0;
  for (const sc of scorers.values()) n += sc.windower.liveThreads;
  return n;
}

/**
 * Per-executable models: the profile of each window of this batch (-1: the
 * container-wide one), from the executable its thread ran when the call
 * completing it was made, as `sc` profiles it. `before`: a thread's
 * executable index before its first change in the batch; `changes`:
 * [position, executable index] of each change.
 */
function windowProfiles(sc: Scorer, count: number, source: Int32Array, tags: ArrayLike<number>, before: Map<number, number>, changes: Map<number, number[]>): Int32Array {
  const out = new Int32Array(count);
  for (let w = 0; w < count; w++) {
    const tid = source[w]!;
    const list = changes.get(tid);
    let u: number;
    if (!list) {
      u = ownedProfile.get(tid) ?? -1;
    } else {
      u = before.get(tid)!;
      for (let k = 0; k < list.length && list[k]! <= tags[w]!; k += 2) u = list[k + 1]!;
    }
    out[w] = sc.profileOf(u);
  }
  return out;
}

/** Scores of windows whose profiles differ: each group by its own detector. */
function scoreByProfile(sc: Scorer, windows: WindowSet, of: Int32Array, out: Float64Array): void {
  const groups = new Map<number, number[]>();
  for (let w = 0; w < windows.count; w++) {
    let g = groups.get(of[w]!);
    if (!g) groups.set(of[w]!, (g = []));
    g.push(w);
  }
  for (const [p, idx] of groups) {
    const part = selectWindows(windows, idx);
    const scored = sc.memos[p + 1]!.score(part, new Float64Array(part.count));
    for (let k = 0; k < idx.length; k++) out[idx[k]!] = scored[k]!;
  }
}

/**
 * Per-executable models: every thread's executable index (the pipeline's
 * list of profiled executables; -1: none of them), the other workers'
 * threads included (a fork's parent may be one of theirs), from exec and
 * fork markers. Each model maps the index to a profile of its own when it
 * scores. Bounded like the process table: lost exits must not grow it.
 */
const threadProfile = new Map<number, number>();
/** The executable index each owned thread runs (absent: none profiled). */
const ownedProfile = new Map<number, number>();
function setThreadProfile(tid: number, p: number): void {
  if (threadProfile.size >= MAX_PROCESSES && !threadProfile.has(tid)) threadProfile.delete(threadProfile.keys().next().value!);
  threadProfile.set(tid, p);
}

/** What one scoring pass gathers from the markers it meets. */
interface Marks {
  exited: number[] | undefined;
  /** A changed thread's executable index before its first change in the pass, and [position, index] of each change. */
  before: Map<number, number> | undefined;
  changed: Map<number, number[]> | undefined;
}

/**
 * One process event (protocol: ToWorker marks; route-ring.ts markers), met
 * before record `pos`. An exit ends the thread's history; an exec starts
 * another program, whose windows and frame start afresh (for a model
 * trained per executable) under its profile; a new thread runs under its
 * parent's. Returns whether it touched a thread of this worker.
 */
function applyMark(kind: number, tid: number, arg: number, pos: number, m: Marks): boolean {
  const mine = ownerOf(tid, init.workers) === init.index;
  if (kind === MARK_EXIT) {
    threadProfile.delete(tid);
    if (!mine) return false;
    if (scorerOfThread(tid)?.forgetCalls(tid)) totals.unjudged++;
    (m.exited ??= []).push(tid);
    return true;
  }
  if (kind !== MARK_EXEC && kind !== MARK_FORK) return false;
  let p: number;
  if (kind === MARK_EXEC) {
    p = arg >= 0 ? arg : -1;
    setThreadProfile(tid, p);
  } else {
    p = threadProfile.get(arg) ?? -1;
    if (p < 0) return false;
    setThreadProfile(tid, p);
  }
  if (!mine) return false;
  m.before ??= new Map();
  m.changed ??= new Map();
  if (!m.before.has(tid)) m.before.set(tid, ownedProfile.get(tid) ?? -1);
  let list = m.changed.get(tid);
  if (!list) m.changed.set(tid, (list = []));
  list.push(pos, p);
  if (kind === MARK_EXEC) {
    const sc = scorerOfThread(tid);
    if (sc?.perExe && sc.forget(tid)) totals.unjudged++;
  }
  if (p >= 0) ownedProfile.set(tid, p);
  else ownedProfile.delete(tid);
  return true;
}

/** A MARK_MODEL marker, or an 'assign' or 'release' message. */
function applyModelMark(op: number, target: number, id: number): void {
  if (op === MODEL_ASSIGN) setTargetModel(target, id);
  else if (op === MODEL_RELEASE) releaseModel(id);
}

/**
 * Window and score records [from, to) of these views (a pushed batch, or a
 * stretch of the worker's ring), taking the threads this worker owns.
 * Markers come inline (units whose nr is a MARK_* tag) or, for a pushed
 * batch, in `marks` ([position, kind, tid, arg] quads).
 */
function scoreRange(u32: Uint32Array, u16: Uint16Array, from: number, to: number, marks?: number[]): WorkerAlert[] {
  const me = init.index;
  const n = init.workers;
  let owned = 0;
  let unscored = 0;
  const alerts: WorkerAlert[] = [];
  for (const tid of pendingEnds.splice(0)) endIncident(tid, alerts);
  const m: Marks = { exited: undefined, before: undefined, changed: undefined };
  // The idle clock is this batch's last kernel time, set before its calls are pushed: a thread
  // seen in the first batch must not look idle since time 0 at that batch's sweep.
  let last = to - 1;
  while (last >= from && u16[last * U16 + NR]! >= MARK_MIN) last--;
  const maxTs = last >= from ? u32[last * U32 + TS + 1]! * 4294967296 + u32[last * U32 + TS]! : 0;
  if (maxTs > 0) for (const sc of scorers.values()) sc.windower.tick(maxTs);
  // One model for every target (the common case): no per-record lookup of the target's model.
  let multi = assigned.size > 0;
  let lastTid = -1;
  let lastTarget = -1;
  let mine = false;
  let sc: Scorer | null = defaultScorer;
  let x = 0;
  const nMarks = marks ? marks.length : 0;
  // One step past the last record: marks at (or beyond) the batch's end are taken there.
  for (let i = from; i <= to; i++) {
    while (x < nMarks && (marks![x]! <= i || i === to)) {
      applyMark(marks![x + 1]!, marks![x + 2]!, marks![x + 3]!, i, m);
      lastTid = -1;
      x += 4;
    }
    if (i === to) break;
    const tid = u32[i * U32 + TID]!;
    const nr = u16[i * U16 + NR]!;
    if (nr >= MARK_MIN) {
      if (nr === MARK_MODEL) {
        applyModelMark(u32[i * U32 + TS]!, u16[i * U16 + SLOT]!, tid);
        multi = assigned.size > 0;
        sc = defaultScorer;
      }
      // A fork marker carries its parent in the time's low word.
      else applyMark(nr, tid, nr === MARK_FORK ? u32[i * U32 + TS]! : u16[i * U16 + SLOT]! - 1, i, m);
      lastTid = -1;
      continue;
    }
    if (multi) {
      // A thread's target may change between two of its calls (it moved to another container).
      const target = u16[i * U16 + SLOT]!;
      if (tid !== lastTid || target !== lastTarget) {
        lastTid = tid;
        lastTarget = target;
        mine = ownerOf(tid, n) === me;
        if (mine) sc = scorerFor(tid, target, alerts);
      }
    } else if (tid !== lastTid) {
      lastTid = tid;
      mine = ownerOf(tid, n) === me;
    }
    if (!mine) continue;
    if (sc === null) {
      unscored++;
      continue;
    }
    owned++;
    sc.windower.push(tid, nr, i);
    if (nr === EXIT || nr === EXIT_GROUP) (m.exited ??= []).push(tid);
  }

  let windowCount = 0;
  let alarms = 0;
  for (const s of scorers.values()) {
    if (s.windower.pending === 0) continue;
    const r = scoreWindows(s, u32, u16, m, alerts);
    windowCount += r.windows;
    alarms += r.alarms;
  }
  // Windows of threads that left a model were scored by it above: their frames there go too.
  if (leftBehind) {
    for (const [tid, s] of leftBehind) s.decision.forget(tid);
    leftBehind = undefined;
  }
  if (m.exited) for (const tid of m.exited) forgetThread(tid, alerts);
  // Threads that stopped calling (killed, or blocked for long) are forgotten
  // on the kernel clock, so hours of short-lived processes cost no memory.
  if (maxTs > 0) {
    if (maxTs - lastSweepNs > init.idleNs / 4) {
      lastSweepNs = maxTs;
      for (const s of scorers.values()) {
        for (const tid of s.windower.forgetIdle(maxTs - init.idleNs)) {
          s.decision.forget(tid);
          if (scorerOfThread(tid) === s) forgetThread(tid, alerts);
        }
      }
    }
  }
  collectUnused();
  for (const tid of pendingEnds.splice(0)) endIncident(tid, alerts);
  totals.events += owned;
  totals.windows += windowCount;
  totals.alarms += alarms;
  totals.unscored += unscored;
  return alerts;
}

/** Score the windows `sc` completed in this pass, and open, count or end incidents. */
function scoreWindows(sc: Scorer, u32: Uint32Array, u16: Uint16Array, m: Marks, alerts: WorkerAlert[]): { windows: number; alarms: number } {
  const n = init.workers;
  const { decision, threshold, thresholds, size } = sc;
  // Views, not copies: this batch's windows are scored before the next push.
  const { windows, tags } = sc.windower.drainTagged();
  if (scores.length < windows.count) scores = new Float64Array(Math.max(windows.count, scores.length * 2));
  const src = windows.source!;
  // Per-executable models: the windows of profiled threads are scored by their profiles.
  let of: Int32Array | undefined;
  if (sc.detectors.length > 1 && windows.count > 0) {
    of = windowProfiles(sc, windows.count, src, tags, m.before ?? new Map(), m.changed ?? new Map());
    if (of.every((p) => p === -1)) of = undefined;
  }
  if (of) scoreByProfile(sc, windows, of, scores);
  else sc.memos[0]!.score(windows, scores);
  // Exact where a frame may alarm, a cheaper bound below the threshold elsewhere: the same alarms as decide().
  for (let w = 0; w < windows.count; w++) scores[w] = decision.pushAgainst(src[w]!, scores[w]!, of ? thresholds[of[w]! + 1]! : threshold);
  let alarms = 0;
  for (let w = 0; w < windows.count; w++) {
    const score = scores[w]!;
    const limit = of ? thresholds[of[w]! + 1]! : threshold;
    // Most windows are normal and most threads have no open incident: skip the map then.
    if (score < limit && incidents.size === 0) continue;
    const tid = src[w]!;
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
        detector: sc.detectorName,
        model: sc.name,
        count: 1,
        eventTsNs: u32[ev * U32 + TS + 1]! * 4294967296 + u32[ev * U32 + TS]!,
        slot: u16[ev * U16 + SLOT]!,
        incidentKey: init.index + n * nextIncident++,
      };
      if (of && of[w]! >= 0) first.profile = sc.profiles[of[w]!]!.exe;
      incidents.set(tid, { key: first.incidentKey, count: 1, quiet: 0, first });
      alerts.push(first);
    } else if (inc && ++inc.quiet >= init.quietWindows) {
      endIncident(tid, alerts);
    }
  }
  return { windows: windows.count, alarms };
}

function onBatch(seq: number, buffer: SharedArrayBuffer, count: number, live: boolean, marks?: number[]): void {
  const alerts = scoreRange(new Uint32Array(buffer, 0, count * U32), new Uint16Array(buffer, 0, count * U16), 0, count, marks);
  finished(seq, live, alerts);
}

/**
 * Live: the collector writes this worker's records into its ring. Read in
 * stretches of at most RING_STRETCH records (a busy ring must not keep
 * messages, a sync among them, waiting for long); when it is empty, say so
 * in the header and sleep until the collector wakes the thread.
 */
const RING_STRETCH = 1 << 16;
let ring: { sab: SharedArrayBuffer; header: Int32Array; u32: Uint32Array; u16: Uint16Array; cap: number } | undefined;
let readScheduled = false;

function attachRing(sab: SharedArrayBuffer): void {
  if (ring?.sab === sab) return scheduleRead();
  const header = routeHeader(sab);
  const cap = Atomics.load(header, ROUTE_CAPACITY);
  ring = { sab, header, cap, u32: new Uint32Array(sab, ROUTE_HEADER_BYTES, cap * U32), u16: new Uint16Array(sab, ROUTE_HEADER_BYTES, cap * U16) };
  loadAddon().wakeOn(new Uint8Array(sab), scheduleRead);
  scheduleRead();
}

function scheduleRead(): void {
  if (readScheduled) return;
  readScheduled = true;
  setImmediate(() => {
    readScheduled = false;
    try {
      if (readRing(RING_STRETCH * 4)) scheduleRead();
    } catch (err) {
      post({ type: 'fatal', index: init.index, message: (err as Error).message });
      throw err;
    }
  });
}

/**
 * Score what the ring holds, up to `budget` records; true when more is
 * waiting. An empty ring sets the want-wake word, then looks once more: a
 * write between the two is seen now, one after is followed by a wake.
 */
function readRing(budget: number): boolean {
  if (!ring) return false;
  const { header, cap, u32, u16 } = ring;
  for (;;) {
    const read = Atomics.load(header, ROUTE_READ);
    let avail = (Atomics.load(header, ROUTE_WRITE) - read) >>> 0;
    if (avail === 0) {
      Atomics.store(header, ROUTE_WANT_WAKE, 1);
      avail = (Atomics.load(header, ROUTE_WRITE) - read) >>> 0;
      if (avail === 0) break;
      Atomics.store(header, ROUTE_WANT_WAKE, 0);
    }
    if (budget <= 0) break;
    const from = read & (cap - 1);
    const n = Math.min(avail, cap - from, RING_STRETCH, budget);
    const found = scoreRange(u32, u16, from, from + n);
    budget -= n;
    // A stretch is done when its alerts are posted and its totals published,
    // with the read count they reach, and only then read: a worker that dies
    // before leaves the stretch to its replacement, one that dies between
    // the two leaves the pipeline to move the read count on (no record is
    // scored twice or lost).
    if (found.length > 0) post({ type: 'ack', seq: 0, index: init.index, live: true, alerts: found });
    progress.totals[PROGRESS_RING_READ] = (read + n) >>> 0;
    publishTotals();
    Atomics.store(header, ROUTE_READ, (read + n) | 0);
  }
  return budget <= 0 && ((Atomics.load(header, ROUTE_WRITE) - Atomics.load(header, ROUTE_READ)) >>> 0) > 0;
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
    if (m.type === 'batch') onBatch(m.seq, m.buffer, m.count, m.live, m.marks);
    else if (m.type === 'ring') attachRing(m.ring);
    else if (m.type === 'model') {
      if (!scorers.has(m.model.id)) scorers.set(m.model.id, new Scorer(m.model));
      post({ type: 'model-loaded', index: init.index, model: m.model.id });
    } else if (m.type === 'assign') applyModelMark(MODEL_ASSIGN, m.target, m.model);
    else if (m.type === 'release') {
      applyModelMark(MODEL_RELEASE, 0, m.model);
      collectUnused();
    }
    else if (m.type === 'flush') {
      const alerts: WorkerAlert[] = [];
      for (const tid of [...incidents.keys()]) endIncident(tid, alerts);
      finished(m.seq, false, alerts);
    } else if (m.type === 'sync') {
      // Everything the collector wrote before the sync was asked for is scored first.
      while (readRing(Infinity));
      post({ type: 'synced', seq: m.seq });
    }
  } catch (err) {
    post({ type: 'fatal', index: init.index, message: (err as Error).message });
    throw err;
  }
});

post({ type: 'ready', index: init.index });
