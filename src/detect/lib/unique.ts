import type { WindowSet } from '../../window/window-set.js';

/**
 * The windows of a trace set are massively repeated (350K windows of size 15
 * hold about 11K distinct ones), so every classifier fits and scores the
 * distinct windows once, carrying how often each occurs per class.
 */
export interface UniqueWindows {
  readonly size: number;
  /** Number of distinct windows. */
  readonly count: number;
  /** `count * size` syscall numbers, in order of first occurrence. */
  readonly data: Uint16Array;
  /** Occurrences per distinct window labelled normal (all, when the set has no labels). */
  readonly normal: Float64Array;
  /** Occurrences per distinct window labelled attack. */
  readonly attack: Float64Array;
  /** For every input window, the index of its distinct window. */
  readonly index: Int32Array;
}

function hashRow(data: Uint16Array, off: number, size: number): number {
  let h = 0x811c9dc5 ^ size;
  for (let j = 0; j < size; j++) {
    h = Math.imul(h ^ data[off + j]!, 0x01000193);
    h ^= h >>> 15;
  }
  return Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
}

/** Distinct windows with per-class counts, keyed by an open-addressing hash table. */
export function uniqueWindows(set: WindowSet, which?: 'normal' | 'attack'): UniqueWindows {
  const { size, count, data, labels } = set;
  let cap = 16;
  while (cap < count * 2) cap <<= 1;
  const mask = cap - 1;
  const slots = new Int32Array(cap).fill(-1);
  const index = new Int32Array(count).fill(-1);
  const firstOf: number[] = [];
  const wantLabel = which === undefined ? -1 : which === 'normal' ? 0 : 1;
  for (let i = 0; i < count; i++) {
    const lab = labels ? labels[i]! : 0;
    if (wantLabel >= 0 && lab !== wantLabel) continue;
    const off = i * size;
    let s = hashRow(data, off, size) & mask;
    for (;;) {
      const u = slots[s]!;
      if (u < 0) {
        slots[s] = firstOf.length;
        index[i] = firstOf.length;
        firstOf.push(i);
        break;
      }
      const uoff = firstOf[u]! * size;
      let same = true;
      for (let j = 0; j < size; j++) {
        if (data[uoff + j] !== data[off + j]) {
          same = false;
          break;
        }
      }
      if (same) {
        index[i] = u;
        break;
      }
      s = (s + 1) & mask;
    }
  }
  const n = firstOf.length;
  const out = new Uint16Array(n * size);
  for (let u = 0; u < n; u++) out.set(data.subarray(firstOf[u]! * size, firstOf[u]! * size + size), u * size);
  const normal = new Float64Array(n);
  const attack = new Float64Array(n);
  for (let i = 0; i < count; i++) {
    const u = index[i]!;
    if (u < 0) continue;
    if (labels && labels[i] === 1) attack[u]! += 1;
    else normal[u]! += 1;
  }
  return { size, count: n, data: out, normal, attack, index };
}

/**
 * Score every window by scoring each distinct window once: `scoreRows` gets the
 * distinct rows and returns one score per row.
 */
export function scoreDistinct(
  windows: WindowSet,
  out: Float64Array | undefined,
  scoreRows: (rows: Uint16Array, count: number) => Float64Array,
): Float64Array {
  const res = out ?? new Float64Array(windows.count);
  if (res.length < windows.count) throw new RangeError(`out has ${res.length} slots for ${windows.count} windows`);
  const uniq = uniqueWindows({ size: windows.size, count: windows.count, data: windows.data });
  const s = scoreRows(uniq.data, uniq.count);
  for (let i = 0; i < windows.count; i++) res[i] = s[uniq.index[i]!]!;
  return res;
}
