/**
 * Evaluation on a scenario dataset: a model per scenario, trained and
 * calibrated on part of its normal runs, tested on the other normal runs and
 * on every attack run. Alarms are placed in time: in an attack run only an
 * alarm at or after the attack's start detects it (one before is a false
 * alarm, as in LID-DS), and the delay from the attack's start to the first
 * alarm is measured in seconds of the recording's clock.
 */
import { SyswardenError } from '../errors.js';
import { calibrate } from '../detect/calibration.js';
import { decisionScores } from '../detect/decision.js';
import type { DetectorFactory } from '../detect/detector.js';
import { rocOf } from '../detect/roc.js';
import { shortThreadsNote } from '../detect/short-threads.js';
import { splitTraces } from '../detect/split.js';
import { selectWindows, windowCount, windowStreams, type StreamInput } from '../window/windows.js';
import type { WindowSet } from '../window/window-set.js';
import { loadRun, type ScenarioRuns, type TimedThread } from './dataset.js';

export interface ScenarioEvalConfig {
  scenarios: readonly ScenarioRuns[];
  detectors: readonly DetectorFactory[];
  windows: readonly number[];
  seed: number;
  /** Share of normal runs that may alarm. */
  budget: number;
  frame: number;
}

/** One (scenario, detector, window) result. Rates are null where there is nothing to divide. */
export interface ScenarioEvalRecord {
  scenario: string;
  detector: string;
  window: number;
  seed: number;
  budget: number;
  frame: number;
  normalTrain: number;
  normalTest: number;
  attackRuns: number;
  threshold: number | null;
  thresholdRule: string;
  expectedFalseAlarm: number | null;
  /** Attack runs with an alarm at or after the attack's start. */
  detected: number;
  detectionRate: number | null;
  /** Normal test runs with any alarm. */
  falseAlarmRuns: number;
  falseAlarmRate: number | null;
  /** Attack runs that alarmed before the attack started. */
  earlyAlarmRuns: number;
  /** LID-DS's count: runs of consecutive alarming windows of a thread in normal time (normal runs, and attack runs before the attack), each counted once. */
  consecutiveFalseAlarms: number;
  /** Seconds from the attack's start to the first alarm, per detected attack run (run order). */
  delays: number[];
  /** Run-level AUC: peak decision of each normal test run against each attack run's peak after its start. */
  auc: number | null;
  note?: string;
}

interface LoadedRun {
  kind: 'normal' | 'attack';
  /** Attack span, ns after the run's start (attack runs). */
  attack: [number, number] | null;
  threads: TimedThread[];
}

export interface ScenarioEvalProgress {
  done: number;
  total: number;
  label: string;
}

/** Evaluate every (scenario, window, detector); each record goes to onRecord as soon as it is done. */
export async function evaluateScenarios(
  cfg: ScenarioEvalConfig,
  onProgress?: (p: ScenarioEvalProgress) => void,
  onRecord?: (r: ScenarioEvalRecord) => void,
): Promise<ScenarioEvalRecord[]> {
  const out: ScenarioEvalRecord[] = [];
  const total = cfg.scenarios.length * cfg.windows.length * cfg.detectors.length;
  let done = 0;
  for (const s of cfg.scenarios) {
    const normals = s.runs.filter((r) => r.label.kind === 'normal').length;
    if (normals < 2) {
      throw new SyswardenError('ERR_DATASET', `${s.dir} has ${normals} normal run${normals === 1 ? '' : 's'}; a model needs one to learn from and one to test on. Fix: build it with more --runs.`);
    }
    onProgress?.({ done, total, label: `${s.scenario}: reading ${s.runs.length} recordings` });
    const runs: LoadedRun[] = [];
    for (const r of s.runs) {
      const start = BigInt(r.label.startNs);
      runs.push({
        kind: r.label.kind,
        attack: r.label.attack ? [Number(BigInt(r.label.attack.startNs) - start), Number(BigInt(r.label.attack.endNs) - start)] : null,
        threads: await loadRun(r),
      });
    }
    const split = splitTraces(runs.map((r) => ({ label: r.kind === 'attack' ? 1 : 0, kind: r.kind })), cfg.seed);
    for (const size of cfg.windows) {
      // Cut once per window size, shared by every detector.
      const sets = new SizeSets(runs, split, size);
      for (const factory of cfg.detectors) {
        onProgress?.({ done, total, label: `${s.scenario} ${factory.name} w=${size}` });
        const rec = evaluateOne(cfg, s.scenario, runs, split, sets, factory, size);
        out.push(rec);
        onRecord?.(rec);
        done++;
        await new Promise<void>((r) => setImmediate(r));
      }
    }
  }
  onProgress?.({ done, total, label: 'done' });
  return out;
}

