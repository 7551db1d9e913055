import type { Collector } from '../capture/collector.js';
import type { EventBatch } from '../capture/record.js';
import type { ProcEvent } from '../capture/proc-event.js';
import { eachRecordingBatch, isRecording } from '../capture/recording.js';
import { ProgramStarts } from '../capture/runtime.js';
import { SyswardenError } from '../errors.js';
import { checkOutputPath } from '../io/safe-file.js';
import { setLongTimeout } from '../long-timer.js';
import { truncatedWarning } from '../trace/recording-format.js';
import { openTrace, type ReadTraceOptions } from '../trace/read-trace.js';
import { GrowableInt32, GrowableUint16 } from '../trace/growable.js';
import { syscallNumber } from '../trace/syscalls.js';
import { makeFilter, type FilterName } from '../window/filter.js';
import { IncrementalWindower } from '../window/incremental.js';
import type { WindowSet } from '../window/window-set.js';
import { selectWindows } from '../window/windows.js';
import type { Detector } from './detector.js';
import { MAX_MODEL_PROFILES, encodeModel, saveModel, type FittedProfile, type ModelExtras } from './model-file.js';
import { DEFAULT_DETECTOR, getDetector } from './registry.js';
import { DEFAULT_BUDGET, calibrate, segmentParts, type BudgetUnit, type Calibration } from './calibration.js';
import { DEFAULT_FRAME } from './decision.js';
import type { HeldOut } from './held-out.js';
import { WindowTable } from './window-table.js';
import { shortThreads, windowsPerSource, type ShortThreads } from './short-threads.js';

export interface TrainOptions {
  /** Detector name (default DEFAULT_DETECTOR). */
  detector?: string;
  /**
   * False-alarm budget: alarms per container-hour for live training, the
   * share of normal traces that may alarm when training from files (default
   * DEFAULT_BUDGET of that unit).
   */
  falseAlarms?: number;
  /** Windows per decision frame (default DEFAULT_FRAME). */
  frame?: number;
  /**
   * Also learn a profile per executable (Forrest's "sense of self" is per
   * program): windows of a thread running an executable with a profile are
   * scored by it. Needs process events (live capture, or recordings).
   */
  perExe?: boolean;
  /** Seed for the calibration folds and randomised detectors (default 1). */
  seed?: number;
  /** Window size (default 6). */
  window?: number;
  /** Syscall filter applied before windowing (default 'none'). */
  filter?: FilterName;
  /** Options passed to the detector's factory. */
  detectorOptions?: Record<string, unknown>;
  /** Save the trained model here (written atomically). */
  model?: string;
  /** Replace an existing model file at `model` (otherwise that is refused, before any learning). */
  force?: boolean;
}

export interface LiveTrainOptions extends TrainOptions {
  collector: Collector;
  durationMs: number;
  signal?: AbortSignal;
  /** Called about once a second while learning. */
  onProgress?: (p: LearningPoint) => void;
}

export interface FileTrainOptions extends TrainOptions {
  /** Recordings or trace files (any format `openTrace` reads). */
  from: readonly string[];
  /** How trace files are read (ABI, format); recordings carry their own numbering. */
  read?: ReadTraceOptions;
}

/** One point of the learning curve: windows seen and distinct windows so far. */
export interface LearningPoint {
  seconds: number;
  windows: number;
  distinct: number;
}

export interface TrainResult {
  detector: Detector;
  calibration: Calibration;
  /** The calibration parts' normal windows the model keeps, for `model merge` to set a threshold again. */
  heldOut: HeldOut;
  windows: number;
  distinct: number;
  threads: number;
  curve: LearningPoint[];
  /** Whether the normal database stopped growing (see `convergence`). */
  converged: boolean;
  convergence: string;
  /** Executables exec'd while learning, which the model keeps (undefined: no process events, no drift records). */
  executables?: number;
  /** Per executable (train --per-exe): the profiles fitted, and the executables that had windows but got none (why). */
  profiles?: FittedProfile[];
  skippedProfiles?: Array<{ exe: string; windows: number; reason: string }>;
  /** What reading the training files found that lost no line but is worth telling (a recording cut short: learnt up to its last whole batch). */
  warnings?: string[];
  /** Threads too short to ever alarm at this window, when they hold a notable share of the calls learnt. */
  shortThreads?: ShortThreads;
}

