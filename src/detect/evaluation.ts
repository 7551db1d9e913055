import { basename, dirname, join } from 'node:path';
import { SyswardenError } from '../errors.js';
import { attackStartNs, metadataWhere, recordedRun, type RunsTables } from '../trace/attack-start.js';
import { RUNS_TABLE } from '../trace/paths.js';
import { readTrace, type ReadTraceOptions } from '../trace/read-trace.js';
import type { ThreatTable } from '../trace/threat-levels.js';
import { filterStream, makeFilter, type FilterName, type SyscallFilter } from '../window/filter.js';
import type { WindowSet } from '../window/window-set.js';
import { concatWindows, selectWindows, sliceWindows, windowStreams, type StreamInput } from '../window/windows.js';
import { Prng } from './lib/prng.js';
import type { DetectorFactory } from './detector.js';
import { addConfusion, confusion, metricsOf, type Confusion } from './metrics.js';
import { calibrate, segmentParts } from './calibration.js';
import { windowsLabelled } from './common.js';
import { decisionScores } from './decision.js';
import { drAtFalseAlarm, operatingPoint, rocOf } from './roc.js';
import { splitTraces } from './split.js';
import { shortThreadsNote } from './short-threads.js';

export const SPLITS = ['ordered', 'shuffled', 'trace'] as const;
export type Split = (typeof SPLITS)[number];

/** One trace file's thread streams, before filtering. */
export interface LoadedTrace {
  path: string;
  label: 0 | 1;
  /** Attack kind (the attack file's directory); 'normal' for normal traces. */
  kind: string;
  threads: Uint16Array[];
  /** Attack traces whose dataset says when the attack starts (LID-DS metadata): that time (ns, the trace's clock), and each thread's call times. */
  attackStartNs?: number;
  times?: Float64Array[];
}

export interface EvalConfig {
  normal: readonly LoadedTrace[];
  attack: readonly LoadedTrace[];
  windows: readonly number[];
  detectors: readonly DetectorFactory[];
  filters: readonly FilterName[];
  split: Split;
  seed: number;
  /** False-alarm budget: the share of normal traces that may alarm. */
  budget: number;
  /** Windows per decision frame. */
  frame: number;
  threatTable?: ThreatTable;
  /** Calls of tested traces windowed and scored at a time (default TEST_PART_CALLS): whole traces, so the figures do not depend on it. */
  testPartCalls?: number;
}

/** The false-alarm rates at which eval reports the best (hindsight) detection rate. */
export const FA_POINTS = [0.01, 0.05, 0.1] as const;

/** One row of results; null where the split or detector makes a figure meaningless. */
export interface EvalRecord {
  detector: string;
  window: number;
  filter: FilterName;
  split: Split;
  seed: number;
  /** The false-alarm budget the threshold was calibrated to (share of normal traces). */
  budget: number;
  frame: number;
  /** Window-level figures at the calibrated threshold (attack = positive). */
  precision: number | null;
  recall: number | null;
  f1: number | null;
  normalF1: number | null;
  /** Trace split: share of attack test traces with an alarm, at the calibrated threshold. */
  tracesDetected: number | null;
  /** Trace split: share of normal test traces with an alarm, at the calibrated threshold. */
  tracesFalseAlarm: number | null;
  /** Trace split: the calibration's expected false-alarm rate per normal trace. */
  expectedFalseAlarm: number | null;
  /** Trace split: area under the trace-level ROC curve of peak decision scores. */
  auc: number | null;
  /** Trace split: the best detection rate any threshold reaches at these false-alarm rates (hindsight: chosen on test labels). */
  drAt: { fa: number; dr: number | null }[] | null;
  fitMs: number | null;
  scoreMs: number | null;
  threshold: number | null;
  thresholdRule: string;
  /** Per attack test trace: index of the first alarming window, -1 when none (trace split only). */
  firstAlarm: number[] | null;
  /**
   * Trace split, where some attack test traces have a known start (LID-DS
   * metadata): of those, the ones that alarmed before it (only an alarm at
   * or after the start detects an attack), and per detected one the seconds
   * from the start to its first alarm. Null when no tested trace has a start.
   */
  startsKnown: number | null;
  earlyAlarms: number | null;
  delays: number[] | null;
  trainWindows: number;
  testWindows: number;
  note?: string;
}

export interface Progress {
  done: number;
  total: number;
  label: string;
}

