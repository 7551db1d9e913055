import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { workloadPath } from '../../src/capture/addon.js';
import type { Collector } from '../../src/capture/collector.js';
import type { EventBatch } from '../../src/capture/record.js';

export interface Captured {
  nr: number[];
  tid: number[];
  slot: number[];
}

/** Keep every event the collector delivers, until stop() (which closes the collector). */
export function capture(collector: Collector): { events: Captured; stop: () => Promise<Captured> } {
  const events: Captured = { nr: [], tid: [], slot: [] };
  const onBatch = (b: EventBatch) => {
    for (let i = 0; i < b.count; i++) {
      events.nr.push(b.nr(i));
      events.tid.push(b.tid(i));
      events.slot.push(b.slot(i));
    }
  };
  collector.on('batch', onBatch);
  return {
    events,
    stop: async () => {
      await collector.close();
      collector.off('batch', onBatch);
      return events;
    },
  };
}

/** Run sw-workload to completion; resolves with its pid. */
export function runWorkload(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(workloadPath(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(child.pid!) : reject(new Error(`sw-workload ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

/** Start a long-running sw-workload (caller kills it). */
export function startWorkload(args: string[]): ChildProcess {
  return spawn(workloadPath(), args, { stdio: 'ignore' });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Wait until cond() holds, polling; fail with `what` after timeoutMs. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Program ids of loaded BPF programs named like ours (bpftool truncates names to 15 chars). */
export async function loadedSyswardenPrograms(): Promise<number[]> {
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('bpftool', ['-j', 'prog', 'show'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    p.stdout!.on('data', (d: Buffer) => (s += d.toString()));
    p.on('error', reject);
    p.on('exit', () => resolve(s));
  });
  const progs = JSON.parse(out || '[]') as Array<{ id: number; name?: string }>;
  return progs.filter((p) => p.name === 'sys_enter_btf' || p.name === 'sys_enter_tp').map((p) => p.id);
}

/** Ids of the syswarden programs a process holds open (its fdinfo says prog_id): its own, whatever other tests load meanwhile. */
export async function syswardenProgramsHeldBy(pid: number): Promise<number[]> {
  const held = new Set<number>();
  const fds = join('/proc', String(pid), 'fdinfo');
  for (const fd of readdirSync(fds)) {
    let info: string;
    try {
      info = readFileSync(join(fds, fd), 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const m = /^prog_id:\s*(\d+)/m.exec(info);
    if (m) held.add(Number(m[1]));
  }
  return (await loadedSyswardenPrograms()).filter((id) => held.has(id));
}

/**
 * Wait until a program id is gone from the kernel. Closing the last fd starts
 * the unload, but the kernel frees the program after an RCU grace period, so
 * it can stay listed for a few milliseconds more.
 */
export async function programUnloaded(id: number, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while ((await loadedSyswardenPrograms()).includes(id)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = join(projectRoot, 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Whether a user other than root can reach `path`: every directory on the way lets others through. */
function reachableByOthers(path: string): boolean {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dirname(dir) === dir) return true;
  }
}

let stagedCli: string | undefined;

/**
 * The built CLI where an unprivileged user can run it. A checkout inside a
 * private directory (`mktemp -d` makes 0700 ones) is out of reach of
 * `nobody`; then the CLI, its addon and its one runtime dependency are
 * copied once to a directory others can read.
 */
function cliForOtherUsers(): string {
  if (reachableByOthers(cliPath)) return cliPath;
  if (!stagedCli) {
    const root = mkdtempSync(join(tmpdir(), 'sw-cli-'));
    chmodSync(root, 0o755);
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
    cpSync(join(projectRoot, 'package.json'), join(root, 'package.json'));
    cpSync(join(projectRoot, 'dist'), join(root, 'dist'), { recursive: true });
    mkdirSync(join(root, 'build', 'Release'), { recursive: true });
    cpSync(join(projectRoot, 'build', 'Release', 'syswarden.node'), join(root, 'build', 'Release', 'syswarden.node'));
    cpSync(join(projectRoot, 'node_modules', 'msgpackr'), join(root, 'node_modules', 'msgpackr'), { recursive: true });
    stagedCli = join(root, 'dist', 'cli', 'main.js');
    if (!reachableByOthers(stagedCli)) throw new Error(`neither ${cliPath} nor ${stagedCli} can be reached by other users: make ${tmpdir()} searchable by others (chmod o+x)`);
  }
  return stagedCli;
}

/**
 * Run the built CLI in a child process. `wrap` prefixes the command (e.g.
 * setpriv to drop root, or unshare to change what is mounted for it alone);
 * `otherUser` says the wrap runs it as another user, who must be able to
 * read the CLI.
 */
export function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; wrap?: string[]; otherUser?: boolean; onSpawn?: (child: ChildProcess) => void; onStderr?: (stderrSoFar: string) => void } = {},
): Promise<CliResult> {
  const argv = [...(options.wrap ?? []), process.execPath, options.otherUser ? cliForOtherUsers() : cliPath, ...args];
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      options.onStderr?.(stderr);
    });
    options.onSpawn?.(p);
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A user-facing failure: exit 1, the expected message, and no stack trace. */
export function expectCleanFailure(r: CliResult, message: RegExp): void {
  if (r.code !== 1 || !message.test(r.stderr) || /\n\s+at /.test(r.stderr)) {
    throw new Error(`expected a clean failure matching ${message}, got exit ${r.code}:\n${r.stderr}`);
  }
}
