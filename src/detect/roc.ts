/**
 * Trace-level ROC analysis. Each number is one trace's peak decision score (its
 * highest window score); a trace alarms at threshold t when peak >= t, the same
 * rule as `confusion()` in metrics.ts. Attack traces are the positive class.
 */
import { SyswardenError } from '../errors.js';

export interface RocPoint {
  /** Share of normal traces that alarm at `threshold`. */
  fa: number;
  /** Share of attack traces that alarm at `threshold`. */
  dr: number;
  threshold: number;
}

export interface Roc {
  /**
   * One point per distinct peak, by decreasing threshold (so fa and dr never
   * decrease), preceded by the alarm-on-nothing point (0, 0) at threshold
   * +Infinity when that threshold silences every trace (it cannot when a peak is
   * +Infinity). Empty when either class is empty: rates would be 0/0.
   */
  points: RocPoint[];
  /** P(attack peak > normal peak) + 0.5 P(equal), exactly; null when either class is empty. */
  auc: number | null;
  normals: number;
  attacks: number;
}

export interface HindsightPoint {
  dr: number;
  fa: number;
  threshold: number;
}

export interface OperatingPoint {
  /** Share of attack traces detected; null when there are no attack traces. */
  dr: number | null;
  /** Share of normal traces that alarm; null when there are no normal traces. */
  fa: number | null;
  detected: number;
  falseAlarms: number;
  normals: number;
  attacks: number;
}

function sortedPeaks(peaks: ArrayLike<number>, cls: string, fn: string): Float64Array {
  const out = new Float64Array(peaks.length);
  for (let i = 0; i < peaks.length; i++) {
    const v = peaks[i]!;
    if (Number.isNaN(v)) {
      throw new SyswardenError('ERR_INVALID_INPUT', `${fn}: ${cls} peak ${i} is NaN. Fix: leave out traces that have no scored window, and find why the detector scored NaN.`);
    }
    out[i] = v;
  }
  return out.sort();
}

/**
 * The ROC curve of peak scores over every distinct threshold, and the exact
 * AUC. Traces with equal peaks always move together: no threshold separates them.
 * O(n log n) for the sorts, linear after.
 */
export function rocOf(normalPeaks: ArrayLike<number>, attackPeaks: ArrayLike<number>): Roc {
  const normal = sortedPeaks(normalPeaks, 'normal', 'rocOf');
  const attack = sortedPeaks(attackPeaks, 'attack', 'rocOf');
  const n = normal.length;
  const m = attack.length;
  if (n === 0 || m === 0) return { points: [], auc: null, normals: n, attacks: m };

  const points: RocPoint[] = [];
  if (normal[n - 1]! < Infinity && attack[m - 1]! < Infinity) points.push({ fa: 0, dr: 0, threshold: Infinity });
  // Walk both ascending arrays from the top; i, j = how many of each are >= the current threshold.
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    // The next threshold is the larger of the two highest peaks not yet passed.
    const t = i === n ? attack[m - 1 - j]! : j === m ? normal[n - 1 - i]! : Math.max(normal[n - 1 - i]!, attack[m - 1 - j]!);
    while (i < n && normal[n - 1 - i]! === t) i++;
    while (j < m && attack[m - 1 - j]! === t) j++;
    points.push({ fa: i / n, dr: j / m, threshold: t });
  }

  // Mann-Whitney in integers (twice the U statistic) so the ratio is exact up to one division.
  let u2 = 0;
  let below = 0; // normals strictly below the current attack value
  for (let a = 0; a < m; ) {
    const v = attack[a]!;
    let count = 0;
    while (a < m && attack[a]! === v) {
      a++;
      count++;
    }
    while (below < n && normal[below]! < v) below++;
    let equal = 0;
    while (below + equal < n && normal[below + equal]! === v) equal++;
    u2 += count * (2 * below + equal);
  }
  return { points, auc: u2 / (2 * n * m), normals: n, attacks: m };
}

/**
 * The best detection rate whose false-alarm rate is at most `fa`, and the
 * highest threshold that gives it (the lowest false-alarm rate for that DR).
 *
 * This is a HINDSIGHT figure: the threshold is chosen by looking at the test
 * labels, so it is an upper bound on what a threshold fixed before testing
 * would achieve, not an operating point. Report it as such, next to the
 * operating point of the threshold actually deployed (`operatingPoint`).
 *
 * Null when a class is empty or no threshold keeps the false-alarm rate within
 * `fa` (possible only when a normal peak is +Infinity and `fa` is below its share).
 */
export function drAtFalseAlarm(roc: Roc, fa: number): HindsightPoint | null {
  if (typeof fa !== 'number' || !(fa >= 0 && fa <= 1)) {
    throw new SyswardenError('ERR_INVALID_INPUT', `drAtFalseAlarm: the false-alarm target must be a number in [0, 1], got ${fa}. Fix: give a rate such as 0.01 for 1%.`);
  }
  const pts = roc.points;
  // fa is non-decreasing along the curve: find the last point within the target.
  let lo = 0;
  let hi = pts.length; // first index with fa > target
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pts[mid]!.fa <= fa) lo = mid + 1;
    else hi = mid;
  }
  if (lo === 0) return null;
  let k = lo - 1;
  // Same DR at a higher threshold means fewer false alarms: prefer it.
  while (k > 0 && pts[k - 1]!.dr === pts[k]!.dr) k--;
  const p = pts[k]!;
  return { dr: p.dr, fa: p.fa, threshold: p.threshold };
}

/** Counts and rates at one fixed threshold (peak >= threshold alarms). */
export function operatingPoint(normalPeaks: ArrayLike<number>, attackPeaks: ArrayLike<number>, threshold: number): OperatingPoint {
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) {
    throw new SyswardenError('ERR_INVALID_INPUT', `operatingPoint: threshold must be a number, got ${threshold}. Fix: pass the detector's calibrated threshold.`);
  }
  const count = (peaks: ArrayLike<number>, cls: string): number => {
    let c = 0;
    for (let i = 0; i < peaks.length; i++) {
      const v = peaks[i]!;
      if (Number.isNaN(v)) {
        throw new SyswardenError('ERR_INVALID_INPUT', `operatingPoint: ${cls} peak ${i} is NaN. Fix: leave out traces that have no scored window, and find why the detector scored NaN.`);
      }
      if (v >= threshold) c++;
    }
    return c;
  };
  const falseAlarms = count(normalPeaks, 'normal');
  const detected = count(attackPeaks, 'attack');
  const normals = normalPeaks.length;
  const attacks = attackPeaks.length;
  return {
    dr: attacks === 0 ? null : detected / attacks,
    fa: normals === 0 ? null : falseAlarms / normals,
    detected,
    falseAlarms,
    normals,
    attacks,
  };
}
