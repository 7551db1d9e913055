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

/**
 * A model of the pipeline's table (model-table.ts), as a worker loads it:
 * each worker restores its own detectors from the bytes. `profiles`: for
 * each of the model's per-executable profiles, in its order, the index the
 * exec markers give that executable (the pipeline's one list of profiled
 * executables, over all its models).
 */
export interface WorkerModel {
  id: number;
  bytes: Uint8Array;
  name: string;
  profiles: number[];
}

/** A model id no model has (on the wire, u32): the target goes back to the default model, or to none. */
export const NO_MODEL = 0xffffffff;

export interface WorkerInit {
  index: number;
  workers: number;
  /** The models of the table when the worker starts (later ones come in 'model' messages). */
  models: WorkerModel[];
  /** The id of the model that scores every target without one of its own, or NO_MODEL (their records are counted unscored). */
  defaultModel: number;
  /** Targets with a model of their own when the worker starts: [target id, model id] pairs. */
  assigned: number[];
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
export const PROGRESS_BYTES = 8 + 7 * 8;
/** totals[PROGRESS_RING_READ]: live, routed, the ring's read count (u32) up to which the totals count; stored before the ring's own. */
export const PROGRESS_RING_READ = 4;
/** totals[PROGRESS_UNSCORED]: events of the worker's threads whose target had no model (none of its own, no default). */
export const PROGRESS_UNSCORED = 5;
/** totals[PROGRESS_UNJUDGED]: threads whose calls ended too few for any window of theirs to alarm (Scorer.judgeable). */
export const PROGRESS_UNJUDGED = 6;
export function progressViews(buf: SharedArrayBuffer): { seq: Int32Array; totals: Float64Array } {
  return { seq: new Int32Array(buf, 0, 1), totals: new Float64Array(buf, 8, 7) };
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
  | { type: 'ring'; ring: SharedArrayBuffer }
  /** Load a model of the table (answered with 'model-loaded'); nothing names it before the answer. */
  | { type: 'model'; model: WorkerModel }
  /**
   * Pushed batches: what a ring's MARK_MODEL marker says (route-ring.ts), in
   * order with the batches. 'assign': the target's records from here on
   * are scored by `model` (NO_MODEL: by the default model, or none);
   * 'release': nothing names `model` from here on.
   */
  | { type: 'assign'; target: number; model: number }
  | { type: 'release'; model: number };

/** An alert as the worker knows it; the main thread adds the container and the time. */
export type WorkerAlert = Omit<Alert, 'time' | 'container' | 'latencyMs' | 'incident'> & { slot: number; incidentKey: number };

export type FromWorker =
  | { type: 'ready'; index: number }
  /** The alerts of a batch (or of a flush); batches without any are acknowledged in WorkerProgress only. */
  | { type: 'ack'; seq: number; index: number; live: boolean; alerts: WorkerAlert[] }
  | { type: 'synced'; seq: number }
  | { type: 'model-loaded'; index: number; model: number }
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
  const u32 = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= NO_MODEL;
  if (o.type === 'model') {
    const w = o.model as Partial<WorkerModel> | undefined;
    if (typeof w !== 'object' || w === null || !u32(w.id) || !(w.bytes instanceof Uint8Array) || typeof w.name !== 'string') return 'a model message carries no model (id, bytes, name)';
    if (!Array.isArray(w.profiles) || !w.profiles.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= -1 && x < 0xfff0)) return "a model message's profiles are not executable indices";
    return undefined;
  }
  if (o.type === 'assign') return typeof o.target === 'number' && Number.isInteger(o.target) && o.target >= 0 && o.target <= 0xffff && u32(o.model) ? undefined : 'an assign message needs a target id (u16) and a model id';
  if (o.type === 'release') return u32(o.model) ? undefined : 'a release message needs a model id';
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
