import { describe, expect, it } from 'vitest';
import type { ExecEvent, ExitEvent, ForkEvent } from '../../src/capture/proc-event.js';
import { ProcessTable, RETIRED_PROCESSES } from '../../src/process/table.js';

/**
 * Crafted events for what a test cannot make the kernel do on cue: a tid
 * reused by a new process, more exited processes than are remembered.
 * Pids are far above pid_max (4194304), so no /proc fallback can answer.
 */
const BASE = 50_000_000;
const head = { tsNs: 1, targetId: 0, at: 0 };
const exec = (pid: number, ppid: number, exe: string, args: string[], tid = pid): ExecEvent => ({
  ...head, kind: 'exec', tid, pid, ppid, comm: exe.split('/').pop()!.slice(0, 15), exe, args, exeTruncated: false, argsTruncated: false,
});
const fork = (pid: number, ppid: number, childTid: number, childPid: number, thread = false): ForkEvent => ({
  ...head, kind: 'fork', tid: pid, pid, ppid, comm: 'p', childTid, childPid, thread,
});
const exit = (tid: number, pid: number, groupDead: boolean): ExitEvent => ({ ...head, kind: 'exit', tid, pid, ppid: 1, comm: 'p', exitCode: 0, groupDead });

describe('the process table', () => {
  it('follows forks, threads and execs, and names a process after it exited', () => {
    const t = new ProcessTable();
    const sh = BASE + 1;
    t.apply(exec(sh, BASE, '/bin/sh', ['sh', '-c', 'x']));
    t.apply(fork(sh, BASE, sh + 1, sh + 1));
    // Before its exec the child runs its parent's program.
    expect(t.context(sh + 1)).toMatchObject({ pid: sh + 1, ppid: sh, exe: '/bin/sh', source: 'fork', parentExe: '/bin/sh' });
    t.apply(exec(sh + 1, sh, '/usr/bin/cat', ['cat', '/etc/shadow']));
    t.apply(fork(sh + 1, sh, sh + 2, sh + 1, true));
    expect(t.context(sh + 2)).toMatchObject({ pid: sh + 1, exe: '/usr/bin/cat', args: ['cat', '/etc/shadow'] });
    t.apply(exit(sh + 2, sh + 1, false));
    t.apply(exit(sh + 1, sh + 1, true));
    expect(t.context(sh + 1)).toMatchObject({ pid: sh + 1, exe: '/usr/bin/cat', exited: true, parentExe: '/bin/sh' });
    // The exited thread still resolves to its process, for alerts scored after the exit.
    expect(t.context(sh + 2)?.pid).toBe(sh + 1);
    expect(t.size).toBe(1);
  });

  it('never lets a reused thread id name the process that used it before', () => {
    const t = new ProcessTable();
    const a = BASE + 100;
    t.apply(exec(a, BASE, '/usr/bin/old', ['old']));
    t.apply(exit(a, a, true));
    // The id comes back as a new process forked by someone else.
    t.apply(exec(BASE + 200, BASE, '/usr/bin/parent', ['parent']));
    t.apply(fork(BASE + 200, BASE, a, a));
    t.apply(exec(a, BASE + 200, '/usr/bin/new', ['new']));
    expect(t.context(a)).toMatchObject({ exe: '/usr/bin/new', ppid: BASE + 200, source: 'exec' });
    expect(t.context(a)?.exited).toBeUndefined();
  });

  it('remembers a bounded number of exited processes', () => {
    const t = new ProcessTable();
    const n = RETIRED_PROCESSES + 10;
    for (let i = 0; i < n; i++) {
      t.apply(exec(BASE + 1000 + i, BASE, `/bin/p${i}`, []));
      t.apply(exit(BASE + 1000 + i, BASE + 1000 + i, true));
    }
    expect(t.size).toBe(0);
    expect(t.context(BASE + 1000)).toBeUndefined(); // the oldest forgotten
    expect(t.context(BASE + 1000 + n - 1)?.exe).toBe(`/bin/p${n - 1}`);
  });

  it("names the program a window was made by, not one exec'd after it (the same answer whenever the alert is made)", () => {
    const t = new ProcessTable();
    const p = BASE + 7000;
    const at = (tsNs: number) => ({ ...head, tsNs });
    t.apply({ ...at(100), kind: 'attach', tid: p, pid: p, ppid: BASE, comm: 'sw-workload', exe: '/opt/sw-workload', exeTruncated: false, cgroup: '/c', thread: false });
    t.apply({ ...exec(p, BASE, '/usr/bin/cat', ['cat', '/etc/shadow']), tsNs: 200 });
    t.apply({ ...exec(p, BASE, '/usr/bin/tail', ['tail']), tsNs: 300 });
    t.apply({ ...exit(p, p, true), tsNs: 400 });
    const exeAt = (ns?: number) => t.context(p, ns === undefined ? {} : { atNs: ns })?.exe;
    expect([exeAt(150), exeAt(200), exeAt(250), exeAt(350), exeAt()]).toEqual(['/opt/sw-workload', '/usr/bin/cat', '/usr/bin/cat', '/usr/bin/tail', '/usr/bin/tail']);
    // It exited (after every one of those windows): said whichever program is named.
    expect(t.context(p, { atNs: 150 })).toMatchObject({ source: 'attach', exited: true });
  });
});
