import { SyswardenError } from '../errors.js';
import { readTrace, type ReadTraceOptions } from '../trace/read-trace.js';
import type { ThreatTable } from '../trace/threat-levels.js';
import { applyFilter, makeFilter, type FilterName } from '../window/filter.js';
import type { WindowSet } from '../window/window-set.js';
import { concatWindows, selectWindows, sliceWindows, windowStreams, type StreamInput } from '../window/windows.js';
import type { DetectorFactory } from './detector.js';
import { confusion, metricsOf } from './metrics.js';

export const SPLITS = ['ordered', 'shuffled', 'trace'] as const;
export type Split = (typeof SPLITS)[number];

/** One trace file's thread streams, before filtering. */
export interface LoadedTrace {
  path: string;
  label: 0 | 1;
  threads: Uint16Array[];
}

export interface EvalConfig {
  normal: readonly LoadedTrace[];
  attack: readonly LoadedTrace[];
  windows: readonly number[];
  detectors: readonly DetectorFactory[];
  filters: readonly FilterName[];
  split: Split;
  seed: number;
  threatTable?: ThreatTable;
}

/** One row of results; null where the split or detector makes a figure meaningless. */
export interface EvalRecord {
  detector: string;
  window: number;
  filter: FilterName;
  split: Split;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  normalF1: number | null;
  /** Share of attack test traces with at least one alarm (trace split only). */
  tracesDetected: number | null;
  /** Share of normal test traces with at least one alarm (trace split only). */
  tracesFalseAlarm: number | null;
  fitMs: number | null;
  scoreMs: number | null;
  threshold: number | null;
  thresholdRule: string;
  /** Per attack test trace: index of the first alarming window, -1 when none (trace split only). */
  firstAlarm: number[] | null;
  trainWindows: number;
  testWindows: number;
  note?: string;
}

export interface Progress {
  done: number;
  total: number;
  label: string;
}

export async function loadTraces(paths: readonly string[], label: 0 | 1, opts: ReadTraceOptions = {}): Promise<LoadedTrace[]> {
  const out: LoadedTrace[] = [];
  for (const path of paths) {
    const t = await readTrace(path, opts);
    const skipped = t.issues.malformed + t.issues.unknownSyscall;
    if (skipped > 0) {
      process.stderr.write(`syswarden: ${path}: skipped ${t.issues.malformed} malformed and ${t.issues.unknownSyscall} unknown-syscall lines (e.g. ${t.issues.examples[0] ?? ''})\n`);
    }
    // A trace with no syscall at all has no windows and no label to give them: refuse it by name, here.
    if (t.threads.every((th) => th.calls.length === 0)) {
      throw new SyswardenError(
        'ERR_EMPTY_INPUT',
        `${path} holds no syscalls${skipped > 0 ? ` (all ${skipped} of its lines were skipped)` : ''}, so it gives nothing to ${label === 0 ? 'learn or test' : 'detect'}. Fix: give traces that hold syscalls, or leave this one out.`,
      );
    }
    out.push({ path, label, threads: t.threads.map((th) => th.calls) });
  }
  return out;
}

/** Deterministic PRNG (mulberry32): the shuffled split must be reproducible from --seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Prepared {
  train: WindowSet;
  test: WindowSet;
  /** Test windows' trace file index (into normal ++ attack), for trace-level figures. */
  traceOf?: Int32Array;
  testTraces?: { index: number; label: number }[];
  /** Training set for supervised detectors when it differs (trace split). */
  supervisedTrain?: WindowSet | null;
  supervisedNote?: string;
}

/** Streams of a list of traces, filtered; source = stream index, traceOf[source] = trace index. */
function streamsOf(traces: readonly LoadedTrace[], firstTrace: number, filter: ReturnType<typeof makeFilter>, firstStream: number, traceOf: number[]): StreamInput[] {
  const streams: StreamInput[] = [];
  traces.forEach((t, k) => {
    for (const calls of t.threads) {
      traceOf[firstStream + streams.length] = firstTrace + k;
      streams.push({ calls: applyFilter(calls, filter), label: t.label, source: firstStream + streams.length });
    }
  });
  return streams;
}

interface FilteredStreams {
  normalStreams: StreamInput[];
  attackStreams: StreamInput[];
  traceOfStream: number[];
}

