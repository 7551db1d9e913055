import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import { Collector } from '../../src/capture/collector.js';
import type { MoveEvent, ProcEvent } from '../../src/capture/proc-event.js';
import type { EventBatch } from '../../src/capture/record.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { syscallName, syscallNumber } from '../../src/trace/syscalls.js';
import { runWorkload, startWorkload, waitFor } from './helpers.js';

// What an attacker inside a container could use to act unseen: a file read
// through an io_uring (no open or read syscall at all with SQPOLL), and a
// move out of the container's cgroup. Real kernel, real rings, real moves.

let cg: ScratchCgroup;
let other: ScratchCgroup;
let sibling: ScratchCgroup;
beforeAll(() => {
  cg = createScratchCgroup(`sw-test-blind-${process.pid}`);
  other = createScratchCgroup(`sw-test-blind-other-${process.pid}`);
  sibling = createScratchCgroup(`sw-test-blind-sib-${process.pid}`);
});
afterAll(async () => {
  await cg.remove();
  await other.remove();
  await sibling.remove();
});

interface Seen {
  /** [tsNs, tid, name, targetId] of every syscall record, in ring order. */
  calls: Array<[number, number, string, number]>;
  proc: ProcEvent[];
}

function watch(collector: Collector): Seen {
  const seen: Seen = { calls: [], proc: [] };
  collector.on('batch', (b: EventBatch) => {
    for (let i = 0; i < b.count; i++) seen.calls.push([b.tsNs(i), b.tid(i), syscallName(b.nr(i)), b.targetId(i)]);
    seen.proc.push(...b.proc);
  });
  return seen;
}

const exited = (seen: Seen, pid: number) => () => seen.proc.some((e) => e.kind === 'exit' && e.pid === pid && e.groupDead);

describe('io_uring operations', () => {
  it('are records of their own (io_uring:<op>), submitted by io_uring_enter or by an SQPOLL thread', async () => {
    const collector = await Collector.open({ targets: [cg.spec] });
    const seen = watch(collector);
    expect(collector.stats().uring).toBe(true);
    const plain = await runWorkload(['--cgroup', cg.dir, 'uring', '/etc/hostname', '5']);
    const polled = await runWorkload(['--cgroup', cg.dir, 'uring', '/etc/hostname', '3', 'sqpoll']);
    await waitFor(() => exited(seen, plain)() && exited(seen, polled)(), 'the exits of both ring programs', 10_000);
    await collector.close();

    // The threads of a process, as its exits name them (an SQPOLL thread is made without a fork event).
    const tidsOf = (pid: number) => new Set(seen.proc.filter((e) => e.kind === 'exit' && e.pid === pid).map((e) => e.tid));
    const opsOf = (pid: number) => {
      const tids = tidsOf(pid);
      return seen.calls.filter(([, tid, name]) => tids.has(tid) && name.startsWith('io_uring:')).map(([, , name]) => name);
    };
    // Each round opened, read and closed /etc/hostname through the ring, in that order.
    expect(opsOf(plain)).toEqual(Array.from({ length: 5 }, () => ['io_uring:openat', 'io_uring:read', 'io_uring:close']).flat());
    expect(opsOf(polled)).toEqual(Array.from({ length: 3 }, () => ['io_uring:openat', 'io_uring:read', 'io_uring:close']).flat());
    // Not one openat or read syscall: the ring was the only way the file was read.
    const plainCalls = seen.calls.filter(([, tid]) => tid === plain).map(([, , n]) => n);
    expect(plainCalls).toContain('io_uring_setup');
    expect(plainCalls.filter((n) => n === 'io_uring_enter').length).toBeGreaterThanOrEqual(15);
    // With SQPOLL the ring's kernel thread submitted them: a thread of the process, watched with it.
    const sqThreads = new Set(seen.calls.filter(([, tid, n]) => tidsOf(polled).has(tid) && n.startsWith('io_uring:')).map(([, tid]) => tid));
    expect([...sqThreads].every((t) => t !== polled)).toBe(true);
    // A token of their own, named and parsed back.
    expect(syscallName(syscallNumber('io_uring:openat')!)).toBe('io_uring:openat');
    expect(syscallNumber('io_uring:openat')).not.toBe(syscallNumber('openat'));
  });
});