/** What --lenient skipped over a whole load: one summary, not one line per file. */
export interface SkipSummary {
  files: number;
  malformed: number;
  unknownSyscall: number;
  example: string | undefined;
  /** Files read with a warning (a recording cut short), and the first warning. */
  warned: number;
  warning: string | undefined;
  /** Traces their dataset's runs.csv labels otherwise than they were given (normal as attack or attack as normal), and the first. */
  contradicted: number;
  contradiction: string | undefined;
}

export function emptySkips(): SkipSummary {
  return { files: 0, malformed: 0, unknownSyscall: 0, example: undefined, warned: 0, warning: undefined, contradicted: 0, contradiction: undefined };
}

/** A trace's kind: 'normal', or an attack trace's directory name (its attack kind). */
export function traceKind(path: string, label: 0 | 1): string {
  return label === 0 ? 'normal' : basename(dirname(path)) || 'attack';
}

export async function loadTraces(paths: readonly string[], label: 0 | 1, opts: ReadTraceOptions = {}, skips: SkipSummary = emptySkips()): Promise<LoadedTrace[]> {
  const out: LoadedTrace[] = [];
  const tables: RunsTables = new Map();
  for (const path of paths) {
    // Attack traces may say when their attack starts (or, LID-DS 2019, how long after their first event): then each call's time is read too.
    let start = label === 1 ? attackStartNs(path) : undefined;
    const run = recordedRun(path, tables);
    const offset = label === 1 && start === undefined ? run?.attackOffsetNs : undefined;
    const timed = start !== undefined || offset !== undefined;
    // A mislabelled recording would be learnt or tested as what it is not: said once for all, not in silence.
    if (run !== undefined && run.exploit === (label === 0)) {
      skips.contradicted++;
      skips.contradiction ??= `${path} was given as ${label === 0 ? 'normal' : 'an attack'}, but ${join(dirname(path), RUNS_TABLE)} says it runs ${label === 0 ? 'an exploit' : 'none'}`;
    }
    const t = await readTrace(path, timed ? { ...opts, times: true } : opts);
    const skipped = t.issues.malformed + t.issues.unknownSyscall;
    if (skipped > 0) {
      skips.files++;
      skips.malformed += t.issues.malformed;
      skips.unknownSyscall += t.issues.unknownSyscall;
      skips.example ??= `${path}: ${t.issues.examples[0] ?? ''}`;
    }
    if (t.issues.warnings?.length) {
      skips.warned++;
      skips.warning ??= t.issues.warnings[0];
    }
    // A trace with no syscall at all has no windows and no label to give them: refuse it by name, here.
    if (t.threads.every((th) => th.calls.length === 0)) {
      throw new SyswardenError(
        'ERR_EMPTY_INPUT',
        `${path} holds no syscalls${skipped > 0 ? ` (all ${skipped} of its lines were skipped)` : ''}, so it gives nothing to ${label === 0 ? 'learn or test' : 'detect'}. Fix: give traces that hold syscalls, or leave this one out.`,
      );
    }
    const kind = traceKind(path, label);
    if (!timed) {
      out.push({ path, label, kind, threads: t.threads.map((th) => th.calls) });
      continue;
    }
    const times = t.threads.map((th) => th.times);
    if (!times.every((x): x is Float64Array => x !== undefined)) {
      const from = start !== undefined ? metadataWhere(path) : join(dirname(path), RUNS_TABLE);
      throw new SyswardenError(
        'ERR_DATASET',
        `${from} gives the time its exploit starts, but the events of ${path} (${t.format}) carry no times to place it among. Fix: give the recording's sysdig file as LID-DS ships it, or move the ${start !== undefined ? 'metadata' : 'table'} away to count the whole trace as the attack.`,
      );
    }
    // The first event of the recording: the earliest first call of its threads.
    if (start === undefined) {
      let first = Infinity;
      for (const x of times) if (x.length > 0 && x[0]! < first) first = x[0]!;
      start = first + offset!;
    }
    out.push({ path, label, kind, threads: t.threads.map((th) => th.calls), attackStartNs: start, times });
  }
  return out;
}