/**
 * Fewest training windows an executable needs for a profile of its own
 * (per executable): fewer say too little about it, and its threshold would
 * rest on a handful of held-out peaks; it is scored by the container-wide
 * profile instead.
 */
export const MIN_PROFILE_WINDOWS = 1000;

const NO_EVENTS: readonly ProcEvent[] = [];
const EXIT = syscallNumber('exit')!;
const EXIT_GROUP = syscallNumber('exit_group')!;

/**
 * Collects normal windows from live batches or trace files, tracks how many
 * distinct windows the normal database holds over time (Flora & Antunes'
 * learning curve) and fits the detector at the end.
 */
export class NormalLearner {
  readonly window: number;
  private readonly windower: IncrementalWindower;
  private readonly data = new GrowableUint16(1 << 16);
  private readonly source = new GrowableInt32(1 << 12);
  /** The held-out part of each window: a file, or a stretch of live training time. */
  private readonly part = new GrowableInt32(1 << 12);
  /** The part windows collected from now on belong to. */
  currentPart = 0;
  private parts = 0;
  private readonly table = new WindowTable(1 << 12);
  private readonly threads = new Set<number>();
  private nextStream = 0;
  private readonly streamOf = new Map<number, number>();
  readonly curve: LearningPoint[] = [];
  /**
   * Windows and distinct windows after each batch learnt, thinned to at most
   * GROWTH_POINTS (every other one dropped when full): how the database grew
   * within a file or a second, which the curve's one point per file or per
   * second cannot tell.
   */
  private readonly growth: Array<{ windows: number; distinct: number }> = [];
  /** Live capture (time stretches held out, budget per container-hour), not files. */
  live = false;
  /**
   * Executables exec'd in the normal data, when its process events are
   * known (live capture with them, recordings): what 'new-executable'
   * records are judged against. Undefined: not known.
   */
  executables: Set<string> | undefined;
  /** Learn a profile per executable too (train --per-exe): needs process events. */
  perExe = false;
  /** Learn from the records of this target only (one container of a shared collector); undefined: every record. */
  onlyTarget: number | undefined;
  private readonly exeOfTid = new Map<number, string>();
  /** The runtime's own re-exec before a container's first program is not an executable of the container (see ProgramStarts). */
  private programStarts = new ProgramStarts();
  /** The executable of each stream (per executable; '' when unknown). */
  private readonly streamExe = new Map<number, string>();

  constructor(window: number, filter: FilterName) {
    this.window = window;
    this.windower = new IncrementalWindower(window, { filter: makeFilter(filter) });
  }

  get windows(): number {
    return this.source.length;
  }

  get distinct(): number {
    return this.table.size;
  }

  /**
   * A batch of kernel records (live, or from a recording): each thread is a
   * stream until it exits (a reused tid starts a new one). Per executable,
   * an exec also starts a new stream (windows never span two programs) and
   * each stream is labelled with the executable its thread runs.
   */
  addBatch(batch: EventBatch): void {
    const only = this.onlyTarget;
    if (this.executables) this.programStarts.addPrograms(batch.proc, this.executables, only);
    const proc = this.perExe ? batch.proc : NO_EVENTS;
    let x = 0;
    // Consecutive events mostly come from one thread: look its stream up once per run.
    let lastTid = -1;
    let s = 0;
    // One step past the last record: process events at the batch's end are taken there.
    for (let i = 0; i <= batch.count; i++) {
      while (x < proc.length && (proc[x]!.at <= i || i === batch.count)) {
        this.applyProcess(proc[x++]!);
        lastTid = -1;
      }
      if (i === batch.count) break;
      if (only !== undefined && batch.targetId(i) !== only) continue;
      const tid = batch.tid(i);
      if (tid !== lastTid) {
        let found = this.streamOf.get(tid);
        if (found === undefined) {
          found = this.nextStream++;
          this.streamOf.set(tid, found);
          if (this.perExe) this.streamExe.set(found, this.exeOfTid.get(tid) ?? '');
        }
        s = found;
        lastTid = tid;
      }
      const nr = batch.nr(i);
      this.windower.push(s, nr);
      if (nr === EXIT || nr === EXIT_GROUP) this.endStream(tid);
    }
    this.collect();
  }

