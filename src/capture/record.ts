/**
 * The TypeScript decoder of `struct sw_event` (bpf/event.h). Records stay in
 * the buffer the addon handed over; these are strided typed-array views, so
 * decoding allocates nothing per event. test/capture/record-layout.test.ts
 * checks these offsets against the BTF of the compiled BPF object.
 */
export const RECORD_LAYOUT = Object.freeze({
  size: 16,
  ts_ns: 0, // u64
  tid: 8, // u32
  nr: 12, // u16
  slot: 14, // u16
});

/** Slot value of events recorded in all-processes mode. */
export const SLOT_ALL = 0xffff;

/** Strides and field indices for Uint32Array / Uint16Array views over raw records (hot loops index these directly). */
export const U32_PER_RECORD = RECORD_LAYOUT.size / 4;
export const U16_PER_RECORD = RECORD_LAYOUT.size / 2;
export const TID_U32 = RECORD_LAYOUT.tid / 4;
export const TS_LO_U32 = RECORD_LAYOUT.ts_ns / 4;
export const NR_U16 = RECORD_LAYOUT.nr / 2;
export const SLOT_U16 = RECORD_LAYOUT.slot / 2;

/** A batch of raw records as drained from the ring in one pass. */
export class EventBatch {
  /** Raw records, `count * RECORD_LAYOUT.size` bytes; transferable to a worker. */
  readonly buffer: ArrayBuffer;
  readonly count: number;
  /** CLOCK_MONOTONIC (ns) when the consumer thread took the batch from the ring. */
  readonly drainedNs: bigint;
  private readonly u32: Uint32Array;
  private readonly u16: Uint16Array;

  constructor(buffer: ArrayBuffer, drainedNs: bigint = 0n) {
    if (buffer.byteLength % RECORD_LAYOUT.size !== 0) {
      throw new RangeError(`batch of ${buffer.byteLength} bytes is not a whole number of ${RECORD_LAYOUT.size}-byte records`);
    }
    this.buffer = buffer;
    this.count = buffer.byteLength / RECORD_LAYOUT.size;
    this.drainedNs = drainedNs;
    this.u32 = new Uint32Array(buffer);
    this.u16 = new Uint16Array(buffer);
  }

  nr(i: number): number {
    return this.u16[i * U16_PER_RECORD + NR_U16]!;
  }
  tid(i: number): number {
    return this.u32[i * U32_PER_RECORD + TID_U32]!;
  }
  slot(i: number): number {
    return this.u16[i * U16_PER_RECORD + SLOT_U16]!;
  }
  /** Kernel timestamp in ns (exact below 2^53 ns, i.e. ~104 days of uptime). */
  tsNs(i: number): number {
    const j = i * U32_PER_RECORD + TS_LO_U32;
    return this.u32[j + 1]! * 4294967296 + this.u32[j]!;
  }

  /** Columns as separate typed arrays (one copy per column), for code that wants them. */
  columns(): { nr: Uint16Array; tid: Uint32Array; slot: Uint16Array; tsNs: Float64Array } {
    const n = this.count;
    const nr = new Uint16Array(n);
    const tid = new Uint32Array(n);
    const slot = new Uint16Array(n);
    const tsNs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      nr[i] = this.u16[i * U16_PER_RECORD + NR_U16]!;
      slot[i] = this.u16[i * U16_PER_RECORD + SLOT_U16]!;
      tid[i] = this.u32[i * U32_PER_RECORD + TID_U32]!;
      const j = i * U32_PER_RECORD + TS_LO_U32;
      tsNs[i] = this.u32[j + 1]! * 4294967296 + this.u32[j]!;
    }
    return { nr, tid, slot, tsNs };
  }
}
