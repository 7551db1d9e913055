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

interface Ring {
  scores: Float64Array;
  pos: number;
  sum: number;
  /** Non-zero scores in the frame: when none is left, the mean is exactly 0, whatever the running sum's rounding left. */
  nonZero: number;
}

export class FrameDecision {
  private readonly rings = new Map<number, Ring>();
  // Consecutive windows mostly belong to one stream: skip the map then.
  private lastSource = Number.NaN;
  private last: Ring | undefined;

  constructor(readonly frame: number) {
    if (!Number.isInteger(frame) || frame < 1 || frame > MAX_FRAME) {
      throw new SyswardenError('ERR_INVALID_INPUT', `decision frame ${frame} is out of range. Fix: use a whole number of windows from 1 to ${MAX_FRAME}.`);
    }
  }

  /** Adds one window score to `source`'s frame; returns the frame mean. */
  push(source: number, score: number): number {
    let r = source === this.lastSource ? this.last : this.rings.get(source);
    if (r === undefined) {
      r = { scores: new Float64Array(this.frame), pos: 0, sum: 0, nonZero: 0 };
      this.rings.set(source, r);
    }
    this.lastSource = source;
    this.last = r;
    const old = r.scores[r.pos]!;
    r.sum += score - old;
    r.nonZero += (score !== 0 ? 1 : 0) - (old !== 0 ? 1 : 0);
    r.scores[r.pos] = score;
    r.pos = r.pos + 1 === this.frame ? 0 : r.pos + 1;
    // A running sum drifts in floating point; it is exact again at each frame turn.
    if (r.pos === 0) {
      let s = 0;
      for (let i = 0; i < this.frame; i++) s += r.scores[i]!;
      r.sum = s;
    }
    if (r.nonZero === 0) r.sum = 0;
    return r.sum / this.frame;
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

/** Frame-mean decision scores of a whole window set, each stream from a fresh frame. */
export function decisionScores(windows: WindowSet, scores: Float64Array, frame: number): Float64Array {
  return new FrameDecision(frame).decide(windows, scores);
}
