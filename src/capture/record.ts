import type { ProcEvent } from './proc-event.js';

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
  slot: 14, // u16: the target id (see below), named for the slot it starts with
});

/**
 * Target ids (bpf/event.h). An event carries the id of the target it
 * matched, fixed when it was captured: the target's slot (index of its
 * kernel counters) in the low SLOT_BITS bits and the slot's generation
 * above them. The Collector gives a freed slot to a new target as late as
 * it can, under the next generation, so an id names one target for a long
 * time (8 generations of 4096 slots), and an event still in flight when its
 * target is removed never names the target that came after.
 */
export const SLOT_BITS = 12;
export const SLOT_MASK = (1 << SLOT_BITS) - 1;
export const GENERATION_MASK = 0x7;
/**
 * Every target id is below this. With the kernel's shed bit (0x8000) set,
 * 0x7ffe and 0x7fff would read as its "no match" and SLOT_ALL, so slots
 * 4094 and 4095 skip generation 7.
 */
export const TARGET_ID_LIMIT = 0x7ffe;

/** Target id of events recorded in all-processes mode. */
export const SLOT_ALL = 0xffff;

/** The slot of a target id. */
export function targetSlot(id: number): number {
  return id & SLOT_MASK;
}

/** The generation of a target id: how many targets had its slot before it (modulo 8). */
export function targetGeneration(id: number): number {
  return (id >>> SLOT_BITS) & GENERATION_MASK;
}

/** The id of the target given `slot` after the one with id `previous` (or the slot's first, with no previous). */
export function nextTargetId(slot: number, previous?: number): number {
  let gen = previous === undefined ? 0 : (targetGeneration(previous) + 1) & GENERATION_MASK;
  if (((gen << SLOT_BITS) | slot) >= TARGET_ID_LIMIT) gen = 0;
  return (gen << SLOT_BITS) | slot;
}

/** Strides and field indices for Uint32Array / Uint16Array views over raw records (hot loops index these directly; SLOT_U16 is the target id). */
export const U32_PER_RECORD = RECORD_LAYOUT.size / 4;
export const U16_PER_RECORD = RECORD_LAYOUT.size / 2;
export const TID_U32 = RECORD_LAYOUT.tid / 4;
export const TS_LO_U32 = RECORD_LAYOUT.ts_ns / 4;
export const NR_U16 = RECORD_LAYOUT.nr / 2;
export const SLOT_U16 = RECORD_LAYOUT.slot / 2;

const NO_PROC: readonly ProcEvent[] = Object.freeze([]);

/** Process events that came with a batch: decoded, and the raw records they were decoded from. */
export interface ProcBatch {
  events: readonly ProcEvent[];
  bytes: ArrayBuffer;
}

/** A batch of raw records as drained from the ring in one pass. */
export class EventBatch {
  /** Raw records, `count * RECORD_LAYOUT.size` bytes; transferable to a worker. */
  readonly buffer: ArrayBuffer;
  readonly count: number;
  /** CLOCK_MONOTONIC (ns) when the consumer thread took the batch from the ring. */
  readonly drainedNs: bigint;
  /** The process events (exec, fork, exit) that came with these records, in ring order; each one's `at` places it among them. */
  readonly proc: readonly ProcEvent[];
  /** The same, as the raw records the kernel wrote (what a recording keeps). */
  readonly procBytes: ArrayBuffer | undefined;
  private readonly u32: Uint32Array;
  private readonly u16: Uint16Array;

  constructor(buffer: ArrayBuffer, drainedNs: bigint = 0n, proc?: ProcBatch) {
    if (buffer.byteLength % RECORD_LAYOUT.size !== 0) {
      throw new RangeError(`batch of ${buffer.byteLength} bytes is not a whole number of ${RECORD_LAYOUT.size}-byte records`);
    }
    this.buffer = buffer;
    this.count = buffer.byteLength / RECORD_LAYOUT.size;
    this.drainedNs = drainedNs;
    this.proc = proc?.events ?? NO_PROC;
    this.procBytes = proc?.bytes;
    this.u32 = new Uint32Array(buffer);
    this.u16 = new Uint16Array(buffer);
  }

  nr(i: number): number {
    return this.u16[i * U16_PER_RECORD + NR_U16]!;
  }
  tid(i: number): number {
    return this.u32[i * U32_PER_RECORD + TID_U32]!;
  }
  /** The id of the target event `i` matched (SLOT_ALL in all-processes mode): what Collector.target() takes. */
  targetId(i: number): number {
    return this.u16[i * U16_PER_RECORD + SLOT_U16]!;
  }
  /** The record's `slot` field, which carries the target id: the same as targetId(i). */
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