/** Windows of some runs: the stream of each window, and the run and time (of its last call) of each. */
function windowsOf(runs: readonly LoadedRun[], indices: readonly number[], size: number, label: (run: LoadedRun) => 0 | 1 = () => 0) {
  const streams: StreamInput[] = [];
  const runOfStream: number[] = [];
  const timesOfStream: Float64Array[] = [];
  for (const k of indices) {
    for (const t of runs[k]!.threads) {
      streams.push({ calls: t.calls, label: label(runs[k]!), source: streams.length });
      runOfStream.push(k);
      timesOfStream.push(t.times);
    }
  }
  const set = windowStreams(streams, size);
  const runOf = new Int32Array(set.count);
  const timeOf = new Float64Array(set.count);
  let w = 0;
  streams.forEach((s, i) => {
    const n = windowCount(s.calls.length, size);
    for (let j = 0; j < n; j++, w++) {
      runOf[w] = runOfStream[i]!;
      timeOf[w] = timesOfStream[i]![j + size - 1]!;
    }
  });
  return { set, runOf, timeOf };
}

type Windowed = ReturnType<typeof windowsOf>;

/** One window size's window sets of a scenario, each cut when first needed and then reused by every detector. */
class SizeSets {
  readonly normalTest: number[];
  /** Attack runs tested: all (one-class detectors), or those supervised detectors did not learn from. */
  readonly testedAttacks: { oneClass: number[]; supervised: number[] };
  private cache = new Map<string, Windowed | WindowSet | null>();

  constructor(
    private readonly runs: readonly LoadedRun[],
    private readonly split: ReturnType<typeof splitTraces>,
    private readonly size: number,
  ) {
    const attacks = runs.map((r, i) => (r.kind === 'attack' ? i : -1)).filter((i) => i >= 0);
    this.normalTest = split.test.filter((i) => runs[i]!.kind === 'normal');
    const learnt = new Set(split.attackTrain);
    this.testedAttacks = { oneClass: attacks, supervised: attacks.filter((i) => !learnt.has(i)) };
  }

  private once<T extends Windowed | WindowSet | null>(key: string, make: () => T): T {
    if (!this.cache.has(key)) this.cache.set(key, make());
    return this.cache.get(key) as T;
  }

  get train(): Windowed {
    return this.once('train', () => windowsOf(this.runs, this.split.train, this.size));
  }

  /** What eval says when the training threads are often too short to alarm (see short-threads.ts), for every detector alike. */
  shortThreads(frame: number): string | undefined {
    this.shortNote ??= { text: shortThreadsNote(this.train.set.source, this.size, frame) };
    return this.shortNote.text;
  }

  private shortNote: { text: string | undefined } | undefined;

  /** The attack spans' windows of the runs supervised detectors learn from (null: none). */
  get attackTrain(): WindowSet | null {
    return this.once('attack', () => {
      const a = windowsOf(this.runs, this.split.attackTrain, this.size, () => 1);
      const keep: number[] = [];
      for (let i = 0; i < a.set.count; i++) {
        const span = this.runs[a.runOf[i]!]!.attack!;
        if (a.timeOf[i]! >= span[0] && a.timeOf[i]! <= span[1]) keep.push(i);
      }
      return keep.length ? selectWindows(a.set, keep) : null;
    });
  }

  test(supervised: boolean): Windowed {
    return this.once(supervised ? 'test-supervised' : 'test', () =>
      windowsOf(this.runs, [...this.normalTest, ...this.testedAttacks[supervised ? 'supervised' : 'oneClass']].sort((a, b) => a - b), this.size),
    );
  }
}