interface Prepared {
  /** Normal training windows, with the part (trace) each came from. */
  normal: WindowSet;
  partOf: Int32Array;
  /** What a part is: a trace, or (one trace alone) a tenth of the normal training windows. */
  part: 'trace' | 'segment';
  /** Attack training windows for supervised detectors (null: none to give). */
  attack: WindowSet | null;
  /**
   * The test windows, in parts scored one after another: the trace split
   * windows the traces `tested` (see testTracesOf) about
   * EvalConfig.testPartCalls calls at a time, so that the test half, its
   * scores and its decisions are never all held at once.
   */
  testParts(tested: readonly number[] | undefined): Iterable<TestPart>;
  /** Trace split: the test traces (a supervised detector's: testTracesOf). */
  testTraces?: { index: number; label: number }[];
  /** Trace split: the attack start of the tested traces that have one. */
  attackStart?: ReadonlyMap<number, number>;
  /** Trace split: the attack traces supervised detectors learn from, hence are not tested on. */
  learntAttacks?: ReadonlySet<number>;
  note?: string;
  /** What eval says when the training threads are often too short to alarm (see short-threads.ts). */
  shortThreads?: string;
}

/** Windows tested together; in the trace split, with each window's trace and (where known) the time of its last call (NaN: not known). */
interface TestPart {
  test: WindowSet;
  traceOf?: Int32Array;
  testTime?: Float64Array;
}

/** Calls of tested traces windowed at a time by default (see Prepared.testParts): whole traces, so no stream is cut. */
export const TEST_PART_CALLS = 1 << 20;

/** The traces a detector is tested on: supervised detectors never on the attack traces they learnt from. */
function testTracesOf(p: Prepared, supervised: boolean): { index: number; label: number }[] {
  const learnt = supervised ? p.learntAttacks : undefined;
  return learnt && learnt.size > 0 ? p.testTraces!.filter((t) => !learnt.has(t.index)) : p.testTraces!;
}

/** The (filtered) traces' thread streams; each stream's id is its index in `traceOf`, which holds its trace (and `timesOf` its call times, if known). */
function streamsOf(traces: readonly LoadedTrace[], indices: readonly number[], traceOf: number[], timesOf: Array<Float64Array | undefined> = []): StreamInput[] {
  const streams: StreamInput[] = [];
  for (const k of indices) {
    const t = traces[k]!;
    t.threads.forEach((calls, j) => {
      traceOf.push(k);
      timesOf[traceOf.length - 1] = t.times?.[j];
      streams.push({ calls, label: t.label, source: traceOf.length - 1 });
    });
  }
  return streams;
}

/** The time of each window's last call (NaN where its stream's times are not known); windows of a stream are consecutive and in order, as windowStreams makes them. */
function windowTimes(set: WindowSet, timesOf: ReadonlyArray<Float64Array | undefined>): Float64Array {
  const out = new Float64Array(set.count).fill(Number.NaN);
  let source = -1;
  let j = 0;
  for (let i = 0; i < set.count; i++) {
    const s = set.source![i]!;
    j = s === source ? j + 1 : 0;
    source = s;
    const times = timesOf[s];
    if (times) out[i] = times[j + set.size - 1]!;
  }
  return out;
}

/** Windows of attack traces that say when their attack starts are attack windows from that time on; before it, they are left out. */
function fromAttackStart(set: WindowSet, traceOf: readonly number[], timesOf: ReadonlyArray<Float64Array | undefined>, traces: readonly LoadedTrace[]): WindowSet {
  if (!traces.some((t) => t.attackStartNs !== undefined)) return set;
  const time = windowTimes(set, timesOf);
  const keep: number[] = [];
  for (let i = 0; i < set.count; i++) {
    const start = traces[traceOf[set.source![i]!]!]!.attackStartNs;
    if (start === undefined || time[i]! >= start) keep.push(i);
  }
  return selectWindows(set, keep);
}

function partsOf(set: WindowSet, traceOf: readonly number[]): Int32Array {
  return Int32Array.from({ length: set.count }, (_, i) => traceOf[set.source![i]!]!);
}