  /** Every thread's stream ends (the end of a file): the next file's targets are other containers. */
  endStreams(): void {
    for (const tid of [...this.streamOf.keys()]) this.endStream(tid);
    this.exeOfTid.clear();
    this.programStarts = new ProgramStarts();
  }

  private endStream(tid: number): void {
    const s = this.streamOf.get(tid);
    if (s === undefined) return;
    this.windower.forget(s);
    this.streamOf.delete(tid);
  }

  /** Which program each thread runs (per executable): an exec changes it and starts the thread's next stream. */
  private applyProcess(e: ProcEvent): void {
    if (e.kind === 'exec') {
      this.endStream(e.tid);
      this.exeOfTid.set(e.tid, e.exe);
    } else if (e.kind === 'fork') {
      const exe = this.exeOfTid.get(e.tid);
      if (exe !== undefined) this.exeOfTid.set(e.childTid, exe);
    } else if (e.kind === 'exit') {
      this.exeOfTid.delete(e.tid);
    }
  }

  /** Events of a trace file, whose stream ids are already per thread. */
  addStreams(threads: Int32Array, calls: Uint16Array, count: number, offset: number, ended: readonly number[]): void {
    for (let i = 0; i < count; i++) this.windower.push(offset + threads[i]!, calls[i]!);
    for (const t of ended) this.windower.forget(offset + t);
    this.collect();
  }

  /** A stream-id offset for the next file, so streams of two files never meet. */
  reserveStreams(n: number): number {
    const base = this.nextStream;
    this.nextStream += n;
    return base;
  }

  mark(seconds: number): LearningPoint {
    const p = { seconds, windows: this.windows, distinct: this.distinct };
    this.curve.push(p);
    return p;
  }

  private collect(): void {
    const w = this.windower.take();
    if (w.count === 0) return;
    const size = this.window;
    for (let i = 0; i < w.count; i++) {
      this.table.insert(w.data, i * size, size);
      this.threads.add(w.source![i]!);
    }
    this.data.append(w.data);
    for (let i = 0; i < w.count; i++) {
      this.source.push(w.source![i]!);
      this.part.push(this.currentPart);
    }
    this.parts = Math.max(this.parts, this.currentPart + 1);
    const g = this.growth;
    g.push({ windows: this.windows, distinct: this.distinct });
    if (g.length > GROWTH_POINTS) {
      // Keep the even ones and the newest.
      let k = 0;
      for (let i = 0; i < g.length; i += 2) g[k++] = g[i]!;
      if (g[k - 1] !== g[g.length - 1]) g[k++] = g[g.length - 1]!;
      g.length = k;
    }
  }

  /** Executables (per executable) with at least MIN_PROFILE_WINDOWS windows, and their windows' indices, most windows first. */
  private profileCandidates(normal: WindowSet): Array<{ exe: string; indices: number[] }> {
    const byExe = new Map<string, number[]>();
    const src = normal.source!;
    for (let i = 0; i < normal.count; i++) {
      const exe = this.streamExe.get(src[i]!) ?? '';
      if (exe === '') continue;
      let list = byExe.get(exe);
      if (!list) byExe.set(exe, (list = []));
      list.push(i);
    }
    return [...byExe]
      .filter(([, idx]) => idx.length >= MIN_PROFILE_WINDOWS)
      .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
      .slice(0, MAX_MODEL_PROFILES)
      .map(([exe, indices]) => ({ exe, indices }));
  }

  windowSet(): WindowSet {
    return { size: this.window, count: this.source.length, data: this.data.view(), source: this.source.view() };
  }

