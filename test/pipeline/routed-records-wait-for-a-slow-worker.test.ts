import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../../src/capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { runWorkload } from '../capture/helpers.js';
import { saveAlarmingModel } from './helpers.js';

let cg: ScratchCgroup;
let dir: string;
let model: string;
beforeAll(async () => {
  cg = createScratchCgroup(`sw-test-routed-wait-${process.pid}`);
  dir = mkdtempSync(join(tmpdir(), 'sw-routed-wait-'));
  model = join(dir, 'alarming.model');
  await saveAlarmingModel(model);
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

const CALLS = 200_000;

/**
 * A burst of CALLS calls held in the kernel's ring (the collector paused),
 * then let go at once into one worker whose ring holds 1 024 records:
 * scoring them takes far longer than the consumer takes to hand them over.
 */
async function burstIntoSmallRing(collectorOptions: { maxBatchEvents?: number; maxQueuedBatches?: number }) {
  const c = await Collector.open({ targets: [cg.spec], ...collectorOptions });
  const p = await Pipeline.create({ model, workers: 1, ringRecords: 1024 });
  p.attach(c);
  try {
    c.pause();
    await runWorkload(['--cgroup', cg.dir, 'getppid', String(CALLS)]);
    c.resume();
  } finally {
    await c.close();
    await p.drain();
    await p.close();
  }
  return { c: c.stats(), p: p.stats() };
}

describe('routed records and a worker that falls behind', () => {
  it('wait in order for room in its ring: none is lost while what waits is within the bound', async () => {
    const { c, p } = await burstIntoSmallRing({});
    expect(c.kernel.emitted).toBeGreaterThanOrEqual(CALLS);
    expect(c.routed!.dropped + c.routed!.marksDropped).toBe(0);
    expect(c.user.droppedEvents).toBe(0);
    expect(c.routed!.events).toBe(c.kernel.emitted);
    expect(p.events).toBe(c.routed!.events);
    expect(p.droppedEvents).toBe(0);
  });

  it('past the bound (maxQueuedBatches of maxBatchEvents), are dropped and counted against their container', async () => {
    // 2 batches of 1 024: at most 2 048 records wait, beside the ring's 1 024.
    const { c, p } = await burstIntoSmallRing({ maxBatchEvents: 1024, maxQueuedBatches: 2 });
    const row = c.perSlot!.find((r) => r.spec === cg.spec)!;
    expect(c.routed!.dropped).toBeGreaterThan(0);
    expect(c.routed!.events + c.routed!.dropped).toBe(c.kernel.emitted);
    expect(c.user.droppedEvents).toBe(c.routed!.dropped);
    expect(row.userDropped).toBe(c.routed!.dropped);
    expect(p.events).toBe(c.routed!.events);
  });
});
