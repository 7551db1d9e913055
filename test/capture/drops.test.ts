import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Collector } from '../../src/capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { capture, runWorkload } from './helpers.js';

let cg: ScratchCgroup;
beforeEach(() => {
  cg = createScratchCgroup(`sw-test-drops-${process.pid}`);
});
afterEach(async () => {
  await cg.remove();
});

describe('loss accounting', () => {
  it('counts kernel drops when a tiny ring is not drained, and matched = emitted + dropped', async () => {
    // 4 KiB holds about 170 records (16 bytes + 8 of ring header each).
    const collector = await Collector.open({ targets: [cg.spec], ringBytes: 4096 });
    const cap = capture(collector);
    collector.pause();
    await runWorkload(['--cgroup', cg.dir, 'getppid', '20000']);
    const before = collector.stats();
    collector.resume();
    const ev = await cap.stop();
    const s = collector.stats();

    expect(before.kernel.dropped).toBeGreaterThan(19000);
    expect(s.kernel.matched).toBe(s.kernel.emitted + s.kernel.dropped);
    expect(s.kernel.matched).toBeGreaterThanOrEqual(20000);
    // What was emitted is exactly what reached us: nothing vanished in user space.
    expect(ev.nr.length).toBe(s.kernel.emitted);
    expect(s.user.events).toBe(s.kernel.emitted);
    expect(s.user.droppedEvents).toBe(0);
  });

  it('drops and counts whole batches when JavaScript does not take them', async () => {
    // One-event batches and a queue of one: while this thread is blocked, the
    // consumer thread can hand over one batch and must drop the rest.
    const collector = await Collector.open({ targets: [cg.spec], maxBatchEvents: 1, maxQueuedBatches: 1 });
    const cap = capture(collector);
    const done = runWorkload(['--cgroup', cg.dir, 'getppid', '2000']);
    const until = Date.now() + 300;
    while (Date.now() < until) {
      /* block the event loop so no batch is delivered */
    }
    await done;
    const ev = await cap.stop();
    const s = collector.stats();
    expect(s.user.droppedEvents).toBeGreaterThan(0);
    expect(s.user.droppedBatches).toBe(s.user.droppedEvents); // one event per batch
    expect(s.kernel.dropped).toBe(0);
    expect(ev.nr.length + s.user.droppedEvents).toBe(s.kernel.emitted);
  });

  it('bounds the async iterator buffer and counts what it drops', async () => {
    const collector = await Collector.open({ targets: [cg.spec], maxBatchEvents: 100, maxPendingBatches: 2 });
    const it = collector[Symbol.asyncIterator]();
    await runWorkload(['--cgroup', cg.dir, 'getppid', '5000']);
    await collector.close();
    let got = 0;
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      got += r.value.count;
    }
    const s = collector.stats();
    expect(s.user.droppedEvents).toBeGreaterThan(0);
    expect(got).toBe(s.user.events);
    expect(got + s.user.droppedEvents).toBe(s.kernel.emitted);
  });
});
