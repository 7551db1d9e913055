import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import { Collector } from '../../src/capture/collector.js';
import type { EventBatch } from '../../src/capture/record.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { syscallNumber } from '../../src/trace/syscalls.js';

// A ring per group of CPUs: CPU c writes ring c / cpusPerRing, and the
// consumer reads the rings one after another. A thread that moves between
// CPUs writes its calls to several rings; what must hold is that they reach
// JavaScript in the order it made them, with its process events (exec,
// exit) among them where they happened, and that a ring running full is
// counted for that ring and for the container.

const ROUNDS = 3000;
const HOP = [syscallNumber('sched_setaffinity')!, syscallNumber('getppid')!, syscallNumber('getpgid')!, syscallNumber('getsid')!];
let cg: ScratchCgroup;

beforeAll(() => {
  cg = createScratchCgroup(`sw-test-rings-${process.pid}`);
});
afterAll(async () => {
  await cg.remove();
});

function run(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(child.pid!) : reject(new Error(`${argv.join(' ')} exited ${code}: ${err}`))));
  });
}

interface Item {
  kind: 'call' | 'exec' | 'exit' | 'fork' | 'other';
  tid: number;
  nr: number;
  ts: number;
}

/** Every delivered record and process event, in the order JavaScript sees them (process events placed by `at`). */
function stream(c: Collector): Item[] {
  const out: Item[] = [];
  c.on('batch', (b: EventBatch) => {
    let p = 0;
    for (let i = 0; i <= b.count; i++) {
      while (p < b.proc.length && (b.proc[p]!.at <= i || i === b.count)) {
        const e = b.proc[p++]!;
        const kind = e.kind === 'exec' || e.kind === 'exit' || e.kind === 'fork' ? e.kind : 'other';
        out.push({ kind, tid: e.tid, nr: -1, ts: e.tsNs });
      }
      if (i < b.count) out.push({ kind: 'call', tid: b.tid(i), nr: b.nr(i), ts: b.tsNs(i) });
    }
  });
  return out;
}

describe('rings per group of CPUs', () => {
  it('deliver a thread that hops from CPU to CPU in the order it made its calls, its exec and exit in place', async () => {
    expect(availableParallelism(), 'a ring per CPU needs two CPUs to show anything').toBeGreaterThan(1);
    const c = await Collector.open({ targets: [cg.spec], cpusPerRing: 1 });
    const items = stream(c);
    let pid = 0;
    try {
      // The workload moves itself into the cgroup, then execs itself there: the exec is watched.
      pid = await run([workloadPath(), '--cgroup', cg.dir, 'exec', workloadPath(), 'hop', String(ROUNDS), '2']);
    } finally {
      await c.close();
    }
    const s = c.stats();
    expect(s.rings?.cpusPerRing).toBe(1);
    expect(s.rings?.full.length).toBeGreaterThanOrEqual(2);
    expect(s.kernel.dropped, 'nothing lost: the order is checked on every call').toBe(0);
    expect(s.user.droppedEvents).toBe(0);

    // Per thread: timestamps rise in delivered order (process events included),
    // and the hop rounds come whole and in order.
    const byTid = new Map<number, Item[]>();
    for (const it of items) {
      let l = byTid.get(it.tid);
      if (!l) byTid.set(it.tid, (l = []));
      l.push(it);
    }
    const hoppers = [...byTid.entries()].filter(([, l]) => l.filter((x) => x.kind === 'call' && x.nr === HOP[0]).length === ROUNDS);
    expect(hoppers.length, 'two threads made every round').toBe(2);
    for (const [tid, l] of byTid) {
      for (let k = 1; k < l.length; k++) {
        if (l[k]!.ts < l[k - 1]!.ts) throw new Error(`thread ${tid}: item ${k} (${l[k]!.kind} ${l[k]!.nr}) is stamped before the one delivered ahead of it`);
      }
    }
    for (const [tid, l] of hoppers) {
      const seq = l.filter((x) => x.kind === 'call' && HOP.includes(x.nr)).map((x) => x.nr);
      expect(seq.length, `thread ${tid}`).toBe(ROUNDS * HOP.length);
      for (let k = 0; k < seq.length; k++) {
        if (seq[k] !== HOP[k % HOP.length]) throw new Error(`thread ${tid}: call ${k} is ${seq[k]}, expected ${HOP[k % HOP.length]} (a round out of order)`);
      }
      // Its exit comes after its last call.
      const exit = l.findIndex((x) => x.kind === 'exit');
      expect(exit, `thread ${tid} has an exit event`).toBeGreaterThan(0);
      expect(l.slice(exit + 1).some((x) => x.kind === 'call'), `thread ${tid} made no call after its exit event`).toBe(false);
    }
    // The exec of the main thread sits between its calls before and after.
    const main = byTid.get(pid) ?? [];
    const exec = main.findIndex((x) => x.kind === 'exec');
    expect(exec, 'the exec in the cgroup was seen').toBeGreaterThan(0);
    expect(main[exec - 1]!.nr).toBe(syscallNumber('execve'));
  }, 60_000);

  it('count a ring that ran full against that ring and the container', async () => {
    expect(availableParallelism()).toBeGreaterThan(1);
    // The smallest rings, drained once a second: a burst on CPU 1 overflows ring 1 only.
    const c = await Collector.open({ targets: [cg.spec], cpusPerRing: 1, ringBytes: 4096, pollMs: 1000 });
    let delivered = 0;
    c.on('batch', (b: EventBatch) => (delivered += b.count));
    try {
      await run(['taskset', '-c', '1', workloadPath(), '--cgroup', cg.dir, 'getppid', '20000']);
    } finally {
      await c.close();
    }
    const s = c.stats();
    const full = s.rings!.full;
    expect(full[1], 'ring 1 ran full').toBeGreaterThan(0);
    expect(full[0], 'ring 0 had no call to lose').toBe(0);
    const row = s.perSlot!.find((r) => r.spec === cg.spec)!;
    expect(row.kernelDropped).toBe(full.reduce((a, b) => a + b, 0));
    expect(row.matched).toBe(row.emitted + row.kernelDropped);
    expect(delivered).toBe(row.emitted);
  }, 60_000);

  it('default to one ring shared by every CPU', async () => {
    const c = await Collector.open({ targets: [cg.spec] });
    await c.close();
    expect(c.stats().rings).toEqual({ cpusPerRing: 0, full: [0] });
  });

  it('refuse a group size that is not a whole number, naming the option', async () => {
    await expect(Collector.open({ cpusPerRing: 1.5 })).rejects.toThrow(/cpusPerRing/);
    await expect(Collector.open({ cpusPerRing: -1 })).rejects.toThrow(/cpusPerRing/);
  });
});