  /**
   * Fit a fresh detector on everything learnt and calibrate its threshold
   * (see calibrate()): live, the parts held out are stretches of time and the
   * budget counts alarms per container-hour; from files, each file is a part
   * (a single file is cut into ten segments in stream order) and the budget
   * is the share of normal traces that may alarm.
   */
  fit(options: TrainOptions, partSeconds = 0, totalSeconds = 0): TrainResult {
    if (this.windows === 0) {
      throw new SyswardenError(
        'ERR_NO_DATA',
        `no complete window of ${this.window} syscalls was seen, so there is nothing to learn. Fix: train for longer, or check that the target is busy.`,
      );
    }
    const factory = getDetector(options.detector ?? DEFAULT_DETECTOR);
    const unit: BudgetUnit = this.live ? 'hour' : 'trace';
    let partOf = this.part.view();
    let part: Calibration['part'] = this.live ? 'time' : 'trace';
    let partHours = partSeconds / 3600;
    if (this.parts < 2) {
      // One file, or a target busy for less than one stretch of time: ten segments of the windows in order.
      const n = this.windows;
      partOf = segmentParts(n);
      part = 'segment';
      partHours = totalSeconds / 10 / 3600;
    }
    const seed = options.seed ?? 1;
    const budget = options.falseAlarms ?? DEFAULT_BUDGET[unit];
    const normal = this.windowSet();
    // Per executable: the executables with enough windows get a profile each, and share the budget with the container-wide one.
    const candidates = this.perExe ? this.profileCandidates(normal) : [];
    const share = budget / (candidates.length + 1);
    const fitOn = (set: WindowSet, parts: Int32Array) =>
      calibrate({ factory, options: { ...(options.detectorOptions ?? {}), seed }, normal: set, partOf: parts, part, partHours, budget: share, unit, frame: options.frame ?? DEFAULT_FRAME, seed });
    const { detector, calibration, heldOut } = fitOn(normal, partOf);
    const profiles: FittedProfile[] = [];
    const skipped: Array<{ exe: string; windows: number; reason: string }> = [];
    for (const c of candidates) {
      try {
        const fitted = fitOn(selectWindows(normal, c.indices), Int32Array.from(c.indices, (i) => partOf[i]!));
        profiles.push({ exe: c.exe, detector: fitted.detector, calibration: fitted.calibration, windows: c.indices.length });
      } catch (e) {
        if (!(e instanceof SyswardenError)) throw e;
        skipped.push({ exe: c.exe, windows: c.indices.length, reason: e.message });
      }
    }
    const { converged, convergence } = judgeGrowth(this.growth);
    const short = shortThreads(windowsPerSource(this.source.view()), this.window, options.frame ?? DEFAULT_FRAME);
    const result: TrainResult = { detector, calibration, heldOut: heldOut(), windows: this.windows, distinct: this.distinct, threads: this.threads.size, curve: this.curve, converged, convergence };
    if (short) result.shortThreads = short;
    if (this.executables) result.executables = this.executables.size;
    if (this.perExe) {
      result.profiles = profiles;
      result.skippedProfiles = skipped;
    }
    return result;
  }
}

/** Points judgeGrowth has to find where the last quarter of the windows began. */
const GROWTH_POINTS = 512;

/**
 * The normal database has stopped growing when the last quarter of the
 * windows learnt added under 1 % of its distinct windows (at the batch
 * nearest before the quarter began: a few more windows than a quarter).
 */
function judgeGrowth(growth: ReadonlyArray<{ windows: number; distinct: number }>): { converged: boolean; convergence: string } {
  const end = growth[growth.length - 1];
  if (!end || growth.length < 2) {
    return { converged: false, convergence: 'too little to judge: all windows came in one batch; train longer for fewer false alarms' };
  }
  const cut = end.windows * 0.75;
  let atCut = { windows: 0, distinct: 0 };
  for (const p of growth) if (p.windows <= cut) atCut = p;
  const distinct = end.distinct;
  const added = distinct - atCut.distinct;
  const converged = added <= Math.max(1, 0.01 * distinct);
  const convergence = converged
    ? `stopped growing: the last quarter of the windows added ${added} of ${distinct} distinct windows`
    : `still growing: the last quarter of the windows added ${added} of ${distinct} distinct windows; train longer for fewer false alarms`;
  return { converged, convergence };
}

