import { SyswardenError } from '../errors.js';
import type { WindowSet } from '../window/window-set.js';
import { concatWindows, selectWindows } from '../window/windows.js';
import { justAbove, twoNumbers } from './common.js';
import { decisionScores, windowTrim } from './decision.js';
import type { Detector, DetectorFactory } from './detector.js';
import { sampleHeldOut, type HeldOut } from './held-out.js';
import { Prng } from './lib/prng.js';

/**
 * What a false-alarm budget counts: alarming traces among normal traces
 * (files: `eval`, `train --from` with several files), or alarms per hour of
 * a container's normal activity (live models).
 */
export type BudgetUnit = 'trace' | 'hour';

/** Default false-alarm budgets: per normal trace, and per container-hour. */
export const DEFAULT_BUDGET: Readonly<Record<BudgetUnit, number>> = { trace: 0.05, hour: 1 };

/** How a model's alarm threshold was set, stored with the model and printed by train and watch. */
export interface Calibration {
  /** Windows per decision frame (see FrameDecision). */
  frame: number;
  /** Highest scores of each frame left out of its mean (the window size: see FrameDecision). */
  trim: number;
  /** Alarm when a stream's frame mean is at or above this. */
  threshold: number;
  /** The false-alarm budget asked for, per `unit`. */
  budget: number;
  unit: BudgetUnit;
  /** What one held-out part was: a trace, or a stretch of time (seconds) of live training. */
  part: 'trace' | 'time' | 'segment';
  /** Length of one held-out part in hours (unit 'hour'), else 0. */
  partHours: number;
  /** The highest decision score of each held-out normal part, ascending. */
  peaks: Float64Array;
  /** Cross-validation folds the peaks came from. */
  folds: number;
  /** Share of held-out parts whose peak reaches the threshold. */
  observed: number;
  /** Expected false alarms per unit at the threshold (from the peaks' tail where they are too few to count). */
  expected: number;
  /** One sentence: how the threshold was chosen. */
  rule: string;
}

export interface CalibrateInput {
  factory: DetectorFactory;
  /** Options for the factory (seed included). */
  options?: Record<string, unknown>;
  /** Normal training windows; `source` must be set (the stream of each window). */
  normal: WindowSet;
  /** The held-out part of each normal window (a trace index, a time segment), same length as normal.count. */
  partOf: Int32Array;
  part: Calibration['part'];
  /** Hours per part (unit 'hour'). */
  partHours?: number;
  /** Attack windows a supervised detector also learns from (in every fold: only normal parts are held out). */
  attack?: WindowSet;
  budget: number;
  unit: BudgetUnit;
  frame: number;
  /** Highest window scores of a frame left out of its mean (default: the window size, at most frame - 1). */
  trim?: number;
  /** Most folds (default 25 for one-class detectors, 5 for supervised ones). */
  folds?: number;
  seed?: number;
}

/** Parts for data that comes as one piece (one trace, one short stretch): `count` windows cut into `parts` runs in order. */
export function segmentParts(count: number, parts = 10): Int32Array {
  return Int32Array.from({ length: count }, (_, i) => Math.floor((i * parts) / count));
}

/**
 * The fold of each part: parts dealt to `folds` folds in a seeded order, so
 * neither file order nor time decides which parts are held out together.
 */
