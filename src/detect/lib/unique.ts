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

export function hashRow(data: Uint16Array, off: number, size: number): number {
  let h = 0x811c9dc5 ^ size;
  for (let j = 0; j < size; j++) {
    h = Math.imul(h ^ data[off + j]!, 0x01000193);
    h ^= h >>> 15;
  }
  return Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
}

/**
 * An open-addressing hash set of the rows of one array (`size` numbers per
 * row), holding row numbers: finds a row's equal without comparing it to all.
 */
export class RowTable {
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(
    private readonly data: Uint16Array,
    private readonly size: number,
    capacity: number,
  ) {
    let cap = 16;
    while (cap < capacity * 2) cap <<= 1;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap).fill(-1);
  }

  /**
   * The row of the table equal to `rows[off .. off + size)`, or -1. With
   * `insertAs` given, an absent row is inserted as that row number (which must
   * hold the same numbers in the table's data).
   */
  find(rows: Uint16Array, off: number, insertAs = -1): number {
    const { data, size, slots, mask } = this;
    let s = hashRow(rows, off, size) & mask;
    for (;;) {
      const r = slots[s]!;
      if (r < 0) {
        if (insertAs >= 0) slots[s] = insertAs;
        return -1;
      }
      const roff = r * size;
      let j = 0;
      while (j < size && data[roff + j] === rows[off + j]) j++;
      if (j === size) return r;
      s = (s + 1) & mask;
    }
  }
}

/** Distinct windows with per-class counts. */
export function uniqueWindows(set: WindowSet, which?: 'normal' | 'attack'): UniqueWindows {
  const { size, count, data, labels } = set;
  const table = new RowTable(data, size, count);
  const index = new Int32Array(count).fill(-1);
  const firstOf: number[] = [];
  const wantLabel = which === undefined ? -1 : which === 'normal' ? 0 : 1;
  for (let i = 0; i < count; i++) {
    const lab = labels ? labels[i]! : 0;
    if (wantLabel >= 0 && lab !== wantLabel) continue;
    const r = table.find(data, i * size, i);
    if (r < 0) {
      index[i] = firstOf.length;
      firstOf.push(i);
    } else index[i] = index[r]!;
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