/** What a model file records of its learning, beside the detector and calibration. */
function modelExtras(learner: NormalLearner, options: TrainOptions, meta: Record<string, unknown>, result: TrainResult): ModelExtras {
  return {
    filter: options.filter ?? 'none',
    meta: { ...meta, windows: result.windows, distinct: result.distinct, threads: result.threads, converged: result.converged },
    heldOut: result.heldOut,
    ...(learner.executables ? { executables: learner.executables } : {}),
    ...(result.profiles ? { profiles: result.profiles } : {}),
  };
}

async function finish(learner: NormalLearner, options: TrainOptions, meta: Record<string, unknown>, partSeconds = 0, totalSeconds = 0): Promise<TrainResult> {
  // A threshold no window can reach is refused by calibrate(): a model that never alarms is never saved.
  const result = learner.fit(options, partSeconds, totalSeconds);
  if (options.model) await saveModel(options.model, result.detector, result.calibration, { force: options.force === true, ...modelExtras(learner, options, meta, result) });
  return result;
}

function withWarnings(result: TrainResult, warnings: string[]): TrainResult {
  if (warnings.length > 0) result.warnings = warnings;
  return result;
}

/** Refuse an unusable model path before learning, not after. */
function checkModelPath(options: TrainOptions): void {
  if (options.model !== undefined) checkOutputPath(options.model, { what: 'model', force: options.force === true });
}

/**
 * Stretches of live training time held out for calibration. Twenty, not ten:
 * the tail the threshold is extrapolated from is then fitted to ten excesses
 * instead of five. Measured on a 600 s recording of the cgroup demo's web
 * application (models learnt from 14 successive 40 s stretches): the
 * thresholds spread 4.8-fold instead of 11-fold and the lowest doubled,
 * with no alarm on later normal traffic either way.
 */
export const LIVE_PARTS = 20;

/** Learn a target's normal behaviour live from a collector for `durationMs`. */
export async function trainLive(options: LiveTrainOptions): Promise<TrainResult> {
  checkModelPath(options);
  // Process events come with tp_btf capture: then the model learns which executables are normal.
  const live = new LiveLearning({ ...options, processEvents: options.collector.stats().proc?.available === true });
  const onBatch = (b: EventBatch) => live.add(b);
  options.collector.on('batch', onBatch);
  try {
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => options.onProgress?.(live.mark()), 1000);
      const done = () => {
        clearInterval(tick);
        timer.clear();
        resolve();
      };
      // Chained: a plain setTimeout of more than 24.8 days fires after 1 ms.
      const timer = setLongTimeout(done, options.durationMs);
      if (options.signal?.aborted) done();
      options.signal?.addEventListener('abort', done, { once: true });
    });
  } finally {
    options.collector.off('batch', onBatch);
  }
  live.mark();
  const { learner, partSeconds, seconds } = live;
  return finish(learner, options, { source: 'live', targets: options.collector.targets().map((t) => t.spec), seconds, ...(options.perExe ? { perExe: true } : {}) }, partSeconds, seconds);
}

/**
 * Live learning over a stretch of time, fed batches by its owner: the
 * stretches held out for calibration are LIVE_PARTS parts of `durationMs`.
 * With `onlyTarget`, only that target's records are learnt (one container
 * of a collector that watches many: auto-watch).
 */
export class LiveLearning {
  readonly learner: NormalLearner;
  readonly started = Date.now();
  private readonly partMs: number;

  constructor(readonly options: TrainOptions & { durationMs: number; processEvents: boolean; onlyTarget?: number }) {
    const learner = new NormalLearner(options.window ?? 6, options.filter ?? 'none');
    learner.live = true;
    learner.onlyTarget = options.onlyTarget;
    if (options.processEvents) learner.executables = new Set();
    if (options.perExe) {
      if (!learner.executables) throw new SyswardenError('ERR_INVALID_INPUT', '--per-exe needs process events, which this capture does not have (the tracepoint fallback). Fix: train without --per-exe, or on a kernel with BTF tracepoints.');
      learner.perExe = true;
    }
    this.learner = learner;
    // About LIVE_PARTS stretches of time to hold out, of at least a second each.
    this.partMs = Math.max(1000, options.durationMs / LIVE_PARTS);
  }

