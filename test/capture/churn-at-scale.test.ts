import { execFileSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CONSUMER_NICE, Collector } from '../../src/capture/collector.js';
import type { EventBatch } from '../../src/capture/record.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { bpfObjectsOf } from '../hardening/bpf-objects.js';
import { sleep, startWorkload, waitFor } from './helpers.js';

// 500 targets watched; 10 of them busy for the whole run (20 thousand calls
// a second each, in bursts: a workload waking every 200 µs in each of ten
// processes was seen to stall the host's own cgroup operations for tens of
// seconds beside two CPU hogs, with or without syswarden); every second 20
// targets are removed (some with a process still calling, so their last
// events are in flight) and 20 new ones added, for 60 s. A slot freed by a
// removal is taken again with a new id (test/capture/target-identity.test.ts).
const TARGETS = 500;
const BUSY = 10;
const PER_SECOND = 20;
const SECONDS = Number(process.env.CHURN_SECONDS ?? 60);

let root: ScratchCgroup;
beforeAll(() => {
  root = createScratchCgroup(`sw-test-churn-${process.pid}`);
});
afterAll(async () => {
  await root.remove();
});

/** Entries of the collector's BPF map called `name` (held by this process). */
function mapEntries(name: string): number {
  for (const id of bpfObjectsOf(process.pid).maps) {
    const info = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'id', String(id)], { encoding: 'utf8' })) as { name?: string };
    if (info.name !== name) continue;
    return (JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(id)], { encoding: 'utf8' }) || '[]') as unknown[]).length;
  }
  throw new Error(`no BPF map ${name} held by this process`);
}

interface Churned {
  cg: ScratchCgroup;
  id: number;
  proc?: ChildProcess;
}

describe('container churn at scale', () => {
  it(`${TARGETS} targets, ${PER_SECOND} added and ${PER_SECOND} removed a second for ${SECONDS} s, ${BUSY} busy: no event mislabelled, no leak, every loss named`, async () => {
    const c = await Collector.open({ consumerNice: AGENT_CONSUMER_NICE });
    // Which target every process we start belongs to: an event's thread must carry exactly that id.
    const owner = new Map<number, number>();
    let events = 0;
    let unknown = 0;
    const wrong: string[] = [];
    const onBatch = (b: EventBatch) => {
      for (let i = 0; i < b.count; i++) {
        const want = owner.get(b.tid(i));
        if (want === undefined) unknown++;
        else if (want !== b.targetId(i) && wrong.length < 10) wrong.push(`tid ${b.tid(i)}: target ${b.targetId(i)}, expected ${want}`);
      }
      events += b.count;
    };
    c.on('batch', onBatch);
    const busy: ChildProcess[] = [];
    const running = new Set<ChildProcess>();
    let serial = 0;
    const add = async (): Promise<Churned> => {
      const cg = root.child(`t${serial++}`);
      const t = await c.addTarget(cg.spec);
      return { cg, id: t.id };
    };
    const start = (t: Churned, args: string[]): ChildProcess => {
      const p = startWorkload(['--cgroup', t.cg.dir, ...args]);
      owner.set(p.pid!, t.id);
      running.add(p);
      p.once('exit', () => running.delete(p));
      return p;
    };
    try {
      const live: Churned[] = [];
      for (let i = 0; i < TARGETS; i++) live.push(await add());
      for (let i = 0; i < BUSY; i++) busy.push(start(live[i]!, ['rate', '20000', '3600']));
      await waitFor(() => (c.stats().perSlot?.filter((r) => r.matched > 0).length ?? 0) >= BUSY, 'every busy target counted');
      const baseline = { targets: mapEntries('targets'), followed: mapEntries('followed'), watched: c.targets().length };
      expect(baseline.targets).toBe(TARGETS);

      let removed = 0;
      for (let s = 0; s < SECONDS; s++) {
        const tick = Date.now();
        // Remove the oldest churnable targets (a process may still run in some: killed after removal) ...
        const out = live.splice(BUSY, PER_SECOND);
        for (const t of out) {
          expect(c.removeTarget(t.id)).toBe(true);
          removed++;
        }
        await Promise.all(out.map((t) => t.cg.remove()));
        // ... and add as many: a quarter run a short burst, a quarter a process that runs until its target is removed.
        for (let i = 0; i < PER_SECOND; i++) {
          const t = await add();
          if (i % 4 === 0) start(t, ['getppid', '2000']);
          else if (i % 4 === 1) t.proc = start(t, ['rate', '1000', '3600']);
          live.push(t);
        }
        const left = 1000 - (Date.now() - tick);
        if (left > 0) await sleep(left); // the churn's pace: 20 a second
      }
      // Stop: the busy ones, then every churned process; their last events arrive, then the counts settle.
      for (const p of busy) p.kill('SIGKILL');
      for (const t of live) t.proc?.kill('SIGKILL');
      await waitFor(() => running.size === 0, 'every workload process gone', 10_000);
      for (const t of live.splice(BUSY)) {
        c.removeTarget(t.id);
        await t.cg.remove();
      }
      for (let i = 0; i < TARGETS - BUSY; i++) live.push(await add());
      expect(c.targets().length).toBe(baseline.watched);
      expect(removed).toBe(SECONDS * PER_SECOND);

      // No leak: the kernel's maps hold what they held before the churn.
      expect(mapEntries('targets'), 'entries of the targets map').toBe(baseline.targets);
      await waitFor(() => mapEntries('followed') <= baseline.followed, 'followed processes back to the baseline', 10_000);
    } finally {
      for (const p of running) p.kill('SIGKILL');
      await c.close();
      c.off('batch', onBatch);
    }
    const s = c.stats();
    expect(events, 'events delivered').toBeGreaterThan(100_000);
    expect(wrong, 'events carrying another target than their process').toEqual([]);
    expect(unknown, 'events of threads no test process had').toBe(0);
    // Every loss is named: the rows (live and removed targets) add up to the totals.
    const rows = s.perSlot ?? [];
    const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((n, r) => n + f(r), 0);
    expect(sum((r) => r.matched)).toBe(s.kernel.matched);
    expect(sum((r) => r.kernelDropped)).toBe(s.kernel.dropped);
    expect(sum((r) => r.userDropped)).toBe(s.user.droppedEvents);
    expect(s.user.events + s.user.droppedEvents).toBe(s.kernel.emitted);
  }, 400_000);
});