/** The study's window splits (ordered, shuffled): training normal windows are held out by the stream they came from. */
function prepareWindowSplit(cfg: EvalConfig, all: readonly LoadedTrace[], size: number): Prepared {
  const traceOf: number[] = [];
  const normal = windowStreams(streamsOf(all, all.map((_, i) => i).filter((i) => all[i]!.label === 0), traceOf), size);
  const attack = windowStreams(streamsOf(all, all.map((_, i) => i).filter((i) => all[i]!.label === 1), traceOf), size);
  let train: WindowSet;
  let test: WindowSet;
  if (cfg.split === 'ordered') {
    // The study's protocol: the first half of each class's windows in file order trains, the second half tests.
    const hn = Math.floor(normal.count / 2);
    const ha = Math.floor(attack.count / 2);
    train = concatWindows([sliceWindows(normal, 0, hn), sliceWindows(attack, 0, ha)]);
    test = concatWindows([sliceWindows(normal, hn, normal.count), sliceWindows(attack, ha, attack.count)]);
  } else {
    const both = concatWindows([normal, attack]);
    const order = Array.from({ length: both.count }, (_, i) => i);
    new Prng(cfg.seed).shuffle(order);
    const half = Math.floor(both.count / 2);
    // Each half back in stream order, so decision frames see windows in sequence.
    train = selectWindows(both, order.slice(0, half).sort((a, b) => a - b));
    test = selectWindows(both, order.slice(half).sort((a, b) => a - b));
  }
  const trainNormal = windowsLabelled(train, 0);
  let partOf = partsOf(trainNormal, traceOf);
  let part: Prepared['part'] = 'trace';
  if (new Set(partOf).size < 2) {
    partOf = segmentParts(trainNormal.count);
    part = 'segment';
  }
  const trainAttack = windowsLabelled(train, 1);
  return { normal: trainNormal, partOf, part, attack: trainAttack.count > 0 ? trainAttack : null, testParts: () => [{ test }] };
}

/** The trace split: whole traces, seeded and stratified by attack kind (splitTraces). */
function prepareTraceSplit(all: readonly LoadedTrace[], split: ReturnType<typeof splitTraces>, size: number, partCalls: number): Prepared {
  const traceOf: number[] = [];
  const timesOf: Array<Float64Array | undefined> = [];
  const normal = windowStreams(streamsOf(all, split.train, traceOf), size);
  const attack = split.attackTrain.length > 0 ? fromAttackStart(windowStreams(streamsOf(all, split.attackTrain, traceOf, timesOf), size), traceOf, timesOf, all) : null;
  // One-class detectors never learn from attacks: they are tested on every attack trace. Supervised ones leave out those they learnt from.
  const tested = [...split.test, ...split.attackTrain].sort((a, b) => a - b);
  const attackStart = new Map<number, number>();
  for (const k of tested) if (all[k]!.attackStartNs !== undefined) attackStart.set(k, all[k]!.attackStartNs!);
  return {
    ...(attackStart.size > 0 ? { attackStart } : {}),
    normal,
    partOf: partsOf(normal, traceOf),
    part: 'trace',
    attack: attack && attack.count > 0 ? attack : null,
    testParts: (indices) => testPartsOf(all, indices ?? tested, size, attackStart.size > 0, partCalls),
    testTraces: tested.map((index) => ({ index, label: all[index]!.label })),
    learntAttacks: new Set(split.attackTrain),
    note: split.unseenKinds.length > 0 ? `supervised detectors never trained on the attack kinds ${split.unseenKinds.join(', ')} (one trace each)` : undefined,
  };
}

/** The tested traces' windows, a part of whole traces at a time, each part's traces holding about `partCalls` calls (see Prepared.testParts). */
function* testPartsOf(all: readonly LoadedTrace[], tested: readonly number[], size: number, timed: boolean, partCalls: number): Generator<TestPart> {
  for (let from = 0; from < tested.length; ) {
    let to = from;
    let calls = 0;
    while (to < tested.length && (to === from || calls < partCalls)) {
      for (const c of all[tested[to]!]!.threads) calls += c.length;
      to++;
    }
    const traceOf: number[] = [];
    const timesOf: Array<Float64Array | undefined> = [];
    const test = windowStreams(streamsOf(all, tested.slice(from, to), traceOf, timesOf), size);
    yield {
      test,
      traceOf: Int32Array.from({ length: test.count }, (_, i) => traceOf[test.source![i]!]!),
      ...(timed ? { testTime: windowTimes(test, timesOf) } : {}),
    };
    from = to;
  }
}

/**
 * Runs every (filter, window, detector) combination in-process. Each record
 * is handed to `onRecord` as soon as it is done (so a report can be written
 * as it goes) and returned at the end.
 */
