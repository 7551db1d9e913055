// A scoring worker's ring (native/route_ring.h holds the same layout): the
// collector's consumer thread writes the records of the threads a worker
// owns straight into it, and the worker reads them, without the main
// JavaScript thread (single producer, single consumer, in a
// SharedArrayBuffer). Counts are of 16-byte units and wrap at 2^32.

import { RECORD_LAYOUT } from '../capture/record.js';

/** Header words (Int32Array indices), each on its own cache line. */
export const ROUTE_WRITE = 0;
export const ROUTE_READ = 16;
export const ROUTE_WANT_WAKE = 32;
export const ROUTE_CAPACITY = 48;
export const ROUTE_HEADER_BYTES = 256;
/** The unit: one struct sw_event. */
const UNIT_BYTES = RECORD_LAYOUT.size;

/** Marker units' nr: the process events' record tags (bpf/event.h SW_REC_*), which no syscall number reaches. */
export { REC_EXEC as MARK_EXEC, REC_FORK as MARK_FORK, REC_EXIT as MARK_EXIT, REC_EXEC as MARK_MIN } from '../capture/proc-event.js';
/**
 * A marker user space puts into every ring (Collector.routeModel;
 * native/route_ring.h kRouteMarkModel): slot = a target id, tid = a model
 * id, the time's low word = MODEL_ASSIGN (the target's records after it
 * are scored by that model; NO_MODEL: by the default one) or MODEL_RELEASE
 * (no later unit names the model).
 */
export const MARK_MODEL = 0xfffe;
export const MODEL_ASSIGN = 0;
export const MODEL_RELEASE = 1;

/** Units a worker's ring holds by default: 4 MiB of records, about 0.25 s of a million calls a second. */
export const DEFAULT_ROUTE_UNITS = 1 << 18;

/** `units` if a ring can hold that many (a power of two from 64 to 2^26), else a RangeError. */
export function checkRouteUnits(units: number): number {
  if (!Number.isInteger(units) || units < 64 || (units & (units - 1)) !== 0 || units > 1 << 26) {
    throw new RangeError(`a worker ring holds a power of two from 64 to 2^26 records, got ${String(units)}`);
  }
  return units;
}

/** Why this buffer is not a whole ring (its capacity, in its header, checked against its size), or undefined. */
export function routeRingProblem(sab: SharedArrayBuffer): string | undefined {
  if (sab.byteLength < ROUTE_HEADER_BYTES) return `a ring of ${sab.byteLength} bytes has no header`;
  const units = Atomics.load(routeHeader(sab), ROUTE_CAPACITY);
  try {
    checkRouteUnits(units);
  } catch (err) {
    return (err as Error).message;
  }
  return ROUTE_HEADER_BYTES + units * UNIT_BYTES > sab.byteLength ? `a ring of ${sab.byteLength} bytes claims ${units} records` : undefined;
}

/** A ring of `units` (checkRouteUnits). */
export function createRouteRing(units: number): SharedArrayBuffer {
  checkRouteUnits(units);
  const sab = new SharedArrayBuffer(ROUTE_HEADER_BYTES + units * UNIT_BYTES);
  Atomics.store(new Int32Array(sab, 0, ROUTE_HEADER_BYTES / 4), ROUTE_CAPACITY, units);
  return sab;
}

/** The ring's header words. */
export function routeHeader(sab: SharedArrayBuffer): Int32Array {
  return new Int32Array(sab, 0, ROUTE_HEADER_BYTES / 4);
}

/** Units written and not yet read. */
export function routeBacklog(sab: SharedArrayBuffer): number {
  const h = routeHeader(sab);
  return (Atomics.load(h, ROUTE_WRITE) - Atomics.load(h, ROUTE_READ)) >>> 0;
}