/** Every trace's streams through one filter: done once per filter, not once per window size. */
function filterStreams(cfg: EvalConfig, filterName: FilterName): FilteredStreams {
  const filter = makeFilter(filterName, cfg.threatTable);
  const traceOfStream: number[] = [];
  const normalStreams = streamsOf(cfg.normal, 0, filter, 0, traceOfStream);
  const attackStreams = streamsOf(cfg.attack, cfg.normal.length, filter, normalStreams.length, traceOfStream);
  return { normalStreams, attackStreams, traceOfStream };
}

function prepare(cfg: EvalConfig, { normalStreams, attackStreams, traceOfStream }: FilteredStreams, size: number): Prepared {
  if (cfg.split === 'ordered' || cfg.split === 'shuffled') {
    const normal = windowStreams(normalStreams, size);
    const attack = windowStreams(attackStreams, size);
    if (cfg.split === 'ordered') {
      // The study's protocol: the first half of each class's windows in file order trains, the second half tests.
      const hn = Math.floor(normal.count / 2);
      const ha = Math.floor(attack.count / 2);
      return {
        train: concatWindows([sliceWindows(normal, 0, hn), sliceWindows(attack, 0, ha)]),
        test: concatWindows([sliceWindows(normal, hn, normal.count), sliceWindows(attack, ha, attack.count)]),
      };
    }
    const all = concatWindows([normal, attack]);
    const order = Array.from({ length: all.count }, (_, i) => i);
    const rand = rng(cfg.seed);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const half = Math.floor(all.count / 2);
    // Each half back in stream order, so locality frames see windows in sequence.
    const trainIdx = order.slice(0, half).sort((a, b) => a - b);
    const testIdx = order.slice(half).sort((a, b) => a - b);
    return { train: selectWindows(all, trainIdx), test: selectWindows(all, testIdx) };
  }
  // trace split: whole files. First half of the normal files train; the other normal files and every attack file test.
  const nTrainNormal = Math.floor(cfg.normal.length / 2);
  if (nTrainNormal === 0) throw new SyswardenError('ERR_INVALID_INPUT', 'the trace split needs at least 2 normal traces. Fix: give more --normal files or use --split ordered.');
  const isTrainNormal = (s: StreamInput) => traceOfStream[s.source!]! < nTrainNormal;
  const train = windowStreams(normalStreams.filter(isTrainNormal), size);
  const testStreams = [...normalStreams.filter((s) => !isTrainNormal(s)), ...attackStreams];
  const test = windowStreams(testStreams, size);
  const traceOf = new Int32Array(test.count);
  for (let i = 0; i < test.count; i++) traceOf[i] = traceOfStream[test.source![i]!]!;
  const testTraces = [
    ...cfg.normal.slice(nTrainNormal).map((_, k) => ({ index: nTrainNormal + k, label: 0 })),
    ...cfg.attack.map((_, k) => ({ index: cfg.normal.length + k, label: 1 })),
  ];
  // Classifiers cannot learn without attack examples: they also get the first half of the
  // attack files (and are tested on the rest), which makes their test set smaller, not easier.
  const nTrainAttack = Math.floor(cfg.attack.length / 2);
  let supervisedTrain: WindowSet | null = null;
  let supervisedNote = 'supervised detectors need attack traces to train: give at least 2 --attack files for the trace split';
  if (nTrainAttack > 0) {
    const attackTrain = attackStreams.filter((s) => traceOfStream[s.source!]! < cfg.normal.length + nTrainAttack);
    supervisedTrain = windowStreams([...normalStreams.filter(isTrainNormal), ...attackTrain], size);
    supervisedNote = `supervised detectors also trained on the first ${nTrainAttack} attack traces and are tested on the other ${cfg.attack.length - nTrainAttack}`;
  }
  return { train, test, traceOf, testTraces, supervisedTrain, supervisedNote };
}

function traceLevel(scores: Float64Array, threshold: number, p: Prepared, excludeTraces: Set<number>) {
  const firstAlarm = new Map<number, number>();
  const position = new Map<number, number>();
  for (let i = 0; i < scores.length; i++) {
    const t = p.traceOf![i]!;
    const pos = position.get(t) ?? 0;
    position.set(t, pos + 1);
    if (scores[i]! >= threshold && !firstAlarm.has(t)) firstAlarm.set(t, pos);
  }
  const traces = p.testTraces!.filter((t) => !excludeTraces.has(t.index));
  const attack = traces.filter((t) => t.label === 1);
  const normal = traces.filter((t) => t.label === 0);
  return {
    tracesDetected: attack.length ? attack.filter((t) => firstAlarm.has(t.index)).length / attack.length : null,
    tracesFalseAlarm: normal.length ? normal.filter((t) => firstAlarm.has(t.index)).length / normal.length : null,
    firstAlarm: attack.map((t) => firstAlarm.get(t.index) ?? -1),
  };
}