export async function runEvaluation(cfg: EvalConfig, onProgress?: (p: Progress) => void, onRecord?: (r: EvalRecord) => void): Promise<EvalRecord[]> {
  if (cfg.normal.length === 0) throw new SyswardenError('ERR_INVALID_INPUT', 'no normal traces. Fix: pass --normal <files|dirs>.');
  if (cfg.attack.length === 0) throw new SyswardenError('ERR_INVALID_INPUT', 'no attack traces. Fix: pass --attack <files|dirs>.');
  const all = [...cfg.normal, ...cfg.attack];
  const split = cfg.split === 'trace' ? splitTraces(all, cfg.seed) : undefined;
  const records: EvalRecord[] = [];
  const total = cfg.filters.length * cfg.windows.length * cfg.detectors.length;
  let done = 0;
  for (const filterName of cfg.filters) {
    // Filtered once per filter, not once per window size.
    const filter = makeFilter(filterName, cfg.threatTable);
    const filtered = all.map((t) => filterTrace(t, filter));
    for (const size of cfg.windows) {
      const prepared = split ? prepareTraceSplit(filtered, split, size, cfg.testPartCalls ?? TEST_PART_CALLS) : prepareWindowSplit(cfg, filtered, size);
      const p: Prepared = { ...prepared, shortThreads: shortThreadsNote(prepared.normal.source, size, cfg.frame) };
      for (const factory of cfg.detectors) {
        onProgress?.({ done, total, label: `${factory.name} w=${size} filter=${filterName}` });
        const r = runOne(cfg, p, factory, filterName, size);
        records.push(r);
        onRecord?.(r);
        done++;
        // Let the progress bar repaint and signals through between detectors.
        await new Promise<void>((res) => setImmediate(res));
      }
    }
  }
  onProgress?.({ done, total, label: 'done' });
  return records;
}

/** A trace without the filter's calls (and without their times). */
function filterTrace(t: LoadedTrace, filter: SyscallFilter): LoadedTrace {
  const kept = t.threads.map((calls, j) => filterStream(calls, filter, t.times?.[j]));
  const threads = kept.map((k) => k.calls);
  return t.times ? { ...t, threads, times: kept.map((k) => k.times!) } : { ...t, threads };
}

function runOne(cfg: EvalConfig, prepared: Prepared, factory: DetectorFactory, filter: FilterName, size: number): EvalRecord {
  const base = { detector: factory.name, window: size, filter, split: cfg.split, seed: cfg.seed, budget: cfg.budget, frame: cfg.frame };
  const supervised = factory.create({ seed: cfg.seed }).supervised;
  const p = prepared;
  const none = {
    precision: null, recall: null, f1: null, normalF1: null, tracesDetected: null, tracesFalseAlarm: null, expectedFalseAlarm: null, auc: null, drAt: null,
    fitMs: null, scoreMs: null, threshold: null, firstAlarm: null, startsKnown: null, earlyAlarms: null, delays: null, trainWindows: 0, testWindows: 0,
  };
  if (supervised && !p.attack) {
    return { ...base, ...none, thresholdRule: 'not run', note: 'supervised detectors need attack traces to learn from: give at least 2 attack traces of a kind' };
  }
  let detector;
  let calibration;
  const t0 = performance.now();
  try {
    ({ detector, calibration } = calibrate({
      factory,
      options: { seed: cfg.seed },
      normal: p.normal,
      partOf: p.partOf,
      part: p.part,
      ...(p.attack ? { attack: p.attack } : {}),
      budget: cfg.budget,
      unit: 'trace',
      frame: cfg.frame,
      seed: cfg.seed,
    }));
  } catch (e) {
    // A detector that cannot meet the budget on this data is a result to report, not the end of the evaluation.
    if (e instanceof SyswardenError && (e.code === 'ERR_UNREACHABLE_THRESHOLD' || e.code === 'ERR_NO_DATA')) {
      return { ...base, ...none, thresholdRule: 'not calibrated', note: e.message };
    }
    throw e;
  }
  const fitMs = performance.now() - t0;
  const threshold = calibration.threshold;
  const windows: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  const tested = p.testTraces ? testTracesOf(p, supervised) : undefined;
  const traces = tested && new TraceTally(threshold, p.attackStart, tested);
  let scoreMs = 0;
  let testWindows = 0;
  for (const part of p.testParts(tested?.map((t) => t.index))) {
    const t1 = performance.now();
    const decided = decisionScores(part.test, detector.score(part.test), cfg.frame, calibration.trim);
    scoreMs += performance.now() - t1;
    addConfusion(windows, confusion(decided, part.test.labels!, threshold));
    traces?.add(decided, part.traceOf!, part.testTime);
    testWindows += part.test.count;
  }
  const m = metricsOf(windows);
  const trace = traces ? traces.result() : null;
  return {
    ...base,
    precision: m.precision,
    recall: m.recall,
    f1: m.f1,
    normalF1: m.normalF1,
    tracesDetected: trace?.dr ?? null,
    tracesFalseAlarm: trace?.fa ?? null,
    expectedFalseAlarm: trace ? calibration.expected : null,
    auc: trace?.auc ?? null,
    drAt: trace?.drAt ?? null,
    fitMs,
    scoreMs,
    threshold,
    thresholdRule: calibration.rule,
    firstAlarm: trace?.firstAlarm ?? null,
    startsKnown: trace?.startsKnown ?? null,
    earlyAlarms: trace?.earlyAlarms ?? null,
    delays: trace?.delays ?? null,
    trainWindows: p.normal.count + (supervised && p.attack ? p.attack.count : 0),
    testWindows,
    ...noteOf([supervised ? p.note : undefined, p.shortThreads]),
  };
}

