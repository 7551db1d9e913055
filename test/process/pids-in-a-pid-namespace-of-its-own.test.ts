/**
 * syswarden run the way a container runs it: in a pid namespace of its own
 * (unshare --pid --fork --mount-proc), watching processes of a sibling pid
 * namespace and of its own. Every pid it reports is checked against what
 * the kernel says from the host side (NSpid in the host's /proc), and a
 * decoy in syswarden's namespace is given the very number of a watched
 * host pid, so that reading /proc or signalling by that number would reach
 * the wrong process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import type { ExecEvent, ProcEvent } from '../../src/capture/proc-event.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { pidView, readStatus, taskIdsOfLocalPid } from '../../src/process/pidns.js';
import { readExe } from '../../src/process/table.js';
import { projectRoot, waitFor } from '../capture/helpers.js';

function nspidOf(status: string): number[] {
  const line = /^NSpid:\s*(.*)$/m.exec(status)?.[1] ?? '';
  return line.trim().split(/\s+/).map(Number);
}

/** The pids of a host pid through the namespaces, host first (NSpid of the host's /proc); none once it has gone. */
function nspid(hostPid: number): number[] {
  const status = readStatus(hostPid);
  return status === undefined ? [] : nspidOf(status);
}

/** The child `unshare --fork` made (host pid), once it has exec'd `exe`. */
async function forkedChild(u: ChildProcess, exe: RegExp): Promise<number> {
  let child = 0;
  await waitFor(() => {
    try {
      child = Number(readFileSync(`/proc/${u.pid}/task/${u.pid}/children`, 'utf8').trim().split(/\s+/)[0] ?? 0);
      return child > 0 && exe.test(readlinkSync(`/proc/${child}/exe`));
    } catch {
      return false;
    }
  }, `the child of unshare ${u.pid} running ${exe}`, 10_000);
  return child;
}

/** A process in a pid namespace of its own, in the watched cgroup: [unshare, its child's host pid]. */
async function sibling(cg: ScratchCgroup, args: string[]): Promise<{ unshare: ChildProcess; pid: number }> {
  const unshare = spawn('unshare', ['--pid', '--fork', '--kill-child', workloadPath(), '--cgroup', cg.dir, 'exec', ...args], { stdio: 'ignore' });
  return { unshare, pid: await forkedChild(unshare, /sleep$/) };
}

class Agent {
  readonly events: ProcEvent[] = [];
  private readonly replies = new Map<number, (r: Record<string, unknown>) => void>();
  private next = 0;
  stderr = '';
  private constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { op: string; id?: number; e?: ProcEvent };
      if (m.op === 'event') this.events.push(m.e!);
      else this.replies.get(m.id!)?.(m);
    });
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  static start(cg: ScratchCgroup): Agent {
    const proc = spawn(
      'unshare',
      ['--pid', '--fork', '--kill-child', '--mount-proc', process.execPath, join(projectRoot, 'test', 'process', 'pidns-agent.mjs'), join(projectRoot, 'dist'), cg.spec, cg.dir, workloadPath()],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    return new Agent(proc);
  }

  ask<T = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.next;
    return new Promise<T>((resolve, reject) => {
      const gone = () => reject(new Error(`the agent exited before answering ${op}: ${this.stderr}`));
      this.proc.once('exit', gone);
      this.replies.set(id, (r) => {
        this.proc.off('exit', gone);
        if (r.error) reject(new Error(`${op}: ${String(r.error)}`));
        else resolve(r as T);
      });
      this.proc.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n');
    });
  }
}

interface Context {
  pid: number;
  ppid: number;
  vpid?: number;
  exe?: string;
  args?: string[];
  source: string;
}

let cg: ScratchCgroup;
const started: ChildProcess[] = [];
let agent: Agent;
let view: { host: boolean; level: number; selfHostPid: number; self: number };
let w: number; // a sibling-namespace process that predates the watch
let decoyLocal: number;
let p0Host: number; // a process of the agent's namespace that predates the watch
let p0Local: number;

beforeAll(async () => {
  cg = createScratchCgroup(`sw-test-pidns-${process.pid}`);
  const s = await sibling(cg, ['/bin/sleep', '1000']);
  started.push(s.unshare);
  w = s.pid;
  agent = Agent.start(cg);
  started.push(agent.proc);
  // In the agent's namespace, with the watched host pid's number, in the watched cgroup.
  decoyLocal = (await agent.ask<{ local: number }>('decoy', { pid: w, args: ['/usr/bin/tail', '-f', '/dev/null'] })).local;
  p0Local = (await agent.ask<{ local: number }>('start', { args: ['/bin/sleep', '1002'] })).local;
  await waitFor(() => readFileSync(join(cg.dir, 'cgroup.procs'), 'utf8').split('\n').some((p) => p && nspid(Number(p)).at(-1) === p0Local && /sleep$/.test(readExe(Number(p)) ?? '')), 'the agent\'s first process in the cgroup', 10_000);
  p0Host = Number(readFileSync(join(cg.dir, 'cgroup.procs'), 'utf8').split('\n').find((p) => p && nspid(Number(p)).at(-1) === p0Local && nspid(Number(p)).length === 2));
  view = await agent.ask('open');
}, 60_000);