function evaluateOne(cfg: ScenarioEvalConfig, scenario: string, runs: readonly LoadedRun[], split: ReturnType<typeof splitTraces>, sets: SizeSets, factory: DetectorFactory, size: number): ScenarioEvalRecord {
  const { normalTest } = sets;
  const supervised = factory.create({ seed: cfg.seed }).supervised;
  // Supervised detectors learn from some attack runs' attack spans, so they are tested on the others only.
  const testedAttacks = sets.testedAttacks[supervised ? 'supervised' : 'oneClass'];
  const base: ScenarioEvalRecord = {
    scenario, detector: factory.name, window: size, seed: cfg.seed, budget: cfg.budget, frame: cfg.frame,
    normalTrain: split.train.length, normalTest: normalTest.length, attackRuns: testedAttacks.length,
    threshold: null, thresholdRule: 'not run', expectedFalseAlarm: null, detected: 0, detectionRate: null, falseAlarmRuns: 0, falseAlarmRate: null,
    earlyAlarmRuns: 0, consecutiveFalseAlarms: 0, delays: [], auc: null,
  };
  const train = sets.train;
  let attack: WindowSet | undefined;
  if (supervised) {
    attack = sets.attackTrain ?? undefined;
    if (!attack) return { ...base, note: 'supervised detectors need attack runs to learn from: build more runs' };
  }
  let detector;
  let calibration;
  try {
    ({ detector, calibration } = calibrate({
      factory, options: { seed: cfg.seed }, normal: train.set, partOf: train.runOf, part: 'trace',
      ...(attack ? { attack } : {}), budget: cfg.budget, unit: 'trace', frame: cfg.frame, seed: cfg.seed,
    }));
  } catch (e) {
    if (e instanceof SyswardenError && (e.code === 'ERR_UNREACHABLE_THRESHOLD' || e.code === 'ERR_NO_DATA')) return { ...base, thresholdRule: 'not calibrated', note: e.message };
    throw e;
  }
  const short = sets.shortThreads(cfg.frame);
  const test = sets.test(supervised);
  const decided = decisionScores(test.set, detector.score(test.set), cfg.frame, calibration.trim);
  const threshold = calibration.threshold;
  const firstAlarm = new Map<number, number>();
  const early = new Set<number>();
  const falseAlarm = new Set<number>();
  const peak = new Map<number, number>();
  let cfa = 0;
  for (let i = 0; i < decided.length; i++) {
    const k = test.runOf[i]!;
    const run = runs[k]!;
    const t = test.timeOf[i]!;
    const afterStart = run.attack !== null && t >= run.attack[0];
    if (run.kind === 'normal' || afterStart) peak.set(k, Math.max(peak.get(k) ?? -Infinity, decided[i]!));
    if (decided[i]! < threshold) continue;
    if (afterStart) {
      if (!firstAlarm.has(k) || t < firstAlarm.get(k)!) firstAlarm.set(k, t);
      continue;
    }
    if (run.kind === 'normal') falseAlarm.add(k);
    else early.add(k);
    // A new run of consecutive alarms: the previous window of the same stream did not alarm.
    const sameStreamBefore = i > 0 && test.set.source![i - 1] === test.set.source![i];
    if (!sameStreamBefore || decided[i - 1]! < threshold) cfa++;
  }
  const delays = testedAttacks.filter((k) => firstAlarm.has(k)).map((k) => (firstAlarm.get(k)! - runs[k]!.attack![0]) / 1e9);
  const roc = rocOf(normalTest.map((k) => peak.get(k) ?? -Infinity), testedAttacks.map((k) => peak.get(k) ?? -Infinity));
  return {
    ...base,
    threshold,
    thresholdRule: calibration.rule,
    expectedFalseAlarm: calibration.expected,
    detected: delays.length,
    detectionRate: testedAttacks.length ? delays.length / testedAttacks.length : null,
    falseAlarmRuns: falseAlarm.size,
    falseAlarmRate: normalTest.length ? falseAlarm.size / normalTest.length : null,
    earlyAlarmRuns: early.size,
    consecutiveFalseAlarms: cfa,
    delays,
    auc: roc.auc,
    ...(short ? { note: short } : {}),
  };
}

/** Pool records of one (detector, window) over scenarios: the overall figures. */
export function overall(records: readonly ScenarioEvalRecord[]): ScenarioEvalRecord[] {
  const groups = new Map<string, ScenarioEvalRecord[]>();
  for (const r of records) groups.set(`${r.detector}\0${r.window}`, [...(groups.get(`${r.detector}\0${r.window}`) ?? []), r]);
  return [...groups.values()].map((rs) => {
    const sum = (f: (r: ScenarioEvalRecord) => number) => rs.reduce((a, r) => a + f(r), 0);
    // A scenario the detector could not be calibrated on detects nothing there; its normal runs are left out of the false-alarm rate.
    const ran = rs.filter((r) => r.threshold !== null);
    const attacks = sum((r) => r.attackRuns);
    const normals = ran.reduce((a, r) => a + r.normalTest, 0);
    // A scenario's own note is about that scenario, not the pool.
    const { note: _own, ...first } = rs[0]!;
    return {
      ...first,
      scenario: 'all',
      normalTrain: sum((r) => r.normalTrain),
      normalTest: sum((r) => r.normalTest),
      attackRuns: sum((r) => r.attackRuns),
      threshold: null,
      thresholdRule: `per scenario (${ran.length} of ${rs.length} calibrated)`,
      expectedFalseAlarm: null,
      detected: sum((r) => r.detected),
      detectionRate: attacks ? sum((r) => r.detected) / attacks : null,
      falseAlarmRuns: sum((r) => r.falseAlarmRuns),
      falseAlarmRate: normals ? sum((r) => r.falseAlarmRuns) / normals : null,
      earlyAlarmRuns: sum((r) => r.earlyAlarmRuns),
      consecutiveFalseAlarms: sum((r) => r.consecutiveFalseAlarms),
      delays: rs.flatMap((r) => r.delays),
      auc: null,
      ...(ran.length < rs.length ? { note: `${rs.length - ran.length} scenario(s) not calibrated: counted as detecting nothing there` } : {}),
    };
  });
}
