import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Collector } from '../../src/capture/collector.js';
import type { EventBatch } from '../../src/capture/record.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runWorkload } from './helpers.js';

let cg: ScratchCgroup;
beforeEach(() => {
  cg = createScratchCgroup(`sw-test-listener-${process.pid}`);
});
afterEach(async () => {
  await cg.remove();
});

describe('a batch listener that throws', () => {
  it('loses the batch counted, is reported as listener-error, and never reaches N-API', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('warning', onWarning);
    process.on('uncaughtException', onUncaught);
    try {
      const c = await Collector.open({ targets: [cg.spec], maxBatchEvents: 100, maxQueuedBatches: 65536 });
      let calls = 0;
      let okEvents = 0;
      let thrownBatches = 0;
      let thrownEvents = 0;
      let secondListener = 0;
      c.on('batch', (b: EventBatch) => {
        if (++calls % 3 === 0) {
          thrownBatches++;
          thrownEvents += b.count;
          throw new Error(`boom ${calls}`);
        }
        okEvents += b.count;
      });
      // A listener after the failing one still gets every batch. (The queue is long enough that none is dropped for being late.)
      c.on('batch', (b: EventBatch) => (secondListener += b.count));
      const reported: Array<{ message: string; events: number }> = [];
      c.on('listener-error', (err: Error, b: EventBatch) => reported.push({ message: err.message, events: b.count }));

      await runWorkload(['--cgroup', cg.dir, 'getppid', '20000']);
      await c.close();
      const s = c.stats();

      expect(thrownBatches).toBeGreaterThan(10);
      expect(reported).toHaveLength(thrownBatches);
      expect(reported.reduce((n, r) => n + r.events, 0)).toBe(thrownEvents);
      expect(reported[0]!.message).toBe('boom 3');
      expect(s.user.listenerErrors).toEqual({ batches: thrownBatches, events: thrownEvents });
      // The failed batches count as lost: what the listener handled plus what was lost is what was emitted.
      expect(s.user.events).toBe(okEvents);
      expect(s.user.droppedEvents).toBe(thrownEvents);
      expect(okEvents + thrownEvents).toBe(s.kernel.emitted);
      expect(secondListener).toBe(s.kernel.emitted);
      const rows = s.perSlot ?? [];
      expect(rows.reduce((n, r) => n + r.listenerLost, 0)).toBe(thrownEvents);
      expect(rows.reduce((n, r) => n + r.userDropped, 0)).toBe(thrownEvents);

      expect(uncaught).toEqual([]);
      expect(warnings.filter((w) => /DEP0168|N-API|Node-API/.test(w))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      process.off('uncaughtException', onUncaught);
    }
  });

  it('with nobody listening for listener-error, is still counted and nothing is thrown', async () => {
    const c = await Collector.open({ targets: [cg.spec], maxBatchEvents: 100, maxQueuedBatches: 65536 });
    let thrown = 0;
    c.on('batch', (b: EventBatch) => {
      thrown += b.count;
      throw new Error('always');
    });
    await runWorkload(['--cgroup', cg.dir, 'getppid', '2000']);
    await c.close();
    const s = c.stats();
    expect(s.user.listenerErrors?.events).toBe(thrown);
    expect(s.user.events).toBe(0);
    expect(s.user.droppedEvents).toBe(s.kernel.emitted);
  });
});