afterAll(async () => {
  await agent?.ask('close').catch(() => {});
  for (const c of started) c.kill('SIGKILL');
  await waitFor(() => started.every((c) => c.exitCode !== null || c.signalCode !== null), 'the namespaces to end', 10_000).catch(() => {});
  await cg?.remove();
});

describe('syswarden in the host pid namespace', () => {
  it('knows it, and the kernel agrees: its pid is its host pid, at depth 0, and nothing is translated', () => {
    const v = pidView();
    expect(v).toMatchObject({ host: true, level: 0, selfHostPid: process.pid });
    expect(v.describe()).toBeUndefined();
    const me = taskIdsOfLocalPid(process.pid).find((t) => t.tid === t.pid)!;
    expect(me).toMatchObject({ pid: process.pid, lpid: process.pid, vpid: process.pid, level: 0, readerLevel: 0 });
    expect(v.idsOf(process.pid)).toBeUndefined();
  });
});

describe('syswarden in a pid namespace of its own', () => {
  it('knows it is not in the host pid namespace, and knows its own host pid', () => {
    expect(view.host).toBe(false);
    expect(view.level).toBe(1);
    expect(view.self).toBe(1);
    // The kernel's numbers for the agent, read from the host side.
    expect(nspid(view.selfHostPid)).toEqual([view.selfHostPid, 1]);
    expect(readFileSync(`/proc/${view.selfHostPid}/cmdline`, 'utf8')).toContain('pidns-agent.mjs');
  });

  it('has a decoy with the number of the watched host pid (the collision the test is about)', async () => {
    expect(decoyLocal).toBe(w);
    expect((await agent.ask<{ exe: string }>('exe', { pid: w })).exe).toMatch(/tail$/);
    expect(readlinkSync(`/proc/${w}/exe`)).toMatch(/sleep$/);
  });

  it('gives host pids and each process\'s own pid in the events of a sibling namespace and of its own', async () => {
    const s = await sibling(cg, ['/bin/sleep', '1003']);
    started.push(s.unshare);
    const p1Local = (await agent.ask<{ local: number }>('start', { args: ['/bin/sleep', '1004'] })).local;
    const execOf = (arg: string) => agent.events.find((e): e is ExecEvent => e.kind === 'exec' && e.args.includes(arg));
    await waitFor(() => execOf('1003') !== undefined && execOf('1004') !== undefined, 'both execs in the agent\'s events', 10_000);
    // The sibling: host pid, and pid 1 of its own namespace.
    const sib = execOf('1003')!;
    expect(nspid(s.pid)).toEqual([s.pid, 1]);
    expect(sib).toMatchObject({ pid: s.pid, tid: s.pid, vpid: 1, vtid: 1 });
    // The agent's own: host pid, and the pid the agent's namespace gave it.
    const own = execOf('1004')!;
    expect(nspid(own.pid)).toEqual([own.pid, p1Local]);
    expect(own).toMatchObject({ vpid: p1Local, vtid: p1Local });
    // Forks too: every pid field of every event is a host pid whose innermost number is the v-one.
    for (const e of agent.events) {
      const status = e.kind === 'fork' ? readStatus(e.childPid) : undefined;
      if (status !== undefined) expect(nspidOf(status).at(-1)).toBe(e.childVpid);
    }
    const ctx = (await agent.ask<{ context: Context }>('context', { tid: s.pid })).context;
    expect(ctx).toMatchObject({ pid: s.pid, vpid: 1, exe: '/bin/sleep', args: ['/bin/sleep', '1003'], source: 'exec' });
    // Killed by the agent: a process of its namespace, named by its host pid.
    const killed = await agent.ask<{ ok: boolean; reason?: string }>('kill', { pid: own.pid, really: true });
    expect(killed).toMatchObject({ ok: true });
    await waitFor(() => {
      const status = readStatus(own.pid);
      return status === undefined || /State:\s*Z/.test(status);
    }, `process ${own.pid} killed`, 10_000);
  });

  it('names a process that predates the watch from /proc only through the kernel\'s translation: never the decoy with its number', async () => {
    const ctx = (await agent.ask<{ context: Context | null }>('context', { tid: w })).context;
    // Outside the agent's namespace: nothing read, rather than the decoy's program.
    expect(ctx?.exe).toBeUndefined();
    expect(ctx?.args).toBeUndefined();
    // Inside it: read by the number the agent's namespace gives it, as the host pid.
    const own = (await agent.ask<{ context: Context }>('context', { tid: p0Host })).context;
    expect(own).toMatchObject({ pid: p0Host, vpid: p0Local, ppid: view.selfHostPid, exe: '/usr/bin/sleep', args: ['/bin/sleep', '1002'], source: 'proc' });
  });

  it('refuses to kill a process outside its namespace, and leaves both it and the decoy alive', async () => {
    const r = await agent.ask<{ ok: boolean; result: string; reason: string }>('kill', { pid: w, really: true });
    expect(r).toMatchObject({ ok: false, result: 'failed' });
    expect(r.reason).toMatch(/not in syswarden's pid namespace/);
    expect(readlinkSync(`/proc/${w}/exe`)).toMatch(/sleep$/);
    expect((await agent.ask<{ exe: string }>('exe', { pid: w })).exe).toMatch(/tail$/);
  });
});
