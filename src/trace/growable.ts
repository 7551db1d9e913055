/**
 * Append-only typed arrays that double their capacity, so a stream of
 * syscalls or windows of unknown length costs amortised O(1) per element
 * and one live buffer (plus the old one briefly while growing).
 */
export class GrowableUint16 {
  private buf: Uint16Array;
  length = 0;

  constructor(initialCapacity = 1024) {
    this.buf = new Uint16Array(Math.max(16, initialCapacity));
  }

  push(v: number): void {
    if (this.length === this.buf.length) this.reserve(this.length + 1);
    this.buf[this.length++] = v;
  }

  /** Makes room for `total` elements; returns the backing array (valid until the next grow). */
  reserve(total: number): Uint16Array {
    if (total > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < total) cap *= 2;
      const next = new Uint16Array(cap);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    return this.buf;
  }

  append(values: Uint16Array): void {
    this.reserve(this.length + values.length).set(values, this.length);
    this.length += values.length;
  }

  /** A view of the filled part; shares memory until the next grow. */
  view(): Uint16Array {
    return this.buf.subarray(0, this.length);
  }

  /** An exact-size copy, detached from this buffer. */
  toArray(): Uint16Array {
    return this.buf.slice(0, this.length);
  }

  clear(): void {
    this.length = 0;
  }
}

export class GrowableInt32 {
  private buf: Int32Array;
  length = 0;

  constructor(initialCapacity = 1024) {
    this.buf = new Int32Array(Math.max(16, initialCapacity));
  }

  push(v: number): void {
    if (this.length === this.buf.length) this.reserve(this.length + 1);
    this.buf[this.length++] = v;
  }

  reserve(total: number): Int32Array {
    if (total > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < total) cap *= 2;
      const next = new Int32Array(cap);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    return this.buf;
  }

  view(): Int32Array {
    return this.buf.subarray(0, this.length);
  }

  toArray(): Int32Array {
    return this.buf.slice(0, this.length);
  }

  clear(): void {
    this.length = 0;
  }
}
