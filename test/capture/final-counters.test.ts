import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import { Collector, type CollectorStats } from '../../src/capture/collector.js';
import { recordToFile } from '../../src/capture/record-session.js';
import { readRecording } from '../../src/capture/recording.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { sleep } from './helpers.js';

// Two threads of getppid on a two-core machine: the program runs on every
// CPU all the time, so at detach an invocation is likely mid-way on the
// other CPU, and the consumer thread competes for time.
let cg: ScratchCgroup;
let busy: ChildProcess;
let dir: string;
beforeAll(async () => {
  cg = createScratchCgroup(`sw-test-final-${process.pid}`);
  busy = spawn(workloadPath(), ['--cgroup', cg.dir, 'getppid', '1000000000000', '2'], { stdio: 'ignore' });
  dir = mkdtempSync(join(tmpdir(), 'sw-final-'));
  await sleep(100);
});
afterAll(async () => {
  busy.kill('SIGKILL');
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** What must hold in every stats(): the kernel's split of what it matched, and no more reaching JavaScript than was emitted. */
function expectLiveInvariants(s: CollectorStats, when: string): void {
  expect(s.kernel.matched, `${when}: matched = emitted + dropped`).toBe(s.kernel.emitted + s.kernel.dropped);
  expect(s.user.events + s.user.droppedEvents, `${when}: delivered + user-dropped <= emitted`).toBeLessThanOrEqual(s.kernel.emitted);
  for (const r of s.perSlot ?? []) expect(r.matched, `${when}: matched = emitted + dropped for ${r.spec}`).toBe(r.emitted + r.kernelDropped);
}

/** After close: everything emitted was either delivered or counted as dropped in user space. */
function expectFinalInvariants(s: CollectorStats, delivered: number, when: string): void {
  expectLiveInvariants(s, when);
  expect(s.user.events + s.user.droppedEvents, `${when}: delivered + user-dropped = emitted`).toBe(s.kernel.emitted);
  expect(delivered, `${when}: events seen by the consumer = user.events`).toBe(s.user.events);
  const rows = s.perSlot ?? [];
  expect(rows.reduce((n, r) => n + r.matched, 0), `${when}: rows add up to the total`).toBe(s.kernel.matched);
}

describe('final counters', () => {
  it('agree exactly after close, over many open/capture/close cycles under a busy workload', async () => {
    for (let cycle = 0; cycle < 12; cycle++) {
      // Small batches and a short queue on some cycles, so user-space drops happen too.
      const c = await Collector.open({ targets: [cg.spec], ...(cycle % 3 === 1 ? { maxBatchEvents: 64, maxQueuedBatches: 2 } : {}) });
      let delivered = 0;
      c.on('batch', (b: { count: number }) => (delivered += b.count));
      for (let k = 0; k < 5; k++) {
        await sleep(10);
        expectLiveInvariants(c.stats(), `cycle ${cycle}, live read ${k}`);
      }
      await c.close();
      const s = c.stats();
      expect(s.kernel.matched).toBeGreaterThan(0);
      expectFinalInvariants(s, delivered, `cycle ${cycle}`);
    }
  });

  it('agree exactly in the trailer of every recording', async () => {
    for (let cycle = 0; cycle < 6; cycle++) {
      const out = join(dir, `r${cycle}.swrec`);
      const c = await Collector.open({ targets: [cg.spec] });
      const written = await recordToFile(c, out, { durationMs: 60 });
      let read = 0;
      const r = await readRecording(out, (b) => {
        read += b.count;
      });
      expect(read).toBe(written);
      const t = r.trailer!.stats;
      expect(t.kernel.matched, `recording ${cycle}: matched = emitted + dropped`).toBe(t.kernel.emitted + t.kernel.dropped);
      expect(t.user.events + t.user.droppedEvents, `recording ${cycle}: delivered + user-dropped = emitted`).toBe(t.kernel.emitted);
      expect(read, `recording ${cycle}: the file holds what was delivered`).toBe(t.user.events);
    }
  });
});
