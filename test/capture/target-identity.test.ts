import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, type CollectorStats } from '../../src/capture/collector.js';
import { MAX_TARGETS } from '../../src/capture/limits.js';
import { targetGeneration, targetSlot } from '../../src/capture/record.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { capture, runWorkload, sleep } from './helpers.js';

let a: ScratchCgroup;
let b: ScratchCgroup;
let spare: ScratchCgroup;
beforeAll(() => {
  a = createScratchCgroup(`sw-test-id-a-${process.pid}`);
  b = createScratchCgroup(`sw-test-id-b-${process.pid}`);
  spare = createScratchCgroup(`sw-test-id-spare-${process.pid}`);
});
afterAll(async () => {
  await a.remove();
  await b.remove();
  await spare.remove();
});

function rowOf(s: CollectorStats, id: number) {
  const row = s.perSlot?.find((p) => p.id === id);
  if (!row) throw new Error(`no counters for target id ${id}`);
  return row;
}

describe('target identity', () => {
  it('gives a reused slot a new id: the new target starts from zero, the old one keeps its counts and its name', async () => {
    const c = await Collector.open({});
    const cap = capture(c);
    try {
      const ta = await c.addTarget(a.spec);
      await runWorkload(['--cgroup', a.dir, 'getppid', '50000']);
      await sleep(50);
      expect(c.removeTarget(ta)).toBe(true);
      await sleep(50); // what A left in the ring arrives
      const aAtRemoval = rowOf(c.stats(), ta.id);
      expect(aAtRemoval.matched).toBeGreaterThanOrEqual(50000);
      const eventsOfA = cap.events.slot.length;

      // A freed slot is taken again only when no other is free: go round every slot once.
      for (let i = 0; i < MAX_TARGETS - 1; i++) expect(c.removeTarget(await c.addTarget(spare.spec))).toBe(true);
      const tb = await c.addTarget(b.spec);
      expect(tb.slot, 'B reuses the slot A had').toBe(ta.slot);
      expect(tb.id, 'but under another id').not.toBe(ta.id);
      expect(targetSlot(tb.id)).toBe(ta.slot);
      expect(targetGeneration(tb.id)).toBe(targetGeneration(ta.id) + 1);
      // Freshly taken: nothing of A's is counted for B.
      expect(c.stats().perSlot?.find((p) => p.id === tb.id)?.matched ?? 0).toBe(0);

      await runWorkload(['--cgroup', b.dir, 'getppid', '20000']);
      await c.close();
      const s = c.stats();
      const rb = rowOf(s, tb.id);
      const ra = rowOf(s, ta.id);
      expect(rb.spec).toBe(b.spec);
      expect(ra.spec).toBe(a.spec);
      expect(rb.matched, "B's count is its own workload's").toBeGreaterThanOrEqual(20000);
      expect(rb.matched).toBeLessThan(30000);
      expect(ra, "A's final counts are kept").toEqual(aAtRemoval);
      expect(s.kernel.matched).toBe(ra.matched + rb.matched);

      // Events carry the id fixed at capture; each id names its own target, the removed one too.
      expect(new Set(cap.events.slot.slice(0, eventsOfA))).toEqual(new Set([ta.id]));
      expect(new Set(cap.events.slot.slice(eventsOfA))).toEqual(new Set([tb.id]));
      expect(cap.events.slot.filter((x) => x === tb.id).length).toBe(rb.emitted);
      expect(c.target(ta.id)?.spec).toBe(a.spec);
      expect(c.target(tb.id)?.spec).toBe(b.spec);
      expect(c.target(ta.id)?.cgroup.id).toBe(a.ref.id);
    } finally {
      await cap.stop();
    }
  }, 120_000);

  it('names the live target of an id and no other', async () => {
    const c = await Collector.open({ targets: [a.spec, b.spec] });
    try {
      const [ta, tb] = c.targets();
      expect(c.target(ta!.id)?.spec).toBe(a.spec);
      expect(c.target(tb!.id)?.spec).toBe(b.spec);
      // An id no target ever had names nothing, even though its slot is taken.
      expect(c.target(ta!.id + (1 << 12))).toBeUndefined();
    } finally {
      await c.close();
    }
  });
});