describe('leaving a watched cgroup', () => {
  it('is an escape event naming the cgroup moved to, and the process stays watched under its target', async () => {
    const collector = await Collector.open({ targets: [cg.spec] });
    const target = collector.targets()[0]!;
    const seen = watch(collector);
    const pid = await runWorkload(['--cgroup', cg.dir, '--cgroup', sibling.dir, 'pattern', '100']);
    await waitFor(exited(seen, pid), `the exit of ${pid}`, 10_000);
    await collector.close();

    const moves = seen.proc.filter((e): e is MoveEvent => (e.kind === 'attach' || e.kind === 'escape') && e.pid === pid);
    // It joined the target from outside (named with its executable), then left it for the sibling.
    expect(moves).toEqual([
      expect.objectContaining({ kind: 'attach', targetId: target.id, cgroup: cg.ref.path, exe: realpathSync(workloadPath()), comm: 'sw-workload' }),
      expect.objectContaining({ kind: 'escape', targetId: target.id, cgroup: sibling.ref.path, exe: realpathSync(workloadPath()) }),
    ]);
    expect(moves[0]!.fromTargetId).toBeUndefined();
    // Every call it made after the move was recorded, under the target it left.
    const escapedAt = moves[1]!.tsNs;
    const after = seen.calls.filter(([ts, tid]) => tid === pid && ts > escapedAt);
    expect(after.filter(([, , n]) => n === 'getsid')).toHaveLength(100);
    expect(after.filter(([, , n]) => n === 'getpgid')).toHaveLength(100);
    expect(after.every(([, , , t]) => t === target.id)).toBe(true);
    expect(collector.stats().proc).toMatchObject({ kernelDropped: 0, userDropped: 0, unfollowed: 0 });
  });

  it('is seen for a process that was in the container before the watch began, moved out by another process', async () => {
    const child = startWorkload(['--cgroup', cg.dir, 'forever', '2000']);
    try {
      await waitFor(() => readProcs(cg.dir).includes(child.pid!), `${child.pid} in the scratch cgroup`, 10_000);
      const collector = await Collector.open({ targets: [cg.spec] });
      const seen = watch(collector);
      // Someone else (here: this test) writes its pid into a cgroup no target contains.
      writeFileSync(`${sibling.dir}/cgroup.procs`, String(child.pid));
      await waitFor(() => seen.proc.some((e) => e.kind === 'escape' && e.pid === child.pid), 'the escape of the older process', 10_000);
      const escape = seen.proc.find((e) => e.kind === 'escape' && e.pid === child.pid) as MoveEvent;
      expect(escape).toMatchObject({ targetId: collector.targets()[0]!.id, cgroup: sibling.ref.path, exe: realpathSync(workloadPath()) });
      // And its calls keep coming, from the sibling cgroup.
      await waitFor(() => seen.calls.filter(([ts, tid, n]) => tid === child.pid && ts > escape.tsNs && n === 'getppid').length >= 3, 'its calls after the move', 10_000);
      await collector.close();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('into another watched container is an attach naming the container it came from (no escape)', async () => {
    const collector = await Collector.open({ targets: [cg.spec, other.spec] });
    const [a, b] = collector.targets();
    const seen = watch(collector);
    const pid = await runWorkload(['--cgroup', cg.dir, '--cgroup', other.dir, 'pattern', '10']);
    await waitFor(exited(seen, pid), `the exit of ${pid}`, 10_000);
    await collector.close();
    const moves = seen.proc.filter((e): e is MoveEvent => (e.kind === 'attach' || e.kind === 'escape') && e.pid === pid);
    expect(moves.map((m) => [m.kind, m.targetId, m.fromTargetId])).toEqual([
      ['attach', a!.id, undefined],
      ['attach', b!.id, a!.id],
    ]);
    // Its last calls count for the container it is in now.
    expect(seen.calls.filter(([, tid, n]) => tid === pid && n === 'getsid').every(([, , , t]) => t === b!.id)).toBe(true);
  });

  it('is no longer followed once its target is removed (the target id may go to another)', async () => {
    const child = startWorkload(['--cgroup', cg.dir, 'forever', '2000']);
    try {
      await waitFor(() => readProcs(cg.dir).includes(child.pid!), `${child.pid} in the scratch cgroup`, 10_000);
      const collector = await Collector.open({ targets: [cg.spec, other.spec] });
      const seen = watch(collector);
      const targetId = collector.targets().find((t) => t.spec === cg.spec)!.id;
      expect(collector.removeTarget(cg.spec)).toBe(true);
      // The kernel's clock (CLOCK_MONOTONIC, as the records'): what it did
      // before this was watched and is reported; nothing after it may be.
      const removedNs = Number(process.hrtime.bigint());
      writeFileSync(`${sibling.dir}/cgroup.procs`, String(child.pid));
      // A marker after the move, through the same ring: once it is seen, an escape would have been too.
      const marker = await runWorkload(['--cgroup', other.dir, 'pattern', '1']);
      await waitFor(exited(seen, marker), 'the marker process', 10_000);
      await collector.close();
      expect(seen.proc.filter((e) => e.pid === child.pid && e.tsNs > removedNs)).toEqual([]);
      expect(seen.calls.filter(([ts, tid]) => tid === child.pid && ts > removedNs)).toEqual([]);
      // Calls it made while still watched (a busy machine can leave time for some) name the target it was in.
      expect(seen.calls.filter(([, tid]) => tid === child.pid).every(([, , , t]) => t === targetId)).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

function readProcs(dir: string): number[] {
  return readFileSyncSafe(`${dir}/cgroup.procs`)
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

function readFileSyncSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
