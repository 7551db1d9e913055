import { readFileSync } from 'node:fs';
import type { Alert, AlertRecord, ResponseRecord } from '../../src/alert/alert.js';
import { Collector } from '../../src/capture/collector.js';
import { AGENT_WORKER_NICE, Pipeline } from '../../src/pipeline/pipeline.js';
import { Responder, type ResponderOptions } from '../../src/response/responder.js';

/** A live watch of `targets` with an alarming model, its records (the pipeline's and the responder's) in one list, in order. */
export interface Watched {
  records: AlertRecord[];
  responder: Responder;
  responses(action?: ResponseRecord['action']): ResponseRecord[];
  alerts(): Alert[];
  close(): Promise<void>;
}

export async function watchAndRespond(targets: string[], model: string, options: Omit<ResponderOptions, 'write'>): Promise<Watched> {
  const records: AlertRecord[] = [];
  const responder = await Responder.create({ ...options, write: (r) => records.push(r) });
  const pipeline = await Pipeline.create({ model, workers: 1, workerNice: AGENT_WORKER_NICE });
  pipeline.on('alert', (a: AlertRecord) => {
    records.push(a);
    responder.handle(a);
  });
  const collector = await Collector.open({ targets });
  pipeline.attach(collector);
  let closed = false;
  return {
    records,
    responder,
    responses: (action) => records.filter((r): r is ResponseRecord => r.type === 'response' && (action === undefined || r.action === action)),
    alerts: () => records.filter((r): r is Alert => r.type === 'alert'),
    close: async () => {
      if (closed) return;
      closed = true;
      await responder.close();
      await collector.close();
      await pipeline.close();
    },
  };
}

export function cgroupFrozen(dir: string): boolean {
  return /^frozen 1$/m.test(readFileSync(`${dir}/cgroup.events`, 'utf8'));
}

/** Context switches a process has made so far: a process that sleeps in a loop makes hundreds a second, a frozen one none. */
export function switches(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const v = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(s);
  const n = /^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(s);
  return Number(v?.[1] ?? 0) + Number(n?.[1] ?? 0);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
