import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import { Collector, type CollectorStats } from '../../src/capture/collector.js';
import type { EventBatch } from '../../src/capture/record.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { waitFor } from './helpers.js';

// The per-target counters are read from memory the kernel writes, one block
// of rows per CPU, and only the rows the kernel marked changed since the last
// reading are read again. What must hold: a row counted on any CPU, before or
// after any reading, ends up in stats(); no row appears for a target that
// made no call; the rows are exact after close.

const TARGETS = 300;
const CALLS = 5000;
let root: ScratchCgroup;
let kids: ScratchCgroup[];

beforeAll(() => {
  root = createScratchCgroup(`sw-test-slots-${process.pid}`);
  kids = Array.from({ length: TARGETS }, (_, i) => root.child(`t${i}`));
});
afterAll(async () => {
  await root.remove();
});

/** Run CALLS getppid calls in `cg`, on CPU `cpu` only; resolves when the workload has exited. */
function runOn(cpu: number, cg: ScratchCgroup): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', String(cpu), workloadPath(), '--cgroup', cg.dir, 'getppid', String(CALLS)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`taskset -c ${cpu} sw-workload exited ${code}: ${err}`))));
  });
}

function row(s: CollectorStats, id: number) {
  return s.perSlot?.find((r) => r.id === id);
}

describe('per-target counters', () => {
  it(`count calls made on every CPU, before and after each reading, and list only the targets that made calls (${TARGETS} targets)`, async () => {
    const c = await Collector.open({});
    const delivered = new Map<number, number>();
    c.on('batch', (b: EventBatch) => {
      for (let i = 0; i < b.count; i++) delivered.set(b.targetId(i), (delivered.get(b.targetId(i)) ?? 0) + 1);
    });
    try {
      const infos = [];
      for (const k of kids) infos.push(await c.addTarget(k.spec));
      expect(c.stats().perSlot, 'no target has made a call yet').toEqual([]);
      const cpus = Math.min(availableParallelism(), 4);
      const a = infos[7]!;
      const b = infos[TARGETS - 1]!;
      // Target a runs on each CPU in turn, with a reading in between: each
      // run changes its row on another CPU after the row was last read.
      let runs = 0;
      for (let cpu = 0; cpu < cpus; cpu++) {
        await runOn(cpu, kids[7]!);
        runs++;
        await waitFor(() => (row(c.stats(), a.id)?.emitted ?? 0) === (delivered.get(a.id) ?? -1), `target a's row to match what was delivered after its run on CPU ${cpu}`, 10_000);
        expect(row(c.stats(), a.id)!.emitted).toBeGreaterThanOrEqual(runs * CALLS);
      }
      await runOn(cpus - 1, kids[TARGETS - 1]!);
      await waitFor(() => (row(c.stats(), b.id)?.emitted ?? 0) === (delivered.get(b.id) ?? -1), "target b's row to match what was delivered", 10_000);
      const live = c.stats();
      expect(live.perSlot!.map((r) => r.id).sort((x, y) => x - y), 'rows only for the targets that made calls').toEqual([a.id, b.id].sort((x, y) => x - y));
      for (const r of live.perSlot!) expect(r.matched).toBe(r.emitted + r.kernelDropped);
      // The same reading twice in a row, with nothing new in between: the same rows.
      expect(c.stats().perSlot).toEqual(live.perSlot);
    } finally {
      await c.close();
    }
    const s = c.stats();
    const total = (s.perSlot ?? []).reduce((n, r) => n + r.emitted, 0);
    expect(total, 'the rows add up to the kernel total').toBe(s.kernel.emitted);
    for (const r of s.perSlot ?? []) expect(r.emitted, `target ${r.spec}: counted = delivered`).toBe(delivered.get(r.id));
  });
});
