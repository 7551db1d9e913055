// Messages between the pipeline (main thread) and its scoring workers.
// Batches travel as SharedArrayBuffers holding the raw 16-byte records: one
// copy per batch on the main thread, none per event, and every worker reads
// the same memory, taking the threads that hash to it.
import type { Alert } from '../alert/alert.js';

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
}

export type ToWorker =
  | { type: 'batch'; seq: number; buffer: SharedArrayBuffer; count: number; live: boolean }
  | { type: 'flush'; seq: number };

/** An alert as the worker knows it; the main thread adds the container and the time. */
export type WorkerAlert = Omit<Alert, 'time' | 'container' | 'latencyMs' | 'incident'> & { slot: number; incidentKey: number };

export type FromWorker =
  | { type: 'ready'; index: number }
  | {
      type: 'ack';
      seq: number;
      index: number;
      events: number;
      windows: number;
      alarms: number;
      threads: number;
      alerts: WorkerAlert[];
    }
  | { type: 'fatal'; index: number; message: string };

/** Which worker owns a thread: every event of one thread goes to one worker, so its windows stay whole. */
export function ownerOf(tid: number, workers: number): number {
  return (Math.imul(tid, 0x9e3779b1) >>> 0) % workers;
}
