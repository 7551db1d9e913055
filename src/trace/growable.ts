/**
 * Append-only typed arrays that double their capacity, so a stream of
 * syscalls, windows or times of unknown length costs amortised O(1) per
 * element and one live buffer (plus the old one briefly while growing).
 */
type Typed = Uint16Array | Int32Array | Float64Array;

export interface Growable<A extends Typed> {
  length: number;
  push(v: number): void;
  /** Makes room for `total` elements; returns the backing array (valid until the next grow). */
  reserve(total: number): A;
  append(values: A): void;
  /** Adds `by` to the element at `index` (< length), without making a view. */
  add(index: number, by: number): void;
  /** A view of the filled part; shares memory until the next grow. */
  view(): A;
  /** An exact-size copy, detached from this buffer. */
  toArray(): A;
  clear(): void;
}

/**
 * One definition for every element type. Each call makes a class of its
 * own, with methods of its own, so each element type's push() stays
 * monomorphic on the hot paths (windowing, n-gram counting) instead of
 * one method seeing three kinds of array.
 */
function growable<A extends Typed>(make: (length: number) => A): new (initialCapacity?: number) => Growable<A> {
  return class {
    private buf: A;
    length = 0;

    constructor(initialCapacity = 1024) {
      this.buf = make(Math.max(16, initialCapacity));
    }

    push(v: number): void {
      if (this.length === this.buf.length) this.reserve(this.length + 1);
      this.buf[this.length++] = v;
    }

    reserve(total: number): A {
      if (total > this.buf.length) {
        let cap = this.buf.length * 2;
        while (cap < total) cap *= 2;
        const next = make(cap);
        next.set(this.buf.subarray(0, this.length));
        this.buf = next;
      }
      return this.buf;
    }

    append(values: A): void {
      this.reserve(this.length + values.length).set(values, this.length);
      this.length += values.length;
    }

    add(index: number, by: number): void {
      this.buf[index] = this.buf[index]! + by;
    }

    view(): A {
      return this.buf.subarray(0, this.length) as A;
    }

    toArray(): A {
      return this.buf.slice(0, this.length) as A;
    }

    clear(): void {
      this.length = 0;
    }
  };
}

export const GrowableUint16 = growable<Uint16Array>((n) => new Uint16Array(n));
export type GrowableUint16 = Growable<Uint16Array>;
export const GrowableInt32 = growable<Int32Array>((n) => new Int32Array(n));
export type GrowableInt32 = Growable<Int32Array>;
export const GrowableFloat64 = growable<Float64Array>((n) => new Float64Array(n));
export type GrowableFloat64 = Growable<Float64Array>;
