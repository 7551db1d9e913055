import { SyswardenError } from '../errors.js';
import type { WindowSet } from '../window/window-set.js';

/**
 * The stream-level decision: what alarms is not one window but a stretch of
 * a stream (a thread, or a trace's thread) whose windows look unusual
 * together. Each stream keeps the scores of its last `frame` windows; its
 * decision score is their mean (windows before the stream's frame-th count
 * as 0, so one odd window at a stream's start is not a full frame of
 * anomaly). A stream alarms while that mean is at or above the threshold.
 *
 * The highest `trim` scores of the frame (the window size, by default) are
 * left out: see the constructor.
 *
 * Why a frame mean (Forrest et al.'s locality frame, generalised from 0/1
 * mismatches to any score): one unusual window among normal ones — a signal
 * landing a call earlier, a read split in two — moves the mean by 1/frame of
 * its score, while an attack's burst of unusual calls moves it by many. It
 * has a fixed, small state per stream, it is bounded by the window score's
 * bound, and it is the same sum whether windows come in one batch or many:
 * eval, replay and watch all decide through this one class, window by window
 * in stream order, so they give the same decisions on the same input.
 */
export const DEFAULT_FRAME = 40;
export const MAX_FRAME = 10_000;

/**
 * The windows each frame leaves out by default: the window size (what one
 * displaced call can touch), at most all but one of the frame's windows.
 */
export function windowTrim(size: number, frame: number): number {
  return Math.min(size, frame - 1);
}

interface Ring {
  scores: Float64Array;
  pos: number;
  sum: number;
  /** Non-zero scores in the frame: when none is left, the mean is exactly 0, whatever the running sum's rounding left. */
  nonZero: number;
  /** Negative scores in the frame (a one-class SVM's inside-the-region windows): the quick upper bound needs none. */
  negative: number;
  /**
   * The frame's scores in ascending order, as of the last trimmed mean (null
   * until one is taken), and the (old, new) score pairs pushed since, up to
   * SORTED_LOG of them (`logged` past that: the next mean sorts afresh).
   * Applying a few changes to a sorted frame costs a few dozen moves where
   * sorting it again costs a sort; the scores, and the order they are summed
   * in, are the same either way.
   */
  sorted: Float64Array | null;
  log: Float64Array | null;
  logged: number;
}

/** Changes applied to a sorted frame before it is sorted afresh instead. */
const SORTED_LOG = 8;

export class FrameDecision {
  private readonly rings = new Map<number, Ring>();
  // Consecutive windows mostly belong to one stream: skip the map then.
  private lastSource = Number.NaN;
  private last: Ring | undefined;
  /** Windows a frame mean is taken over: the frame less the trimmed ones. */
  private readonly kept: number;

  /**
   * `trim`: the highest scores of each frame left out of its mean. One call
   * displaced in time (a signal handled a call earlier, a read split in two)
   * changes at most `window size` consecutive windows, so with trim = window
   * size no single displaced call can make a frame alarm, however surprising
   * the windows it makes; an attack's burst, more unusual windows than that,
   * still does. The mean is over the frame's other `frame - trim` windows.
   */
  constructor(
    readonly frame: number,
    readonly trim = 0,
  ) {
    if (!Number.isInteger(frame) || frame < 1 || frame > MAX_FRAME) {
      throw new SyswardenError('ERR_INVALID_INPUT', `decision frame ${frame} is out of range. Fix: use a whole number of windows from 1 to ${MAX_FRAME}.`);
    }
    if (!Number.isInteger(trim) || trim < 0 || trim >= frame) {
      throw new SyswardenError('ERR_INVALID_INPUT', `decision trim ${trim} is out of range for a frame of ${frame} windows. Fix: use a whole number from 0 to ${frame - 1} (a longer --frame for longer windows).`);
    }
    this.kept = frame - trim;
  }

  /** Adds one window score to `source`'s frame; returns the frame's decision score (its trimmed mean). */
  push(source: number, score: number): number {
    const r = this.add(source, score);
    return this.trim === 0 ? r.sum / this.frame : this.trimmedMean(r);
  }

  /**
   * push(), for a caller that only needs to know whether the decision score
   * reaches `threshold`: the exact score when it may, else a cheaper number
   * that is below `threshold` too (the untrimmed sum over the kept windows
   * bounds the trimmed one from above when no score is negative).
   */
  pushAgainst(source: number, score: number, threshold: number): number {
    const r = this.add(source, score);
    if (this.trim === 0) return r.sum / this.frame;
    if (r.negative === 0) {
      const bound = r.sum / this.kept;
      if (bound < threshold) return bound;
    }
    return this.trimmedMean(r);
  }

