/**
 * The Docker engine, driven through its CLI with every call bounded in time.
 * No systemd here and no registry anywhere: `ensureEngine` starts dockerd
 * itself when none answers, and images come from `docker import` (image.ts).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyswardenError } from '../errors.js';

export interface DockerResult {
  stdout: string;
  stderr: string;
}

/** Run `docker args…`; rejects with the CLI's own message (one line) on failure or after `timeoutMs`. */
export function docker(args: readonly string[], options: { timeoutMs?: number; input?: string } = {}): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = execFile('docker', args as string[], { timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string };
        const why = e.code === 'ENOENT' ? 'the docker CLI is not installed (Debian: apt-get install docker.io)' : e.killed ? `it did not finish within ${((options.timeoutMs ?? 60_000) / 1000).toFixed(0)} s` : (stderr || e.message).trim().split('\n').slice(-1)[0];
        reject(new SyswardenError('ERR_DOCKER', `docker ${args.slice(0, 2).join(' ')} failed: ${why}`));
        return;
      }
      resolve({ stdout: stdout.trim(), stderr: stderr.trim() });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

async function engineAnswers(): Promise<boolean> {
  try {
    await docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

function onPath(bin: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      closeSync(openSync(join(dir, bin), 'r'));
      return true;
    } catch {
      /* not here */
    }
  }
  return false;
}

export interface Engine {
  /** True when this process started dockerd (and stop() ends it). */
  readonly started: boolean;
  stop(): Promise<void>;
}

/**
 * Where syswarden processes that use a dockerd one of them started hold
 * their leases: `dockerd` names the engine's pid, and each user writes a
 * file named by its own pid. The engine is stopped by the last user to let
 * go, whichever started it, so two syswarden processes (a test run and a
 * demo, two scenario builds) never stop the engine under each other. A
 * dockerd no syswarden process started (no `dockerd` file) is never stopped.
 */
export const ENGINE_LEASES = process.env.SYSWARDEN_ENGINE_LEASES ?? '/run/syswarden/engine';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The dockerd a syswarden process started, if it still runs: its pid, else undefined. */
function leasedEngine(): number | undefined {
  try {
    const pid = Number(readFileSync(join(ENGINE_LEASES, 'dockerd'), 'utf8').trim());
    if (!(pid > 0) || !alive(pid)) return undefined;
    // A reused pid is some other program: not ours to stop.
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    return argv0.endsWith('dockerd') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Engines this process holds (one lease file for them all: two holders in one process, a test and the demo it runs, are one user). */
let held = 0;

function takeLease(): void {
  if (held++ > 0) return;
  try {
    mkdirSync(join(ENGINE_LEASES, 'users'), { recursive: true, mode: 0o700 });
    writeFileSync(join(ENGINE_LEASES, 'users', String(process.pid)), '');
  } catch {
    // Not writable (not root): no lease, and this process behaves as if it were the engine's only user.
  }
}

/** Whether a syswarden process started the running dockerd (and its last user will stop it). */
export function engineLeased(): boolean {
  return leasedEngine() !== undefined;
}

/** Drops one of this process's leases; true when no live syswarden process holds one any more. */
function dropLease(): boolean {
  if (--held > 0) return false;
  const dir = join(ENGINE_LEASES, 'users');
  let names: string[];
  try {
    rmSync(join(dir, String(process.pid)), { force: true });
    names = readdirSync(dir);
  } catch {
    return true;
  }
  let others = 0;
  for (const name of names) {
    if (alive(Number(name))) others++;
    else rmSync(join(dir, name), { force: true }); // a user that died without letting go
  }
  return others === 0;
}

/** An Engine whose stop() lets go of this process's lease once, stopping the engine (pid, when known) if it was the last. */
function leased(started: boolean, pidNow: () => number | undefined): Engine {
  let stopped = false;
  return {
    started,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopIfLast(pidNow());
    },
  };
}

/** Stops the leased dockerd (pid) when this process was its last user, and waits for it to exit. */
async function stopIfLast(pid: number | undefined): Promise<void> {
  if (!dropLease() || pid === undefined) return;
  const exited = waitGone(pid);
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, 20_000);
  await exited;
  clearTimeout(t);
  rmSync(join(ENGINE_LEASES, 'dockerd'), { force: true });
}

