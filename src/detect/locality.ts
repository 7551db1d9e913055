import type { StreamScorer } from './detector.js';
import type { WindowSet } from '../window/window-set.js';

/**
 * Locality frames (Forrest et al. 1996): per stream, the last L evidence
 * bits (1 = the window was anomalous) as a ring, and how many are set.
 * STIDE and lookup score a window by that count over L, so one odd window
 * in a long normal stretch weighs little and a burst weighs a lot.
 */
interface Ring {
  bits: Uint8Array;
  pos: number;
  sum: number;
}

export class LocalityFrames {
  private readonly rings = new Map<number, Ring>();
  // Consecutive windows mostly belong to one stream: skip the map then.
  private lastSource = Number.NaN;
  private last: Ring | undefined;

  constructor(readonly length: number) {}

  /** Add one bit to `source`'s frame; returns the set bits among its last `length`. */
  push(source: number, bit: number): number {
    let r = source === this.lastSource ? this.last : this.rings.get(source);
    if (r === undefined) {
      r = { bits: new Uint8Array(this.length), pos: 0, sum: 0 };
      this.rings.set(source, r);
    }
    this.lastSource = source;
    this.last = r;
    r.sum += bit - r.bits[r.pos]!;
    r.bits[r.pos] = bit;
    r.pos = r.pos + 1 === this.length ? 0 : r.pos + 1;
    return r.sum;
  }

  forget(source: number): void {
    this.rings.delete(source);
    if (source === this.lastSource) {
      this.lastSource = Number.NaN;
      this.last = undefined;
    }
  }
}

/** A stream scorer whose per-source frames persist across batches. */
export function localityStreamScorer(
  length: number,
  scoreWith: (frames: LocalityFrames, windows: WindowSet, out: Float64Array) => Float64Array,
): StreamScorer {
  const frames = new LocalityFrames(length);
  return {
    score: (windows, out = new Float64Array(windows.count)) => scoreWith(frames, windows, out),
    forget: (source) => frames.forget(source),
  };
}