  get seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  get partSeconds(): number {
    return this.partMs / 1000;
  }

  add(b: EventBatch): void {
    this.learner.currentPart = Math.floor((Date.now() - this.started) / this.partMs);
    this.learner.addBatch(b);
  }

  /** A point of the learning curve (call about once a second). */
  mark(): LearningPoint {
    return this.learner.mark(this.seconds);
  }

  /**
   * Fit and calibrate what was learnt, as the bytes of a model file (throws
   * a SyswardenError when nothing or too little was seen to calibrate).
   */
  fitModel(meta: Record<string, unknown>): { result: TrainResult; bytes: Buffer } {
    this.mark();
    const seconds = this.seconds;
    const result = this.learner.fit(this.options, this.partSeconds, seconds);
    const bytes = encodeModel(result.detector, result.calibration, modelExtras(this.learner, this.options, { source: 'live', seconds, ...meta }, result));
    return { result, bytes };
  }
}

/** Learn normal behaviour from recordings or trace files. */
export async function trainFromFiles(options: FileTrainOptions): Promise<TrainResult> {
  if (options.from.length === 0) throw new SyswardenError('ERR_INVALID_INPUT', 'no training files given. Fix: pass --from <files>.');
  checkModelPath(options);
  const learner = new NormalLearner(options.window ?? 6, options.filter ?? 'none');
  if (options.perExe) return trainPerExeFromRecordings(learner, options);
  let t = 0;
  const warnings: string[] = [];
  for (const path of options.from) {
    const src = await openTrace(path, options.read ?? {});
    const base = learner.reserveStreams(1 << 20);
    learner.currentPart = t;
    for await (const b of src) learner.addStreams(b.threads, b.calls, b.count, base, b.ended);
    warnings.push(...(src.issues.warnings ?? []));
    learner.mark(++t);
  }
  // Recordings carry the kernel's process events: from them alone, the model learns which executables are normal.
  // A recording made with BTF tracepoints carried process events even if none happened (a server that
  // never exec'd while recorded): its model learnt that no executable is normal, and any exec is drift.
  if (options.from.every(isRecording)) {
    const seen = new Set<string>();
    let events = 0;
    let withProcessEvents = 0;
    for (const path of options.from) {
      const starts = new ProgramStarts();
      const end = await eachRecordingBatch(path, (b) => {
        events += b.proc.length;
        starts.addPrograms(b.proc, seen);
      });
      if (end.trailer?.stats.attach === 'tp_btf') withProcessEvents++;
    }
    if (events > 0 || withProcessEvents === options.from.length) learner.executables = seen;
  }
  return withWarnings(await finish(learner, options, { source: 'files', files: options.from }), warnings);
}

/** Per executable, from recordings: their batches and process events, as live training takes them; each file a part. */
async function trainPerExeFromRecordings(learner: NormalLearner, options: FileTrainOptions): Promise<TrainResult> {
  const notRecording = options.from.find((p) => !isRecording(p));
  if (notRecording !== undefined) {
    throw new SyswardenError('ERR_INVALID_INPUT', `--per-exe needs the kernel's process events, which ${notRecording} does not hold (not a syswarden recording). Fix: train from recordings ('syswarden record'), or live, or without --per-exe.`);
  }
  learner.perExe = true;
  learner.executables = new Set();
  let t = 0;
  const warnings: string[] = [];
  for (const path of options.from) {
    learner.currentPart = t;
    const end = await eachRecordingBatch(path, (b) => learner.addBatch(b));
    if (end.truncated) warnings.push(truncatedWarning(path, end.truncated));
    // Thread ids of two files are not the same threads.
    learner.endStreams();
    learner.mark(++t);
  }
  return withWarnings(await finish(learner, options, { source: 'files', files: options.from, perExe: true }), warnings);
}

/** Learn normal behaviour live (`collector` + `durationMs`) or from files (`from`). */
export function train(options: LiveTrainOptions | FileTrainOptions): Promise<TrainResult> {
  return 'from' in options ? trainFromFiles(options) : trainLive(options);
}
