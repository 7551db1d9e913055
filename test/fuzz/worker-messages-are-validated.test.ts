import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROGRESS_BYTES, progressViews, toWorkerProblem, type FromWorker, type WorkerInit } from '../../src/pipeline/protocol.js';
import { fcParams, fittedModels } from './helpers.js';

const validBatch = { type: 'batch', seq: 1, buffer: new SharedArrayBuffer(32), count: 2, live: false };
const message = fc.oneof(
  fc.anything({ withTypedArray: true, withMap: true, withBigInt: true }),
  fc.record({
    type: fc.constantFrom('batch', 'flush', 'x', undefined),
    seq: fc.oneof(fc.integer(), fc.double(), fc.constant(undefined)),
    buffer: fc.oneof(fc.nat(64).map((n) => new SharedArrayBuffer(n)), fc.nat(64).map((n) => new ArrayBuffer(n)), fc.constant(null)),
    count: fc.oneof(fc.integer({ min: -2, max: 8 }), fc.double(), fc.constantFrom(2 ** 32, NaN)),
    live: fc.oneof(fc.boolean(), fc.constant(1)),
  }, { requiredKeys: [] }),
);

describe('worker messages are validated', () => {
  it('a message is accepted only when every field is usable', () => {
    expect(toWorkerProblem(validBatch)).toBeUndefined();
    expect(toWorkerProblem({ type: 'flush', seq: 3 })).toBeUndefined();
    expect(toWorkerProblem({ type: 'sync', seq: 4 })).toBeUndefined();
    expect(toWorkerProblem({ type: 'sync', seq: -1 })).toMatch(/sync message has seq -1/);
    expect(toWorkerProblem({ type: 'model', model: { id: 2, bytes: new Uint8Array(4), name: 'm', profiles: [0, -1] } })).toBeUndefined();
    expect(toWorkerProblem({ type: 'model', model: { id: 2, bytes: new Uint8Array(4), name: 'm', profiles: [0xfff0] } })).toMatch(/profiles/);
    expect(toWorkerProblem({ type: 'model', model: { id: -1, bytes: new Uint8Array(4), name: 'm', profiles: [] } })).toMatch(/carries no model/);
    expect(toWorkerProblem({ type: 'assign', target: 3, model: 2 })).toBeUndefined();
    expect(toWorkerProblem({ type: 'assign', target: 70000, model: 2 })).toMatch(/target id/);
    expect(toWorkerProblem({ type: 'release', model: 1.5 })).toMatch(/model id/);
    fc.assert(
      fc.property(message, (m) => {
        const problem = toWorkerProblem(m);
        if (problem !== undefined) return;
        const o = m as { type: string; count?: number; buffer?: SharedArrayBuffer };
        if (o.type === 'batch') expect(o.count! * 16).toBeLessThanOrEqual(o.buffer!.byteLength);
      }),
      fcParams(),
    );
  });

  it('a real worker reports malformed messages as fatal and keeps scoring', async () => {
    const stide = fittedModels().find((m) => m.factory.name === 'stide')!;
    const progress = new SharedArrayBuffer(PROGRESS_BYTES);
    const init: WorkerInit = {
      index: 0,
      workers: 1,
      models: [{ id: 1, bytes: stide.bytes, name: 'toy', profiles: [] }],
      defaultModel: 1,
      assigned: [],
      quietWindows: 4,
      idleNs: 1e12,
      nice: null,
      progress,
    };
    const worker = new Worker(new URL('../../dist/pipeline/worker.js', import.meta.url), { workerData: init });
    const got: FromWorker[] = [];
    const waitFor = (pred: (m: FromWorker) => boolean): Promise<FromWorker> =>
      new Promise((resolve, reject) => {
        const hit = got.find(pred);
        if (hit) return resolve(hit);
        const on = (m: FromWorker): void => {
          if (pred(m)) {
            worker.off('message', on);
            resolve(m);
          }
        };
        worker.on('message', on);
        worker.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
      });
    worker.on('message', (m: FromWorker) => got.push(m));
    await waitFor((m) => m.type === 'ready');
    const bad = fc.sample(message.filter((m) => toWorkerProblem(m) !== undefined), { numRuns: 200, seed: 7 });
    for (const m of [null, 42, { type: 'batch', seq: 1, buffer: new SharedArrayBuffer(16), count: 1e9, live: true }, { type: 'batch', seq: 2 }, ...bad]) worker.postMessage(m);
    worker.postMessage({ type: 'batch', seq: 99, buffer: new SharedArrayBuffer(64), count: 4, live: false });
    worker.postMessage({ type: 'sync', seq: 100 });
    await waitFor((m) => m.type === 'synced' && m.seq === 100);
    // The good batch was scored after all the bad ones: its progress is in shared memory.
    expect(Atomics.load(progressViews(progress).seq, 0)).toBe(99);
    expect(got.filter((m) => m.type === 'fatal').length).toBe(bad.length + 4);
    expect((got.find((m) => m.type === 'fatal') as { message: string }).message).toMatch(/malformed message/);
    await worker.terminate();
  });
});
