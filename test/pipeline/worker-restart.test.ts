import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stide } from '../../src/detect/stide.js';
import { statedCalibration } from '../../src/detect/calibration.js';
import { saveModel } from '../../src/detect/model-file.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { ownerOf } from '../../src/pipeline/protocol.js';
import { windowStream } from '../../src/window/windows.js';
import { waitFor } from '../capture/helpers.js';
import { makeBatch } from './helpers.js';

let dir: string;
let model: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-pipe-'));
  model = join(dir, 'toy.model');
  // Normal: the cycle 1 2 3 4 5 6 repeated.
  const calls = new Uint16Array(600).map((_, i) => (i % 6) + 1);
  // Frame 1, threshold 1: every window not in the cycle alarms.
  const d = new Stide();
  d.fit(windowStream(calls, 4));
  await saveModel(model, d, statedCalibration(1, 1), { filter: 'none' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cycle = (tid: number, n: number) => Array.from({ length: n }, (_, i) => [tid, (i % 6) + 1] as const);

describe('the worker pool', () => {
  it('reports a worker killed mid-run, replaces it, and goes on scoring', async () => {
    const p = await Pipeline.create({ model, workers: 2 });
    const exits: Array<{ index: number }> = [];
    p.on('worker-exit', (e: { index: number }) => exits.push(e));
    // Two threads, one owned by each worker.
    const tids = [100, 101, 102, 103, 104].filter((t, i, all) => all.findIndex((u) => ownerOf(u, 2) === ownerOf(t, 2)) === i);
    expect(tids.length).toBe(2);
    p.push(makeBatch(tids.flatMap((t) => cycle(t, 60))));
    await p.drain();
    const before = p.stats().windows;
    expect(before).toBe(2 * (60 - 3));

    const victim = ownerOf(tids[0]!, 2);
    const workers = (p as unknown as Record<symbol, Worker[]>)[Symbol.for('syswarden.pipeline.workers')]!;
    await workers[victim]!.terminate();
    await waitFor(() => exits.length === 1, 'the worker-exit report');
    expect(exits[0]!.index).toBe(victim);
    expect(p.stats().workerRestarts).toBe(1);

    // The replacement scores the victim's threads from a fresh window.
    p.push(makeBatch(tids.flatMap((t) => cycle(t, 60))));
    await p.drain();
    const s = p.stats();
    // The survivor's thread continues its window (60 new windows); the victim's starts afresh (57).
    expect(s.windows - before).toBe(60 + 57);
    expect(s.workers).toBe(2);
    await p.close();
  });

  it('forgets threads that exit, so short-lived processes leave nothing behind', async () => {
    // Room for every batch: this test is about memory, not about the bound.
    const p = await Pipeline.create({ model, workers: 2, maxInFlight: 64 });
    const exitGroup = 231;
    for (let b = 0; b < 20; b++) {
      const events = [];
      for (let t = 0; t < 50; t++) {
        const tid = 1000 + b * 50 + t;
        events.push(...cycle(tid, 12), [tid, exitGroup] as const);
      }
      p.push(makeBatch(events));
    }
    await p.drain();
    expect(p.stats().threads).toBe(0);
    expect(p.stats().windows).toBe(20 * 50 * (13 - 3));
    await p.close();
  });

  it('alerts once per incident, with the count of alarming windows at its end', async () => {
    const p = await Pipeline.create({ model, workers: 1, quietWindows: 5 });
    const got: Array<{ type: string; count: number; tid: number }> = [];
    p.on('alert', (a) => got.push({ type: a.type, count: a.count, tid: a.tid }));
    // 30 calls outside the normal cycle: every window touching one of them
    // alarms (30 + 4 - 1 = 33 in a row), then the cycle is normal again.
    const odd = Array.from({ length: 30 }, (_, i) => [7, 50 + (i % 7)] as const);
    p.push(makeBatch([...cycle(7, 30), ...odd, ...cycle(7, 30)]));
    await p.close();
    expect(got).toEqual([
      { type: 'alert', count: 1, tid: 7 },
      { type: 'incident-end', count: 33, tid: 7 },
    ]);
  });
});
