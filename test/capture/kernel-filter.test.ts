import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Collector } from '../../src/capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { syscallNumber } from '../../src/trace/syscalls.js';
import { capture, runWorkload, startWorkload, waitFor } from './helpers.js';

/** Wait until the consumer has drained the ring `n` more times (and the batches have reached JavaScript). */
async function drained(c: Collector, n: number): Promise<void> {
  const target = (c.stats().drains ?? 0) + n;
  await waitFor(() => (c.stats().drains ?? 0) >= target, `${n} drains of the ring`, 60_000);
  await new Promise((r) => setImmediate(r));
}

const GETPPID = syscallNumber('getppid')!;
const GETPGID = syscallNumber('getpgid')!;
const GETSID = syscallNumber('getsid')!;

let watched: ScratchCgroup;
let other: ScratchCgroup;

beforeEach(() => {
  watched = createScratchCgroup(`sw-test-watched-${process.pid}`);
  other = createScratchCgroup(`sw-test-other-${process.pid}`);
});

afterEach(async () => {
  await watched.remove();
  await other.remove();
});

describe('kernel filter by cgroup', () => {
  it('counts every call of a workload in the watched cgroup, in order per thread, and nothing from outside it', async () => {
    const collector = await Collector.open({ targets: [watched.spec] });
    const cap = capture(collector);
    const rounds = 20000;
    const threads = 3;
    // The same program runs concurrently outside the watched cgroup: none of its calls may show up.
    const [pid] = await Promise.all([
      runWorkload(['--cgroup', watched.dir, 'pattern', String(rounds), String(threads)]),
      runWorkload(['--cgroup', other.dir, 'pattern', String(rounds), String(threads)]),
    ]);
    const ev = await cap.stop();
    const stats = collector.stats();

    const perTid = new Map<number, number[]>();
    for (let i = 0; i < ev.nr.length; i++) {
      const nr = ev.nr[i]!;
      if (nr !== GETPPID && nr !== GETPGID && nr !== GETSID) continue;
      let seq = perTid.get(ev.tid[i]!);
      if (!seq) perTid.set(ev.tid[i]!, (seq = []));
      seq.push(nr);
    }
    // Worker threads each make rounds x (getppid, getpgid, getsid); the main thread makes none.
    const workers = [...perTid.values()].filter((s) => s.length > 0);
    expect(workers).toHaveLength(threads);
    for (const seq of workers) {
      expect(seq).toHaveLength(rounds * 3);
      for (let k = 0; k < seq.length; k += 3) {
        if (seq[k] !== GETPPID || seq[k + 1] !== GETPGID || seq[k + 2] !== GETSID) {
          throw new Error(`thread's calls out of order at ${k}: ${seq.slice(k, k + 3).join(',')}`);
        }
      }
    }
    // Every event carries the watched target's slot and a thread of the watched process.
    expect(new Set(ev.slot)).toEqual(new Set([0]));
    expect(ev.tid).toContain(pid);
    expect(stats.kernel.dropped).toBe(0);
    expect(stats.user.droppedEvents).toBe(0);
    expect(stats.kernel.matched).toBe(ev.nr.length);
  });

  it('sees a process in a child cgroup of the target', async () => {
    const child = watched.child('nested');
    const collector = await Collector.open({ targets: [watched.spec] });
    const cap = capture(collector);
    await runWorkload(['--cgroup', child.dir, 'getppid', '5000']);
    const ev = await cap.stop();
    expect(ev.nr.filter((n) => n === GETPPID)).toHaveLength(5000);
  });

  it('adds and removes targets while running', async () => {
    const collector = await Collector.open({ targets: [watched.spec] });
    const cap = capture(collector);
    const loop = startWorkload(['--cgroup', other.dir, 'forever', '1000']);
    try {
      // The workload runs in a cgroup nobody watches yet: a few drains bring nothing.
      await drained(collector, 5);
      expect(cap.events.nr.length).toBe(0);

      const t = await collector.addTarget(other.spec);
      expect(t.slot).toBe(1);
      await waitFor(() => cap.events.slot.includes(1), 'events of the added target');

      expect(collector.removeTarget(other.spec)).toBe(true);
      await drained(collector, 2); // events already in the ring still arrive
      const settled = cap.events.nr.length;
      await drained(collector, 20); // the workload goes on, unwatched
      expect(cap.events.nr.length).toBe(settled);
      expect(collector.targets().map((x) => x.spec)).toEqual([watched.spec]);
    } finally {
      loop.kill('SIGKILL');
      await cap.stop();
    }
  });

  it('records every process except itself in all-processes mode', async () => {
    const collector = await Collector.open({ all: true });
    const cap = capture(collector);
    const pid = await runWorkload(['getppid', '3000']);
    const ev = await cap.stop();
    const fromWorkload = ev.nr.filter((n, i) => n === GETPPID && ev.tid[i] === pid);
    expect(fromWorkload).toHaveLength(3000);
    expect(ev.tid).not.toContain(process.pid);
  });

  it('reports a target whose cgroup disappears', async () => {
    const doomed = watched.child('doomed');
    const collector = await Collector.open({ targets: [doomed.spec], targetCheckMs: 50 });
    const gone = new Promise<string>((resolve) => collector.once('target-gone', (t: { spec: string }) => resolve(t.spec)));
    await doomed.remove();
    expect(await gone).toBe(doomed.spec);
    expect(collector.targets()).toHaveLength(0);
    await collector.close();
  });
});