export function dealFolds(parts: readonly number[], folds: number, seed: number): Map<number, number> {
  const order = [...parts];
  const rand = new Prng(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rand.uint32() % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return new Map(order.map((p, i) => [p, i % folds]));
}

/** Checks a budget from the command line or an API caller. */
export function checkBudget(budget: number, unit: BudgetUnit): number {
  const max = unit === 'trace' ? 0.5 : 3600;
  if (!(Number.isFinite(budget) && budget > 0 && budget <= max)) {
    throw new SyswardenError(
      'ERR_INVALID_INPUT',
      `false-alarm budget ${budget} is out of range. Fix: give a rate above 0 and at most ${max} (${unit === 'trace' ? 'a share of normal traces, e.g. 0.05' : 'false alarms per container-hour, e.g. 1'}).`,
    );
  }
  return budget;
}

function distinct(a: Int32Array, count: number): number[] {
  const s = new Set<number>();
  for (let i = 0; i < count; i++) s.add(a[i]!);
  return [...s].sort((x, y) => x - y);
}

/**
 * Fits a detector on all the training data and sets its alarm threshold to
 * meet a false-alarm budget on normal data it did not learn from:
 * the normal parts are dealt (seeded) into k folds; each fold is scored by a
 * model learnt from the other folds, through the same frame decision as
 * live scoring, and each part's highest decision score is its peak. The
 * threshold is then chosen from the peaks (see thresholdFromPeaks).
 */
export function calibrate(input: CalibrateInput): { detector: Detector; calibration: Calibration; heldOut: () => HeldOut } {
  const { normal, partOf, factory } = input;
  checkBudget(input.budget, input.unit);
  if (!normal.source) throw new SyswardenError('ERR_INVALID_INPUT', 'calibration needs the stream of every window.');
  if (partOf.length < normal.count) throw new SyswardenError('ERR_INVALID_INPUT', 'calibration needs the part of every window.');
  const parts = distinct(partOf, normal.count);
  if (parts.length < 2) {
    throw new SyswardenError(
      'ERR_NO_DATA',
      `${factory.name}: the normal training data is one ${input.part === 'trace' ? 'trace' : 'stretch'}, so there is nothing to hold out and measure false alarms on. Fix: give at least 2 normal traces (or train live for longer).`,
    );
  }
  // One part per fold up to 25 (leave-one-out: two similar parts never hide each other);
  // supervised detectors cost a fit per fold: 5.
  const supervised = factory.create(input.options).supervised;
  const folds = Math.min(parts.length, Math.max(2, Math.round(input.folds ?? (supervised ? 5 : 25))));
  const foldOf = dealFolds(parts, folds, input.seed ?? 1);

  const trim = input.trim ?? windowTrim(normal.size, input.frame);
  // The model itself is fitted first: a detector whose scale comes from its data passes it on to the fold models.
  const detector = factory.create(input.options);
  if (input.attack && detector.supervised) detector.fit(concatWindows([normal, input.attack]));
  else detector.fit(normal, partOf.subarray(0, normal.count));
  const foldOptions = { ...input.options, ...detector.calibrationOptions?.() };
  const peakOf = new Map<number, number>(parts.map((p) => [p, 0]));
  // Each stream's peak within each part (a thread that lives through several parts is one unit per part), for the stream-level tail.
  const streamPeakOf = new Map<number, number>();
  const partIndex = new Map<number, number>(parts.map((p, i) => [p, i]));
  /** The window at which each part peaked (where its peak is above 0), for the held-out sample. */
  const peakAt = new Map<number, number>();
  // Each window's fold, and each fold's size: one map lookup per window, not one per window and fold.
  const foldOfWindow = new Int32Array(normal.count);
  const foldSize = new Int32Array(folds);
  for (let i = 0; i < normal.count; i++) foldSize[(foldOfWindow[i] = foldOf.get(partOf[i]!)!)]!++;
  for (let f = 0; f < folds; f++) {
    const learnIdx = new Int32Array(normal.count - foldSize[f]!);
    const heldIdx = new Int32Array(foldSize[f]!);
    for (let i = 0, l = 0, h = 0; i < normal.count; i++) {
      if (foldOfWindow[i] === f) heldIdx[h++] = i;
      else learnIdx[l++] = i;
    }
    // A supervised fold model learns from as large a share of the attack windows as of the normal ones: a
    // classifier's scores move with its classes' balance, and the fold models' must be on the final model's scale.
    const foldModel = factory.create(foldOptions);
    const learn = selectWindows(normal, learnIdx);
    foldModel.fit(input.attack && foldModel.supervised ? concatWindows([learn, attackOutside(input.attack, folds, f)]) : learn);
    const held = selectWindows(normal, heldIdx);
    const decided = decisionScores(held, foldModel.score(held), input.frame, trim);
    for (let k = 0; k < heldIdx.length; k++) {
      const p = partOf[heldIdx[k]!]!;
      const key = normal.source[heldIdx[k]!]! * parts.length + partIndex.get(p)!;
      const was = streamPeakOf.get(key);
      if (was === undefined || decided[k]! > was) streamPeakOf.set(key, decided[k]!);
      if (decided[k]! > peakOf.get(p)!) {
        peakOf.set(p, decided[k]!);
        peakAt.set(p, heldIdx[k]!);
      }
    }
  }
  const peaks = Float64Array.from(peakOf.values()).sort();
  const streamPeaks = Float64Array.from(streamPeakOf.values()).sort();
  const calibration = calibrationFromPeaks(peaks, { ...input, trim, folds, streamPeaks, how: `${folds}-fold cross-validation, frame means` }, detector);
  // Sampled only when asked (train keeps it in the model; eval does not).
  return { detector, calibration, heldOut: () => sampleHeldOut(normal, partOf, peakAt) };
}

/**
 * The attack windows a supervised fold model learns from: every `folds`-th
 * window left out, from offset `f`, so that it has the final model's balance
 * of classes and still every attack (a window's neighbours overlap it).
 */
function attackOutside(attack: WindowSet, folds: number, f: number): WindowSet {
  if (attack.count < folds) return attack;
  const idx = new Int32Array(attack.count - Math.ceil((attack.count - f) / folds));
  for (let i = 0, k = 0; i < attack.count; i++) if (i % folds !== f) idx[k++] = i;
  return selectWindows(attack, idx);
}

/** What a threshold is set for, beside the held-out peaks (see calibrationFromPeaks). */
export interface PeaksInput {
  budget: number;
  unit: BudgetUnit;
  part: Calibration['part'];
  /** Hours per part (unit 'hour'). */
  partHours?: number;
  frame: number;
  trim: number;
  folds: number;
  /** How the peaks were measured, for the rule (e.g. '25-fold cross-validation, frame means'). */
  how: string;
  /** The highest decision score of each held-out stream within each part, ascending (see streamTailThreshold). */
  streamPeaks?: Float64Array;
}

/**
 * The calibration that meets `input.budget` on held-out `peaks` (ascending)
 * of `detector`: the one rule for training and for merged models. A
 * threshold above the highest score any window can reach is refused
 * (ERR_UNREACHABLE_THRESHOLD): a model that could never alarm is not saved.
 */
export function calibrationFromPeaks(peaks: Float64Array, input: PeaksInput, detector: Detector): Calibration {
  const partHours = input.unit === 'hour' ? input.partHours ?? 0 : 0;
  if (input.unit === 'hour' && !(partHours > 0)) throw new SyswardenError('ERR_INVALID_INPUT', 'an hourly budget needs the length of each held-out part.');
  const perPart = input.unit === 'hour' ? Math.min(0.5, input.budget * partHours) : input.budget;
  const max = detector.maxScore();
  const chosen = thresholdFromPeaks(peaks, perPart, max, input.streamPeaks);
  const calibration: Calibration = {
    frame: input.frame,
    trim: input.trim,
    threshold: chosen.threshold,
    budget: input.budget,
    unit: input.unit,
    part: input.part,
    partHours,
    peaks,
    folds: input.folds,
    observed: chosen.observed,
    expected: input.unit === 'hour' ? chosen.expected / partHours : chosen.expected,
    rule: describe(chosen, peaks.length, input.how, input.part, perPart),
  };
  // Strictly: a threshold a hair above the bound (just above a peak that is the bound) is still one no frame can reach.
  if (chosen.threshold > max) {
    const [t, m] = twoNumbers(chosen.threshold, max);
    throw new SyswardenError(
      'ERR_UNREACHABLE_THRESHOLD',
      `${detector.name}: meeting a budget of ${formatBudget(calibration)} needs a threshold of ${t}, above the highest score ${m} any window can reach: the model could never alarm, so it was not saved. ` +
        `Fix: train on more normal data, allow more false alarms (--false-alarms), or choose another --detector.`,
    );
  }
  return calibration;
}

export interface ChosenThreshold {
  threshold: number;
  /** Share of peaks at or above the threshold. */
  observed: number;
  /** Estimated probability that a new part's peak reaches it. */
  expected: number;
  how: 'quantile' | 'tail' | 'floor' | 'above-rare' | 'above-all' | 'streams';
  /** Tail only: the scale's point estimate was used, because its upper bound put the threshold above the ceiling. */
  pointEstimate?: boolean;
  /** Tail only: counting every part in full (no part may be an outlier at this rate) raised the threshold above the robust fit to the upper half. */
  everyPart?: boolean;
}

/**
 * The threshold for a per-part false-alarm rate `rate`, from held-out peaks:
 * - When the peaks are enough to count that rate (rate·(n+1) >= 2): the
 *   lowest threshold that at most a = floor(rate·(n+1)) - 1 peaks reach (an
 *   empirical quantile: a new part's peak reaches it with probability
 *   (a+1)/(n+1) <= rate, and the few most unusual parts do not set it).
 * - Otherwise the rate is finer than n parts can count, and the threshold is
 *   extrapolated from the upper half of the peaks, modelled as an
 *   exponential tail (peaks-over-threshold, Pickands 1975): with m the
 *   median peak and s the median excess over m divided by ln 2 (a scale
 *   that one outlying part cannot move much), P(peak >= m + x) = 0.5·e^(-x/s),
 *   so the threshold is m + s·ln(0.5 / rate), with s at its upper
 *   TAIL_CONFIDENCE bound (tailScaleBound): a handful of excesses leave the
 *   scale uncertain, and a threshold at the point estimate lets through more
 *   than the budget half the time. It may sit below the highest
 *   peak: one unusual part is allowed to be unusual. But not two: where the
 *   fitted tail would let two or more held-out parts alarm (the peaks are a
 *   mixture, e.g. a rare normal activity several parts share), the data
 *   overrules the model and the threshold is just above the second highest
 *   peak. Nor one, where one alarm among n parts is implausible at the rate
 *   (oneOutlierPlausible: short live training against an hourly budget):
 *   then no part is an outlier and every part counts in full: the upper
 *   half's scale is at least its mean excess over m (which the rare high
 *   parts move), the threshold is at least that of a second tail fitted to
 *   every peak, a shifted exponential (origin the lowest peak, scale the
 *   mean excess of the others over it, at its upper TAIL_CONFIDENCE bound:
 *   P(peak >= lo + x) = e^(-x/s)), and at least just above the highest
 *   peak. The median excess alone misleads there: a tight cluster of peaks
 *   with a few far above it (a rare normal path) has a median excess near
 *   zero, so the tail ends just above the cluster and the threshold sat
 *   just above the highest peak, below that path's next occurrence.
 *   Measured on the demo's web application (bench/live-calibration.mjs,
 *   two 300 s captures, models learnt from successive 40 s and scored on
 *   every later 4 s): 5 of 44 models alarmed on later normal traffic, in up
 *   to 2/3 of its stretches; with every part counted, none.
 * - When more than half the peaks equal the highest (a tail of zero width,
 *   e.g. no held-out window was unusual at all) there is no tail to
 *   extrapolate: the threshold is just above the highest peak.
 */
export function thresholdFromPeaks(peaks: Float64Array, rate: number, ceiling = Infinity, streams?: Float64Array): ChosenThreshold {
  const n = peaks.length;
  if (n === 0) throw new SyswardenError('ERR_NO_DATA', 'no held-out normal data to set a threshold on.');
  const sorted = Float64Array.from(peaks).sort();
  const reach = (t: number) => {
    let c = 0;
    for (let i = 0; i < n; i++) if (sorted[i]! >= t) c++;
    return c / n;
  };
  const allowed = quantileAllowance(n, rate);
  if (allowed >= 1) {
    // The (allowed+1)-th highest peak must stay below the threshold: a new part
    // exceeds it with probability (allowed + 1) / (n + 1) <= rate.
    const t = justAbove(sorted[n - 1 - allowed]!);
    const observed = reach(t);
    return { threshold: t, observed, expected: (allowed + 1) / (n + 1), how: 'quantile' };
  }
  const m = median(sorted);
  const excess: number[] = [];
  for (let i = 0; i < n; i++) if (sorted[i]! > m) excess.push(sorted[i]! - m);
  // Where no part may be an outlier (see oneOutlierPlausible), every part counts in full: the upper half's
  // scale is at least its mean excess (the exponential's maximum-likelihood scale, which the rare high parts
  // move), and a second tail is fitted to every peak, a shifted exponential from the lowest (which a spread
  // of the whole, not only of the top, moves).
  const allowOne = oneOutlierPlausible(n, rate);
  const medianScale = excess.length > 0 ? median(Float64Array.from(excess).sort()) / Math.LN2 : 0;
  const meanScale = !allowOne && excess.length > 0 ? excess.reduce((a, b) => a + b, 0) / excess.length : 0;
  const s = Math.max(medianScale, meanScale);
  const lo = sorted[0]!;
  let sumAll = 0;
  for (let i = 1; i < n; i++) sumAll += sorted[i]! - lo;
  const sAll = !allowOne && n >= 2 ? sumAll / (n - 1) : 0;
  // Where no part may be an outlier, the streams' own tail bounds the threshold from below too (see streamTail).
  const byStreams = !allowOne && streams ? streamTail(streams, n, rate, ceiling) : undefined;
  const withStreams = (c: ChosenThreshold): ChosenThreshold =>
    byStreams && byStreams.threshold > c.threshold
      ? { threshold: byStreams.threshold, observed: reach(byStreams.threshold), expected: Math.min(rate, byStreams.expected), how: 'streams', ...(byStreams.pointEstimate ? { pointEstimate: true } : {}) }
      : c;
  if (!(s > 0) && !(sAll > 0)) {
    const t = justAbove(sorted[n - 1]!);
    return withStreams({ threshold: t, observed: 0, expected: 1 / (n + 1), how: 'above-all' });
  }
  // The scales are estimated from a handful of excesses; the threshold uses their upper confidence bound, so that
  // the budget is met with TAIL_CONFIDENCE, not only on average (a point estimate overshoots half the time).
  // Where that bound is beyond the ceiling (the highest score a window can reach: a model that could never
  // alarm), the point estimate is the threshold, as long as it is reachable.
  // An exponential tail from `origin`, reached by a share `share` of parts, with its scale times `bound`.
  const tailAt = (origin: number, share: number, scale: number, bound: number) => (scale > 0 ? origin + scale * bound * Math.log(share / rate) : -Infinity);
  const upperBound = tailScaleBound(excess.length);
  const confident = Math.max(tailAt(m, 0.5, s, upperBound), tailAt(lo, 1, sAll, tailScaleBound(n - 1)));
  const pointEstimate = confident > ceiling;
  const t = pointEstimate ? Math.max(tailAt(m, 0.5, s, 1), tailAt(lo, 1, sAll, 1)) : confident;
  // Whether counting every part in full moved the threshold (beside the robust fit alone).
  const everyPart = t > tailAt(m, 0.5, medianScale, pointEstimate ? 1 : upperBound);
  const tail = { ...(pointEstimate ? { pointEstimate } : {}), ...(everyPart ? { everyPart } : {}) };
  const expectedAt = (x: number) => Math.min(rate, Math.max(s > 0 ? 0.5 * Math.exp(-(x - m) / s) : 0, sAll > 0 ? Math.exp(-(x - lo) / sAll) : 0));
  // The tail is a model; the peaks are data. Where the model would let more
  // than one held-out part alarm (a mixture: a rare normal activity that
  // several parts share), the data wins: the threshold rises to just above
  // the second highest peak, so only one outlying part may reach it. And
  // that one only where a single alarm among n parts is a plausible sight at
  // the budget's rate (see oneOutlierPlausible): otherwise the part that
  // would alarm is normal behaviour recurring far more often than the budget
  // allows, and the threshold rises above it too.
  const floor = allowOne ? (n >= 3 ? justAbove(sorted[n - 2]!) : -Infinity) : justAbove(sorted[n - 1]!);
  if (floor > t) return withStreams({ threshold: floor, observed: reach(floor), expected: expectedAt(floor), how: allowOne ? 'floor' : 'above-rare' });
  return withStreams({ threshold: t, observed: reach(t), expected: expectedAt(t), how: 'tail', ...tail });
}

/** Share of the held-out streams' peaks the streams' tail is fitted to: the highest (see streamTail). */
export const STREAM_TAIL_SHARE = 0.1;

/**
 * The threshold the held-out streams' own peaks call for (peaks over a
 * threshold, exceedances counted per part as a Poisson rate: Davison and
 * Smith 1990). A part's peak is the highest of its streams' peaks, so its
 * spread is their tail's spread; but where one program's request path
 * repeats in every part, every part peaks at the same value and the parts
 * show little or no spread, while the streams below them do. The demo's
 * web application does this (18 of 20 parts at one value in one run); a
 * model of it learnt under a test suite's load had its threshold at 1.152,
 * and a client run under heavier load scored 1.182.
 * The streams' peaks (one per stream per part, ascending) above the
 * (k+1)-th highest, u, with k the highest STREAM_TAIL_SHARE of them (deep
 * enough that the many runs of one request path, all peaking at one value,
 * do not fill it; or the whole tied top block, when they do), are modelled
 * as exponential excesses with their mean as scale (at its upper
 * TAIL_CONFIDENCE bound), reached by λ = k/parts streams per part: a part
 * alarms at rate λ·e^(-(x-u)/s), so the threshold is u + s·ln(λ / rate).
 * Undefined when the streams have no spread at all, or when even the point
 * estimate is past the ceiling (the parts' own rule stands then).
 */
export function streamTail(streams: Float64Array, parts: number, rate: number, ceiling = Infinity): { threshold: number; expected: number; pointEstimate: boolean } | undefined {
  const n = streams.length;
  let k = Math.min(n - 1, Math.max(1, Math.round(STREAM_TAIL_SHARE * n)));
  if (k < 1) return undefined;
  // A tied top block has no excess over its own value: the tail starts below it.
  while (k < n - 1 && streams[n - 1 - k]! === streams[n - 1]!) k++;
  const u = streams[n - 1 - k]!;
  let sum = 0;
  for (let i = n - k; i < n; i++) sum += streams[i]! - u;
  const scale = sum / k;
  if (!(scale > 0)) return undefined;
  const lambda = k / parts;
  const at = (bound: number) => u + scale * bound * Math.log(Math.max(1, lambda / rate));
  const confident = at(tailScaleBound(k));
  const pointEstimate = confident > ceiling;
  const threshold = pointEstimate ? at(1) : confident;
  if (threshold > ceiling) return undefined;
  return { threshold, expected: Math.min(lambda, lambda * Math.exp(-(threshold - u) / scale)), pointEstimate };
}

/** Confidence with which a threshold extrapolated from the tail meets the budget (see tailScaleBound). */
export const TAIL_CONFIDENCE = 0.9;

/**
 * The factor that turns a tail scale estimated from k excesses into its
 * upper TAIL_CONFIDENCE bound. For exponential excesses with scale s, the
 * sum of k of them is s/2 times a chi-square variable of 2k degrees of
 * freedom, so the scale is at most 2k·ŝ / chi2(1 - TAIL_CONFIDENCE; 2k) with
 * that confidence: 2.1 for 5 excesses (10 held-out parts), 1.5 for 20,
 * towards 1 as the data grows. (ŝ here comes from the median excess, which
 * one outlying part cannot move; it is treated as if it were the mean.)
 */
export function tailScaleBound(k: number): number {
  if (k < 1) return 1;
  return (2 * k) / chiSquareQuantileEven(1 - TAIL_CONFIDENCE, k);
}

/**
 * Quantile p of the chi-square distribution with 2k degrees of freedom, by
 * bisection on its distribution function, which for an even number of
 * degrees is a Poisson sum: P(X <= x) = 1 - sum_{i<k} e^(-x/2) (x/2)^i / i!.
 */
function chiSquareQuantileEven(p: number, k: number): number {
  // The terms in logs: e^(-x/2) underflows long before k reaches the thousands of parts an hourly budget can have.
  const logs = new Float64Array(k);
  const cdf = (x: number): number => {
    const h = x / 2;
    const lh = Math.log(h);
    let top = -Infinity;
    for (let i = 0; i < k; i++) {
      logs[i] = i === 0 ? -h : logs[i - 1]! + lh - Math.log(i);
      if (logs[i]! > top) top = logs[i]!;
    }
    let sum = 0;
    for (let i = 0; i < k; i++) sum += Math.exp(logs[i]! - top);
    return 1 - Math.exp(top) * sum;
  };
  let lo = 0;
  let hi = 2 * k + 20 * Math.sqrt(k) + 20;
  for (let it = 0; it < 100; it++) {
    const mid = (lo + hi) / 2;
    if (cdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Below this chance of being seen at the budget's rate, one held-out part's alarm is evidence against the threshold, not an outlier. */
export const OUTLIER_PLAUSIBILITY = 0.05;

/**
 * Whether one of n held-out parts alarming is a plausible sight when alarms
 * come at `rate` per part: the chance of at least one among n,
 * 1 - (1 - rate)^n, is at least OUTLIER_PLAUSIBILITY. Twelve normal traces at
 * 0.05 per trace: 0.46, so one outlying trace may be let through (and must
 * not set the threshold). Twenty seconds of live training in ten parts at one
 * alarm per hour: 0.0056, so a part that alarms shows normal behaviour that
 * would alarm some 180 times an hour, and the threshold must stay above it.
 */
export function oneOutlierPlausible(n: number, rate: number): boolean {
  return 1 - Math.pow(1 - rate, n) >= OUTLIER_PLAUSIBILITY;
}

/**
 * Peaks that may reach an empirical threshold: a new part's peak exceeds the
 * (a+1)-th highest of n with probability (a + 1) / (n + 1), so a =
 * floor(rate·(n+1)) - 1. Below 1 (the maximum itself would be the
 * threshold), the tail is extrapolated instead: one outlying part must not
 * set it.
 */
function quantileAllowance(n: number, rate: number): number {
  return Math.floor(rate * (n + 1) + 1e-9) - 1;
}

function median(sorted: Float64Array): number {
  const n = sorted.length;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

function partWord(part: Calibration['part'], n: number): string {
  if (part === 'trace') return n === 1 ? 'normal trace' : 'normal traces';
  if (part === 'time') return n === 1 ? 'stretch of training time' : 'stretches of training time';
  return n === 1 ? 'segment of the training data' : 'segments of the training data';
}

function describe(c: ChosenThreshold, n: number, how: string, part: Calibration['part'], rate: number): string {
  const held = `${n} held-out ${partWord(part, n)} (${how})`;
  if (c.how === 'quantile') return `the lowest threshold that at most ${quantileAllowance(n, rate)} of the peaks of ${held} reach (a new part's peak then reaches it with probability ${quantileAllowance(n, rate) + 1}/${n + 1})`;
  if (c.how === 'floor') return `just above the second highest peak of ${held}: the exponential tail fitted to their upper half would let more than one of them alarm, so only the single most unusual one may`;
  if (c.how === 'tail') {
    const scale = c.pointEstimate
      ? "its scale's point estimate (its upper bound would put the threshold above the highest score a window can reach)"
      : `its scale's ${Math.round(TAIL_CONFIDENCE * 100)} % upper confidence bound`;
    const fit = c.everyPart
      ? `from the peaks of ${held} with every part counted in full (at this rate no part may be an outlier): the higher of an exponential tail fitted to their upper half at its mean excess and one fitted to every peak from the lowest, at ${scale}`
      : `from the upper half of the peaks of ${held}, modelled as an exponential tail, at ${scale}`;
    return `extrapolated ${fit} (a rate of ${rate.toPrecision(2)} per part is finer than ${n} parts can count)`;
  }
  if (c.how === 'streams') {
    const scale = c.pointEstimate ? "its scale's point estimate (its upper bound would put the threshold above the highest score a window can reach)" : `its scale's ${Math.round(TAIL_CONFIDENCE * 100)} % upper confidence bound`;
    return (
      `extrapolated from the peaks of the streams within ${held}: their highest ${Math.round(STREAM_TAIL_SHARE * 100)} %, modelled as an exponential tail at ${scale}, ` +
      `since the parts' peaks alone (each the highest of its streams) show less spread than their streams do (a rate of ${rate.toPrecision(2)} per part is finer than ${n} parts can count)`
    );
  }
  if (c.how === 'above-rare') {
    return `just above the highest peak of ${held}: the exponential tail fitted to their upper half would let one of them alarm, and at a rate of ${rate.toPrecision(2)} per part one alarm among ${n} parts is too unlikely to be an outlier`;
  }
  return `just above the highest peak of ${held}: more than half of them peak at the same value, so there is no tail to extrapolate`;
}

/** The budget in words, e.g. "0.05 per normal trace" or "1 per container-hour". */
export function formatBudget(c: Pick<Calibration, 'budget' | 'unit'>): string {
  return `${Number(c.budget.toPrecision(3))} false alarm${c.budget === 1 ? '' : 's'} per ${c.unit === 'trace' ? 'normal trace' : 'container-hour'}`;
}

/** A model's calibration in a few lines, for train and watch. */
export function formatCalibration(c: Calibration): string {
  const q = (p: number) => c.peaks[Math.min(c.peaks.length - 1, Math.floor(p * (c.peaks.length - 1)))]!;
  const num = (v: number) => String(Number(v.toPrecision(4)));
  return [
    `budget: ${formatBudget(c)}`,
    `threshold: ${num(c.threshold)} on the mean score of the last ${c.frame} windows of a thread${c.trim > 0 ? ` (less its ${c.trim} highest)` : ''}; ${c.rule}`,
    `held-out peaks: min ${num(c.peaks[0]!)}, median ${num(q(0.5))}, 90% ${num(q(0.9))}, max ${num(c.peaks[c.peaks.length - 1]!)}; ` +
      `${Math.round(c.observed * c.peaks.length)} of ${c.peaks.length} reach the threshold`,
    `expected false alarms: ${num(c.expected)} per ${c.unit === 'trace' ? 'normal trace' : 'container-hour'}`,
  ].join('\n');
}

/**
 * A calibration whose threshold is stated, not measured: for tests and for
 * embedders who set their own threshold. Its rule says so, and it carries a
 * single peak (the threshold itself) so that every field is well formed.
 */
export function statedCalibration(threshold: number, frame = 1, trim = 0): Calibration {
  return {
    frame,
    trim,
    threshold,
    budget: DEFAULT_BUDGET.trace,
    unit: 'trace',
    part: 'trace',
    partHours: 0,
    peaks: Float64Array.of(threshold),
    folds: 1,
    observed: 0,
    expected: 0,
    rule: 'stated by the caller, not calibrated on data',
  };
}