/**
 * Trace-level figures from the test windows' decision scores, taken part by
 * part (a trace is in one part): each trace's peak, the operating point,
 * ROC/AUC, first alarms.
 */
class TraceTally {
  private readonly peak = new Map<number, number>();
  private readonly firstAlarm = new Map<number, number>();
  private readonly position = new Map<number, number>();
  private readonly early = new Set<number>();
  private readonly firstAlarmTime = new Map<number, number>();

  /**
   * `starts`: traces with a known attack start, where only windows from it on can detect the attack (or count in its peak), and an alarm before it is early.
   * `tested`: the traces the result is over.
   */
  constructor(
    private readonly threshold: number,
    private readonly starts: ReadonlyMap<number, number> | undefined,
    private readonly tested: readonly { index: number; label: number }[],
  ) {}

  add(decided: Float64Array, traceOf: Int32Array, time: Float64Array | undefined): void {
    const { peak, firstAlarm, position, early, firstAlarmTime, starts, threshold } = this;
    for (let i = 0; i < decided.length; i++) {
      const t = traceOf[i]!;
      const pos = position.get(t) ?? 0;
      position.set(t, pos + 1);
      const start = starts?.get(t);
      if (start !== undefined && !(time![i]! >= start)) {
        if (decided[i]! >= threshold) early.add(t);
        continue;
      }
      if (decided[i]! > (peak.get(t) ?? -Infinity)) peak.set(t, decided[i]!);
      if (decided[i]! >= threshold && !firstAlarm.has(t)) {
        firstAlarm.set(t, pos);
        if (start !== undefined) firstAlarmTime.set(t, time![i]!);
      }
    }
  }

  result() {
    const { peak, firstAlarm, early, firstAlarmTime, starts, threshold, tested } = this;
    const withStart = starts ? tested.filter((t) => t.label === 1 && starts.has(t.index)) : [];
    // A trace shorter than one window has no score: it can never alarm.
    const peaksOf = (label: number) => tested.filter((t) => t.label === label).map((t) => peak.get(t.index) ?? -Infinity);
    const normalPeaks = peaksOf(0);
    const attackPeaks = peaksOf(1);
    const op = operatingPoint(normalPeaks, attackPeaks, threshold);
    const roc = rocOf(normalPeaks, attackPeaks);
    return {
      dr: op.dr,
      fa: op.fa,
      auc: roc.auc,
      drAt: roc.auc === null ? null : FA_POINTS.map((fa) => ({ fa, dr: drAtFalseAlarm(roc, fa)?.dr ?? null })),
      firstAlarm: tested.filter((t) => t.label === 1).map((t) => firstAlarm.get(t.index) ?? -1),
      startsKnown: withStart.length > 0 ? withStart.length : null,
      earlyAlarms: withStart.length > 0 ? withStart.filter((t) => early.has(t.index)).length : null,
      delays: withStart.length > 0 ? withStart.filter((t) => firstAlarmTime.has(t.index)).map((t) => (firstAlarmTime.get(t.index)! - starts!.get(t.index)!) / 1e9) : null,
    };
  }
}

/** Notes joined, or nothing. */
function noteOf(notes: ReadonlyArray<string | undefined>): { note?: string } {
  const some = notes.filter((n): n is string => n !== undefined);
  return some.length ? { note: some.join('; ') } : {};
}