/** Runs every (filter, window, detector) combination in-process and returns one record each. */
export async function runEvaluation(cfg: EvalConfig, onProgress?: (p: Progress) => void): Promise<EvalRecord[]> {
  if (cfg.normal.length === 0) throw new SyswardenError('ERR_INVALID_INPUT', 'no normal traces. Fix: pass --normal <files|dirs>.');
  if (cfg.attack.length === 0) throw new SyswardenError('ERR_INVALID_INPUT', 'no attack traces. Fix: pass --attack <files|dirs>.');
  const records: EvalRecord[] = [];
  const total = cfg.filters.length * cfg.windows.length * cfg.detectors.length;
  let done = 0;
  for (const filter of cfg.filters) {
    const streams = filterStreams(cfg, filter);
    for (const size of cfg.windows) {
      const p = prepare(cfg, streams, size);
      for (const factory of cfg.detectors) {
        onProgress?.({ done, total, label: `${factory.name} w=${size} filter=${filter}` });
        records.push(runOne(cfg, p, factory, filter, size));
        done++;
        // Let the progress bar repaint and signals through between detectors.
        await new Promise<void>((r) => setImmediate(r));
      }
    }
  }
  onProgress?.({ done, total, label: 'done' });
  return records;
}

function runOne(cfg: EvalConfig, p: Prepared, factory: DetectorFactory, filter: FilterName, size: number): EvalRecord {
  const detector = factory.create({ seed: cfg.seed });
  let train = p.train;
  let test = p.test;
  let note: string | undefined;
  let exclude = new Set<number>();
  let traceOf = p.traceOf;
  const base = { detector: factory.name, window: size, filter, split: cfg.split };
  if (detector.supervised && cfg.split === 'trace') {
    note = p.supervisedNote;
    if (!p.supervisedTrain) {
      return { ...base, precision: null, recall: null, f1: null, normalF1: null, tracesDetected: null, tracesFalseAlarm: null, fitMs: null, scoreMs: null, threshold: null, thresholdRule: 'not run', firstAlarm: null, trainWindows: 0, testWindows: 0, note };
    }
    train = p.supervisedTrain;
    const nTrainAttack = Math.floor(cfg.attack.length / 2);
    exclude = new Set(Array.from({ length: nTrainAttack }, (_, k) => cfg.normal.length + k));
    const keep: number[] = [];
    for (let i = 0; i < p.test.count; i++) if (!exclude.has(p.traceOf![i]!)) keep.push(i);
    test = selectWindows(p.test, keep);
    traceOf = Int32Array.from(keep, (i) => p.traceOf![i]!);
  }
  const labels = test.labels;
  if (!labels) throw new SyswardenError('ERR_INVALID_INPUT', `the test windows of ${factory.name} w=${size} carry no labels (a class without syscalls). Fix: give normal and attack traces that hold syscalls.`);
  const t0 = performance.now();
  detector.fit(train);
  const fitMs = performance.now() - t0;
  const t1 = performance.now();
  const scores = detector.score(test);
  const scoreMs = performance.now() - t1;
  const m = metricsOf(confusion(scores, labels, detector.threshold));
  const trace = cfg.split === 'trace' ? traceLevel(scores, detector.threshold, { ...p, traceOf: traceOf! }, exclude) : null;
  return {
    ...base,
    precision: m.precision,
    recall: m.recall,
    f1: m.f1,
    normalF1: m.normalF1,
    tracesDetected: trace?.tracesDetected ?? null,
    tracesFalseAlarm: trace?.tracesFalseAlarm ?? null,
    fitMs,
    scoreMs,
    threshold: detector.threshold,
    thresholdRule: detector.thresholdRule ?? (detector.supervised ? 'fixed at 0.5 on the attack-class probability (classifier)' : `set by the detector (${detector.threshold})`),
    firstAlarm: trace?.firstAlarm ?? null,
    trainWindows: train.count,
    testWindows: test.count,
    ...(note ? { note } : {}),
  };
}