  private add(source: number, score: number): Ring {
    let r = source === this.lastSource ? this.last : this.rings.get(source);
    if (r === undefined) {
      r = { scores: new Float64Array(this.frame), pos: 0, sum: 0, nonZero: 0, negative: 0, sorted: null, log: null, logged: 0 };
      this.rings.set(source, r);
    }
    this.lastSource = source;
    this.last = r;
    const old = r.scores[r.pos]!;
    r.sum += score - old;
    r.nonZero += (score !== 0 ? 1 : 0) - (old !== 0 ? 1 : 0);
    r.negative += (score < 0 ? 1 : 0) - (old < 0 ? 1 : 0);
    r.scores[r.pos] = score;
    if (r.log !== null) {
      if (r.logged < SORTED_LOG) {
        r.log[2 * r.logged] = old;
        r.log[2 * r.logged + 1] = score;
      }
      r.logged++;
    }
    r.pos = r.pos + 1 === this.frame ? 0 : r.pos + 1;
    // A running sum drifts in floating point; it is exact again at each frame turn.
    if (r.pos === 0) {
      let s = 0;
      for (let i = 0; i < this.frame; i++) s += r.scores[i]!;
      r.sum = s;
    }
    if (r.nonZero === 0) r.sum = 0;
    return r;
  }

  /** Mean of the frame's `frame - trim` lowest scores (windows not yet seen count as 0). */
  private trimmedMean(r: Ring): number {
    // Every non-zero score is among the trimmed ones: the rest are zeros.
    if (r.negative === 0 && r.nonZero <= this.trim) return 0;
    const s = this.sortedFrame(r);
    let sum = 0;
    for (let i = 0; i < this.kept; i++) sum += s[i]!;
    return sum / this.kept;
  }

  /** The frame's scores in ascending order (see Ring.sorted). */
  private sortedFrame(r: Ring): Float64Array {
    const n = this.frame;
    if (r.sorted === null || r.log === null) {
      r.sorted = new Float64Array(n);
      r.log = new Float64Array(2 * SORTED_LOG);
      r.logged = SORTED_LOG + 1;
    }
    const s = r.sorted;
    if (r.logged > SORTED_LOG) {
      s.set(r.scores);
      s.sort();
      r.logged = 0;
      return s;
    }
    for (let k = 0; k < r.logged; k++) {
      const old = r.log[2 * k]!;
      const now = r.log[2 * k + 1]!;
      // NaN has no place in an order: sort as a whole, as before.
      if (old !== old || now !== now) {
        r.logged = SORTED_LOG + 1;
        return this.sortedFrame(r);
      }
      // Remove one `old` (it is there: it was in the frame), then insert `now`, shifting what lies between.
      let i = lowerBound(s, old);
      if (now >= old) {
        while (i + 1 < n && s[i + 1]! < now) {
          s[i] = s[i + 1]!;
          i++;
        }
      } else {
        while (i > 0 && s[i - 1]! > now) {
          s[i] = s[i - 1]!;
          i--;
        }
      }
      s[i] = now;
    }
    r.logged = 0;
    return s;
  }

  /** Drop a stream's frame (an exited thread). */
  forget(source: number): void {
    this.rings.delete(source);
    if (source === this.lastSource) {
      this.lastSource = Number.NaN;
      this.last = undefined;
    }
  }

  /** Streams with a frame. */
  get streams(): number {
    return this.rings.size;
  }

  /**
   * Decision scores of a batch of window scores, in window order (windows of
   * one stream in stream order; streams may interleave). Writes into `out`
   * (which may be `scores` itself).
   */
  decide(windows: WindowSet, scores: Float64Array, out: Float64Array = new Float64Array(windows.count)): Float64Array {
    const source = windows.source;
    for (let i = 0; i < windows.count; i++) out[i] = this.push(source ? source[i]! : 0, scores[i]!);
    return out;
  }
}

/** The first index of `s` (ascending) holding a value not below `v`. */
function lowerBound(s: Float64Array, v: number): number {
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (s[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Frame-mean decision scores of a whole window set, each stream from a fresh frame. */
export function decisionScores(windows: WindowSet, scores: Float64Array, frame: number, trim = 0): Float64Array {
  return new FrameDecision(frame, trim).decide(windows, scores);
}
