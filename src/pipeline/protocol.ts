// Messages between the pipeline (main thread) and its scoring workers.
// Live, attached to a collector, records do not pass here: the collector's
// consumer thread writes each worker's records into that worker's ring
// (route-ring.ts). Pushed batches (replay, recordings) travel as
// SharedArrayBuffers holding the raw 16-byte records: one copy per batch
// on the main thread, and every worker reads the same memory, taking the
// threads that hash to it. Workers report their progress in shared memory
// (WorkerProgress) and send a message only for alerts and for the main
// thread's sync requests.
import type { Alert } from '../alert/alert.js';
import { routeRingProblem } from './route-ring.js';

export interface WorkerInit {
  index: number;
  workers: number;
  /** The model file's bytes (each worker restores its own detector). */
  model: Uint8Array;
  modelName: string;
  /** Close an incident after this many non-alarming windows of its thread. */
  quietWindows: number;
  /** Forget a thread after this long without a call (kernel clock, ns). */
  idleNs: number;
  /** Nice value for the worker's thread. */
  /** Nice value for the worker thread, or null to keep the inherited one. */
  nice: number | null;
  /**
   * Where the worker says how far it got, without a message per batch (see
   * WorkerProgress): a message wakes the main thread, and at a million
   * events a second two acknowledgements per batch were most of its wakeups.
   */
  progress: SharedArrayBuffer;
}

/**
 * A worker's progress, in shared memory: the sequence number of the last
 * batch it finished (as an int32: compare with seqReached), stored with
 * Atomics after its running totals (events, windows, alarms, threads held).
 * A batch that raised alerts also sends them in an 'ack' message, posted
 * before its sequence number is stored.
 */
export const PROGRESS_BYTES = 8 + 5 * 8;
/** totals[PROGRESS_RING_READ]: live, routed, the ring's read count (u32) up to which the totals count; stored before the ring's own. */
export const PROGRESS_RING_READ = 4;
export function progressViews(buf: SharedArrayBuffer): { seq: Int32Array; totals: Float64Array } {
  return { seq: new Int32Array(buf, 0, 1), totals: new Float64Array(buf, 8, 5) };
}
/** Whether a worker whose last finished batch is `done` (int32) has finished batch `seq` (fewer than 2^31 batches apart). */
export function seqReached(done: number, seq: number): boolean {
  return ((done - (seq | 0)) | 0) >= 0;
}

export type ToWorker =
  | {
      type: 'batch';
      seq: number;
      buffer: SharedArrayBuffer;
      count: number;
      live: boolean;
      /**
       * The process events the workers act on, as [position, kind, tid, arg]
       * quads in record order, placed before record `position`: the same
       * markers the collector writes among a worker's records when it routes
       * them (route-ring.ts): MARK_EXIT (tid's history ends), and for a
       * model with per-executable profiles MARK_EXEC (arg: the profile, -1
       * the container-wide one) and MARK_FORK (tid is new, arg its parent).
       */
      marks?: number[];
    }
  | { type: 'flush'; seq: number }
  /** Answered with 'synced' once everything posted before it is done (and its alerts posted), and its ring read to the end. */
  | { type: 'sync'; seq: number }
  /** Read records from this ring (route-ring.ts) from now on: the collector writes them there. */
  | { type: 'ring'; ring: SharedArrayBuffer };

/** An alert as the worker knows it; the main thread adds the container and the time. */
export type WorkerAlert = Omit<Alert, 'time' | 'container' | 'latencyMs' | 'incident'> & { slot: number; incidentKey: number };

export type FromWorker =
  | { type: 'ready'; index: number }
  /** The alerts of a batch (or of a flush); batches without any are acknowledged in WorkerProgress only. */
  | { type: 'ack'; seq: number; index: number; live: boolean; alerts: WorkerAlert[] }
  | { type: 'synced'; seq: number }
  | { type: 'fatal'; index: number; message: string };

/** Which worker owns a thread: every event of one thread goes to one worker, so its windows stay whole. */
export function ownerOf(tid: number, workers: number): number {
  return (Math.imul(tid, 0x9e3779b1) >>> 0) % workers;
}

/** Bytes per record, as the worker reads batches (RECORD_LAYOUT.size; kept here so the protocol has no capture import). */
const RECORD_BYTES = 16;

/**
 * Why `m` is not a message a worker can act on, or undefined when it is one.
 * A worker must never index a buffer by a count it was not given room for:
 * a count beyond the buffer made the typed-array views throw mid-batch and
 * kill the worker, a missing buffer crashed it on the spot.
 */
export function toWorkerProblem(m: unknown): string | undefined {
  if (typeof m !== 'object' || m === null) return `a message must be an object, got ${m === null ? 'null' : typeof m}`;
  const o = m as Record<string, unknown>;
  const seqOk = typeof o.seq === 'number' && Number.isSafeInteger(o.seq) && o.seq >= 0;
  if (o.type === 'ring') {
    if (!(o.ring instanceof SharedArrayBuffer)) return 'a ring message carries no ring';
    const problem = routeRingProblem(o.ring);
    return problem === undefined ? undefined : `a ring message's ring is broken: ${problem}`;
  }
  if (o.type === 'flush' || o.type === 'sync') return seqOk ? undefined : `a ${o.type} message has seq ${String(o.seq)}, not a whole number`;
  if (o.type !== 'batch') return `unknown message type '${String(o.type).slice(0, 40)}'`;
  if (!seqOk) return `a batch message has seq ${String(o.seq)}, not a whole number`;
  if (!(o.buffer instanceof SharedArrayBuffer)) return 'a batch message carries no SharedArrayBuffer';
  if (typeof o.count !== 'number' || !Number.isSafeInteger(o.count) || o.count < 0 || o.count * RECORD_BYTES > o.buffer.byteLength) {
    return `a batch message counts ${String(o.count)} records in a buffer of ${o.buffer.byteLength} bytes`;
  }
  if (typeof o.live !== 'boolean') return `a batch message has live ${String(o.live).slice(0, 40)}, not a boolean`;
  if (o.marks !== undefined) {
    const p = o.marks;
    if (!Array.isArray(p) || p.length % 4 !== 0 || !p.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= -1)) {
      return 'a batch message has marks that are not [position, kind, tid, arg] quads of whole numbers';
    }
  }
  return undefined;
}
