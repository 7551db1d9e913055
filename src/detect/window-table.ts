import { GrowableUint16 } from '../trace/growable.js';

/**
 * An open-addressing hash index of short uint16 sequences (windows, bags,
 * n-grams), keyed by two independent 32-bit hashes: a 64-bit key, so two
 * different sequences share a key with probability ~n^2/2^65 (negligible for
 * the ~10^5 distinct windows of a trace set), and lookups never allocate or
 * compare the sequences themselves. Entries get dense ids 0, 1, ... in
 * insertion order so callers can keep per-entry data in plain typed arrays.
 */
export class WindowTable {
  /** Per slot: hash a, hash b, id + 1 (0 = empty). */
  private slots: Int32Array;
  private mask: number;
  private ha = 0;
  private hb = 0;
  /** Number of entries. */
  size = 0;

  constructor(expected = 1024) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.slots = new Int32Array(cap * 3);
    this.mask = cap - 1;
  }

  private hash(data: Uint16Array, off: number, len: number): void {
    let a = 0x9747b28c ^ len;
    let b = 0x5bd1e995 ^ Math.imul(len, 0x27d4eb2f);
    for (let i = 0; i < len; i++) {
      const v = data[off + i]!;
      a = Math.imul(a ^ v, 0xcc9e2d51);
      a = (a << 15) | (a >>> 17);
      a = Math.imul(a, 0x1b873593);
      b = Math.imul(b + v + 0x7f4a7c15, 0x85ebca77);
      b ^= b >>> 13;
    }
    a ^= a >>> 16;
    a = Math.imul(a, 0x85ebca6b);
    a ^= a >>> 13;
    a = Math.imul(a, 0xc2b2ae35);
    a ^= a >>> 16;
    b = Math.imul(b ^ (b >>> 15), 0x2c1b3c6d);
    b ^= b >>> 12;
    this.ha = a;
    this.hb = b;
  }

  /** Id of the sequence `data[off .. off+len)`, or -1 when absent. */
  lookup(data: Uint16Array, off: number, len: number): number {
    this.hash(data, off, len);
    const a = this.ha;
    const b = this.hb;
    const slots = this.slots;
    const mask = this.mask;
    let i = a & mask;
    for (;;) {
      const p = i * 3;
      const id = slots[p + 2]!;
      if (id === 0) return -1;
      if (slots[p] === a && slots[p + 1] === b) return id - 1;
      i = (i + 1) & mask;
    }
  }

  /** Id of the sequence, inserting it when new (the new id is the old size). */
  insert(data: Uint16Array, off: number, len: number): number {
    const found = this.lookup(data, off, len);
    if (found >= 0) return found;
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const id = this.size++;
    this.place(this.ha, this.hb, id + 1);
    return id;
  }

  private place(a: number, b: number, idPlus1: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = a & mask;
    while (slots[i * 3 + 2] !== 0) i = (i + 1) & mask;
    slots[i * 3] = a;
    slots[i * 3 + 1] = b;
    slots[i * 3 + 2] = idPlus1;
  }

  private grow(): void {
    const old = this.slots;
    const cap = (this.mask + 1) * 2;
    this.slots = new Int32Array(cap * 3);
    this.mask = cap - 1;
    for (let p = 0; p < old.length; p += 3) {
      if (old[p + 2] !== 0) this.place(old[p]!, old[p + 1]!, old[p + 2]!);
    }
  }

  clear(): void {
    this.slots.fill(0);
    this.size = 0;
  }
}

/**
 * Distinct sequences of one length: their dense ids (a WindowTable) and
 * their calls, row-major in id order, which is what a model saves and what
 * BoSC scans. One place for "index it, and keep a copy when it is new".
 */
export class SequenceStore {
  private readonly table: WindowTable;
  private readonly rows: GrowableUint16;

  constructor(readonly length: number, expected = 1024) {
    this.table = new WindowTable(expected);
    this.rows = new GrowableUint16(expected * length);
  }

  /** Number of distinct sequences. */
  get size(): number {
    return this.table.size;
  }

  /** Id of the sequence at `data[off ..)`, or -1 when absent. */
  lookup(data: Uint16Array, off: number): number {
    return this.table.lookup(data, off, this.length);
  }

  /** Id of the sequence at `data[off ..)`, stored when new (ids 0, 1, ... in order of first sight). */
  add(data: Uint16Array, off: number): number {
    const before = this.table.size;
    const id = this.table.insert(data, off, this.length);
    if (id === before) this.rows.append(data.subarray(off, off + this.length));
    return id;
  }

  /** The sequences, row-major; shares memory until the next add. */
  view(): Uint16Array {
    return this.rows.view();
  }

  /** The sequences, row-major, as an exact-size copy. */
  toArray(): Uint16Array {
    return this.rows.toArray();
  }
}