/** Resolves when `pid` has exited (our child, reaped by Node, or another's): polled, bounded at 30 s. */
async function waitGone(pid: number): Promise<void> {
  for (const deadline = Date.now() + 30_000; alive(pid) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
}

/**
 * A Docker engine that answers: the running one, or a dockerd started here
 * (no iptables, no bridge: scenario containers use the host's loopback).
 * Waits at most `timeoutMs` for it. stop() lets go of it: a dockerd a
 * syswarden process started ends when its last user lets go (ENGINE_LEASES).
 */
export async function ensureEngine(timeoutMs = 60_000): Promise<Engine> {
  if (await engineAnswers()) {
    if (leasedEngine() === undefined) return { started: false, stop: async () => {} };
    takeLease();
    return leased(false, leasedEngine);
  }
  for (const bin of ['docker', 'dockerd']) {
    if (!onPath(bin)) throw new SyswardenError('ERR_DOCKER', `${bin} is not installed, and scenarios run real containers. Fix: apt-get install docker.io containerd runc.`);
  }
  const logPath = join(tmpdir(), 'syswarden-dockerd.log');
  const log = openSync(logPath, 'a');
  let d: ChildProcess;
  try {
    d = spawn('dockerd', ['--iptables=false', '--ip6tables=false', '--bridge=none'], { stdio: ['ignore', log, log], detached: true });
  } finally {
    closeSync(log);
  }
  d.unref();
  takeLease();
  try {
    writeFileSync(join(ENGINE_LEASES, 'dockerd'), `${d.pid}\n`);
  } catch {
    // No lease directory: stop() ends the engine as before.
  }
  const deadline = Date.now() + timeoutMs;
  while (!(await engineAnswers())) {
    if (d.exitCode !== null || Date.now() > deadline) {
      if (d.exitCode === null) d.kill('SIGTERM');
      dropLease();
      throw new SyswardenError('ERR_DOCKER', `dockerd did not come up within ${(timeoutMs / 1000).toFixed(0)} s (its log: ${logPath}). Fix: start it yourself (dockerd &) and look at its log.`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return leased(true, () => (d.exitCode === null ? d.pid : undefined));
}

export async function imageExists(tag: string): Promise<boolean> {
  const { stdout } = await docker(['images', '-q', tag], { timeoutMs: 30_000 });
  return stdout.length > 0;
}

export interface RunSpec {
  name: string;
  image: string;
  command: readonly string[];
  env?: Record<string, string>;
  /** Run without Docker's default seccomp profile (see Scenario.seccompUnconfined). */
  seccompUnconfined?: boolean;
  /** Labels on the container (scenario, run), so leftovers can be found and removed. */
  labels?: Record<string, string>;
}

/** Start a detached container on the host network (its servers bind 127.0.0.1 ports); returns its full id. */
export async function startContainer(spec: RunSpec): Promise<string> {
  const args = ['run', '-d', '--name', spec.name, '--network', 'host', '--stop-timeout', '1'];
  if (spec.seccompUnconfined) args.push('--security-opt', 'seccomp=unconfined');
  for (const [k, v] of Object.entries(spec.env ?? {})) args.push('-e', `${k}=${v}`);
  for (const [k, v] of Object.entries(spec.labels ?? {})) args.push('--label', `${k}=${v}`);
  args.push(spec.image, ...spec.command);
  const { stdout } = await docker(args, { timeoutMs: 60_000 });
  return stdout.split('\n').slice(-1)[0]!;
}

/** Remove a container, running or not; a missing one is fine. */
export async function removeContainer(name: string): Promise<void> {
  try {
    await docker(['rm', '-f', name], { timeoutMs: 60_000 });
  } catch (e) {
    if (!(e instanceof SyswardenError) || !/No such container/i.test(e.message)) throw e;
  }
}

/** Whether a container still runs, and its last log lines (why it stopped). */
export async function containerState(name: string): Promise<{ running: boolean; exitCode: number; logs: string }> {
  const { stdout } = await docker(['inspect', '--format', '{{.State.Running}} {{.State.ExitCode}}', name], { timeoutMs: 30_000 });
  const [running, code] = stdout.split(' ');
  let logs = '';
  if (running !== 'true') {
    const r = await docker(['logs', '--tail', '5', name], { timeoutMs: 30_000 }).catch(() => ({ stdout: '', stderr: '' }));
    logs = `${r.stdout}\n${r.stderr}`.trim();
  }
  return { running: running === 'true', exitCode: Number(code), logs };
}
