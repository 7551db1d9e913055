import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import type { ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runCli } from '../cli/helpers.js';
import { bpfObjectsOf, countOf, stillLoaded, type BpfObjects } from './bpf-objects.js';

/** A Node stack frame: what a user must never see for an expected failure. */
export const STACK_FRAME = '\n    at ';

/** Resolves once `cond()` holds, polling every `everyMs`; rejects with `what` past the deadline. Never a fixed sleep. */
export async function until(cond: () => boolean, what: string, timeoutMs: number, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Everything `pid` held while it ran: its BPF objects are read from
 * /proc/PID/fdinfo every few ms and kept (a union), so a process killed in
 * the middle of loading still shows what it had opened by then.
 */
export function sampleBpf(pid: number, everyMs = 5): { seen: () => BpfObjects; stop: () => BpfObjects } {
  const progs = new Set<number>();
  const maps = new Set<number>();
  const links = new Set<number>();
  const take = () => {
    const o = bpfObjectsOf(pid);
    o.progs.forEach((i) => progs.add(i));
    o.maps.forEach((i) => maps.add(i));
    o.links.forEach((i) => links.add(i));
  };
  take();
  const timer = setInterval(take, everyMs);
  const seen = (): BpfObjects => ({ progs: [...progs], maps: [...maps], links: [...links] });
  return {
    seen,
    stop: () => {
      clearInterval(timer);
      take();
      return seen();
    },
  };
}

/**
 * Wait until the kernel has none of `objs` any more. It frees them when the
 * last descriptor closes, after an RCU grace period: on a loaded machine
 * that takes a while, so this waits on the objects themselves.
 */
export async function expectReleased(objs: BpfObjects, what: string, timeoutMs = 60_000): Promise<void> {
  let left = objs;
  try {
    await until(() => countOf((left = stillLoaded(objs))) === 0, `${what}: its BPF objects to be freed`, timeoutMs, 100);
  } catch (e) {
    throw new Error(`${(e as Error).message}; still loaded: ${JSON.stringify(left)}`);
  }
}

/** Whether a file system is mounted exactly at `dir` (per /proc/self/mountinfo). */
export function mountedAt(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === dir);
}

/** Names in `dir`, sorted: temporary files included (they start with a dot). */
export function filesIn(dir: string): string[] {
  return readdirSync(dir).sort();
}

/**
 * eio-fs.c compiled into `outDir`: a FUSE file system whose writes fail with
 * EIO past a per-file budget of bytes (see the source).
 */
export function buildEioFs(source: string, outDir: string): string {
  const binary = join(outDir, 'eio-fs');
  const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8' }).trim().split(/\s+/);
  execFileSync('cc', ['-O2', '-Wall', '-o', binary, source, ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
  return binary;
}

export interface EioMount {
  dir: string;
  /** Bytes of writes each file takes before they fail. */
  budget: number;
  daemon: ChildProcess;
  unmount: () => Promise<void>;
}

/** Mount eio-fs on `dir` (in the foreground, single-threaded) and wait until the mount is there. `failFsync`: every fsync fails, whatever the writes did. */
export async function mountEioFs(binary: string, dir: string, budget: number, options: { failFsync?: boolean } = {}): Promise<EioMount> {
  // auto_unmount: if this test process dies, the mount goes with the daemon.
  const args = [dir, '-f', '-s', '-o', 'auto_unmount', `--budget=${budget}`, ...(options.failFsync ? ['--fail-fsync'] : [])];
  const daemon = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  process.once('exit', () => daemon.kill('SIGKILL'));
  let err = '';
  daemon.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  let exited = false;
  daemon.once('exit', () => (exited = true));
  try {
    await until(() => mountedAt(dir) || exited, `eio-fs to be mounted on ${dir}`, 30_000);
  } catch (e) {
    daemon.kill('SIGKILL');
    throw e;
  }
  if (!mountedAt(dir)) throw new Error(`eio-fs did not mount on ${dir}: ${err}`);
  return {
    dir,
    budget,
    daemon,
    unmount: async () => {
      if (mountedAt(dir)) {
        try {
          execFileSync('fusermount3', ['-u', dir], { stdio: 'ignore' });
        } catch {
          execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
        }
      }
      if (!exited) {
        daemon.kill('SIGTERM');
        try {
          await until(() => exited, 'eio-fs to exit', 10_000);
        } catch {
          daemon.kill('SIGKILL');
        }
      }
    },
  };
}

/** Run sw-workload in `cg` again and again until stop(), which kills the run in progress too. */
export function busyLoop(cg: ScratchCgroup, args: string[]): { stop: () => Promise<void>; runs: () => number } {
  let running = true;
  let runs = 0;
  let current: ChildProcess | undefined;
  const done = (async () => {
    while (running) {
      await new Promise<void>((resolve, reject) => {
        current = spawn(workloadPath(), ['--cgroup', cg.dir, ...args], { stdio: 'ignore' });
        current.once('error', reject);
        current.once('exit', () => resolve());
      });
      runs++;
    }
  })();
  return {
    stop: async () => {
      running = false;
      current?.kill('SIGKILL');
      await done;
    },
    runs: () => runs,
  };
}

export interface ReadBack {
  header: { targets: Array<{ slot: number; spec: string }> };
  events: number;
  batches: number;
  truncated: string | null;
  trailer: { stats: { kernel: { matched: number; emitted: number; dropped: number }; user: { events: number; droppedEvents: number } }; gone: number[] } | null;
  perTarget: Array<{ slot: number; spec: string; events: number }>;
  stderr: string;
}

/**
 * `summary --json <file>` on a recording a fault cut short: it exits 0
 * (with the 'incomplete' warning when there is no trailer) and never crashes.
 */
export async function readsBack(file: string): Promise<ReadBack> {
  const r = await runCli(['summary', file, '--json'], 60_000);
  const what = `summary of ${file}: exit ${r.code}${r.timedOut ? ' (killed at the deadline)' : ''}\n${r.stderr}`;
  expect(r.stderr, what).not.toContain(STACK_FRAME);
  expect(r.code, what).toBe(0);
  const s = JSON.parse(r.stdout) as Omit<ReadBack, 'stderr'>;
  if (s.truncated) expect(r.stderr, what).toMatch(/warning: .* is incomplete: .*up to its last complete batch/);
  return { ...s, stderr: r.stderr };
}

/**
 * A recording whose writer was killed before its header was whole: summary
 * exits 0, or 1 with a clear reason (empty, no header) and no stack trace.
 */
export async function readsBackOrIsClearlyEmpty(file: string): Promise<ReadBack | 'empty'> {
  const r = await runCli(['summary', file, '--json'], 60_000);
  const what = `summary of ${file}: exit ${r.code}\n${r.stderr}`;
  expect(r.stderr, what).not.toContain(STACK_FRAME);
  expect(r.timedOut, what).toBe(false);
  if (r.code === 0) return { ...(JSON.parse(r.stdout) as Omit<ReadBack, 'stderr'>), stderr: r.stderr };
  expect(r.code, what).toBe(1);
  expect(r.stderr, what).toMatch(/is empty \(0 bytes\)|has a recording preamble but no (valid )?header|is not a syswarden recording/);
  return 'empty';
}
