import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import { Collector } from '../../src/capture/collector.js';
import type { ExecEvent, ExitEvent, ForkEvent, ProcEvent } from '../../src/capture/proc-event.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { ProcessTable } from '../../src/process/table.js';
import { waitFor } from './helpers.js';

let cg: ScratchCgroup;
beforeAll(() => {
  cg = createScratchCgroup(`sw-test-proc-${process.pid}`);
});
afterAll(async () => {
  await cg.remove();
});

/** Runs `args` in the scratch cgroup and collects the process events until its process has ended. */
async function run(args: string[]): Promise<{ pid: number; events: ProcEvent[]; table: ProcessTable; collector: Collector }> {
  const collector = await Collector.open({ targets: [cg.spec] });
  const events: ProcEvent[] = [];
  const table = new ProcessTable();
  collector.on('batch', (b) => {
    for (const e of b.proc) {
      events.push(e);
      table.apply(e);
    }
  });
  const child = spawn(workloadPath(), ['--cgroup', cg.dir, 'exec', ...args], { stdio: 'ignore' });
  const pid = child.pid!;
  await new Promise((r) => child.once('exit', r));
  await waitFor(() => events.some((e) => e.kind === 'exit' && e.pid === pid && e.groupDead), `the exit of ${pid} in the process events`, 10_000);
  await collector.close();
  return { pid, events, table, collector };
}

describe('process events from the kernel', () => {
  it('name every process of a shell pipeline, short-lived ones included, from the kernel and not from /proc', async () => {
    const { pid, events, table, collector } = await run(['/bin/sh', '-c', '/bin/cat /etc/hostname >/dev/null; /bin/true one two; /bin/true three']);
    const execs = events.filter((e): e is ExecEvent => e.kind === 'exec');
    const forks = events.filter((e): e is ForkEvent => e.kind === 'fork' && e.pid === pid);
    const exits = events.filter((e): e is ExitEvent => e.kind === 'exit');
    // The shell itself: its exec, with the arguments it was given.
    const shell = execs.find((e) => e.pid === pid)!;
    expect(shell).toMatchObject({ exe: '/bin/sh', args: ['/bin/sh', '-c', expect.stringContaining('/bin/cat')], comm: 'sh' });
    // Three children forked by the shell, each exec'd, each exited, each named by the table after it was gone.
    expect(forks.filter((f) => !f.thread)).toHaveLength(3);
    const children = forks.map((f) => f.childPid);
    const byChild = (c: number) => execs.find((e) => e.pid === c)!;
    expect(children.map((c) => byChild(c).exe)).toEqual(['/bin/cat', '/bin/true', '/bin/true']);
    expect(byChild(children[1]!).args).toEqual(['/bin/true', 'one', 'two']);
    for (const c of children) {
      const exec = byChild(c);
      const exit = exits.find((e) => e.pid === c && e.groupDead)!;
      expect(exit, `the exit of child ${c}`).toBeDefined();
      expect(exec.ppid).toBe(pid);
      expect(exit.tsNs).toBeGreaterThan(exec.tsNs);
      // Gone from /proc, still named: the table was built from the events.
      expect(existsSync(`/proc/${c}`)).toBe(false);
      const ctx = table.context(c)!;
      expect(ctx).toMatchObject({ pid: c, ppid: pid, exe: exec.exe, args: exec.args, parentExe: '/bin/sh', source: 'exec', exited: true });
    }
    // Every process event is counted, none lost.
    const s = collector.stats().proc!;
    expect(s.available).toBe(true);
    expect(s.emitted).toBe(events.length);
    expect(s.delivered).toBe(events.length);
    expect(s.kernelDropped + s.userDropped + s.unknown).toBe(0);
    // Syscall counts stay counts of syscalls: process events are not among them.
    const st = collector.stats();
    expect(st.user.events + st.user.droppedEvents).toBe(st.kernel.emitted);
  });

  it('place each event among the syscall records, and flag a new thread as a thread', async () => {
    const collector = await Collector.open({ targets: [cg.spec] });
    const seen: Array<{ e: ProcEvent; tidsBefore: number[]; tidsAfter: number[] }> = [];
    collector.on('batch', (b) => {
      for (const e of b.proc) {
        const before: number[] = [];
        const after: number[] = [];
        for (let i = 0; i < b.count; i++) (i < e.at ? before : after).push(b.tid(i));
        seen.push({ e, tidsBefore: before, tidsAfter: after });
      }
    });
    const child = spawn(workloadPath(), ['--cgroup', cg.dir, 'pattern', '200', '3'], { stdio: 'ignore' });
    const pid = child.pid!;
    await new Promise((r) => child.once('exit', r));
    await waitFor(() => seen.some((s) => s.e.kind === 'exit' && s.e.pid === pid && (s.e as ExitEvent).groupDead), 'the workload to exit', 10_000);
    await collector.close();
    const threads = seen.map((s) => s.e).filter((e): e is ForkEvent => e.kind === 'fork' && e.pid === pid);
    expect(threads).toHaveLength(3);
    for (const t of threads) {
      expect(t.thread).toBe(true);
      expect(t.childPid).toBe(pid);
      // No syscall of the new thread comes before its creation within the batch.
      const at = seen.find((s) => s.e === t)!;
      expect(at.tidsBefore).not.toContain(t.childTid);
      // And its exit comes after its last syscall.
      const exit = seen.find((s) => s.e.kind === 'exit' && s.e.tid === t.childTid)!;
      expect(exit, `the exit of thread ${t.childTid}`).toBeDefined();
      expect(exit.tidsAfter).not.toContain(t.childTid);
    }
  });
});
