import type { Detector } from '../detector.js';
import type { WindowSet } from '../../window/window-set.js';
import { hashRow } from './unique.js';

/**
 * Remembered scores of the windows a detector scored last, for live scoring:
 * a service repeats a few windows millions of times (nginx under load: 99 %
 * of windows are among its last few thousand), and looking one up costs one
 * hash against the several table lookups or the search of scoring it. Valid
 * because a window's score depends on that window alone (the Detector
 * contract). Direct-mapped and bounded: a new window takes its slot from
 * whichever it collides with. The table is made at the first score, so a
 * model no thread uses costs nothing.
 */
export class ScoreMemo {
  private keys: Uint16Array | undefined;
  private scores = new Float64Array(0);
  private filled = new Uint8Array(0);
  private readonly mask: number;
  private missAt = new Int32Array(0);
  private slotOf = new Int32Array(0);
  private missRows = new Uint16Array(0);
  private missScores = new Float64Array(0);
  /** Windows looked up, and those found. */
  looked = 0;
  found = 0;

  constructor(
    readonly detector: Detector,
    private readonly slots = 4096,
  ) {
    if (!Number.isInteger(Math.log2(slots))) throw new RangeError(`ScoreMemo: slots must be a power of two, got ${slots}`);
    this.mask = slots - 1;
  }

  /** The detector's score of every window, as detector.score() would give it. */
  score(windows: WindowSet, out: Float64Array): Float64Array {
    const { size, count, data } = windows;
    if (size !== this.detector.windowSize) return this.detector.score(windows, out); // its own error
    const keys = (this.keys ??= new Uint16Array(this.slots * size));
    if (this.filled.length === 0) {
      this.scores = new Float64Array(this.slots);
      this.filled = new Uint8Array(this.slots);
    }
    if (this.missAt.length < count) {
      const n = Math.max(count, this.missAt.length * 2);
      this.missAt = new Int32Array(n);
      this.slotOf = new Int32Array(n);
    }
    const { scores, filled, missAt, slotOf, mask } = this;
    let misses = 0;
    for (let w = 0; w < count; w++) {
      const off = w * size;
      const s = hashRow(data, off, size) & mask;
      if (filled[s] === 1) {
        const ko = s * size;
        let j = 0;
        while (j < size && keys[ko + j] === data[off + j]) j++;
        if (j === size) {
          out[w] = scores[s]!;
          continue;
        }
      }
      missAt[misses] = w;
      slotOf[misses++] = s;
    }
    this.looked += count;
    this.found += count - misses;
    if (misses === 0) return out;
    if (misses === count) {
      // Nothing known (the first windows, or a burst of novelty): score in place, no copy.
      this.detector.score(windows, out);
      for (let w = 0; w < count; w++) this.remember(slotOf[w]!, data, w * size, size, out[w]!);
      return out;
    }
    if (this.missScores.length < misses) {
      const n = Math.max(misses, this.missScores.length * 2);
      this.missScores = new Float64Array(n);
      this.missRows = new Uint16Array(n * size);
    }
    const rows = this.missRows;
    for (let k = 0; k < misses; k++) {
      const off = missAt[k]! * size;
      for (let j = 0; j < size; j++) rows[k * size + j] = data[off + j]!;
    }
    const got = this.detector.score({ size, count: misses, data: rows.subarray(0, misses * size) }, this.missScores);
    for (let k = 0; k < misses; k++) {
      out[missAt[k]!] = got[k]!;
      this.remember(slotOf[k]!, rows, k * size, size, got[k]!);
    }
    return out;
  }

  private remember(slot: number, rows: Uint16Array, off: number, size: number, score: number): void {
    const keys = this.keys!;
    const ko = slot * size;
    for (let j = 0; j < size; j++) keys[ko + j] = rows[off + j]!;
    this.scores[slot] = score;
    this.filled[slot] = 1;
  }
}
