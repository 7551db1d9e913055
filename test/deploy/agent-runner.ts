/**
 * Runs the agent image as a container with exactly the privileges of
 * src/deploy/privileges.ts (the DaemonSet's), through the engine dockerd
 * brings:
 *
 * - Docker 23 or later: `docker run` with dockerRunOptions, the line the
 *   docs give.
 * - Older Docker (Debian 12's 20.10, this machine's): it knows neither
 *   CAP_BPF nor CAP_PERFMON by name (it refuses `--cap-add BPF`), so it
 *   could grant them only as CAP_SYS_ADMIN. The agent then runs in the
 *   containerd that dockerd runs, through `ctr`: the runtime that runs
 *   the DaemonSet on most Kubernetes nodes, with its default seccomp profile.
 *
 * Either way the test checks the agent's effective capabilities from the
 * host, so the grant is proven, not assumed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AGENT_ENTRYPOINT } from '../../src/deploy/agent-image.js';
import { agentCapabilities, dockerRunOptions, mountSources, type RunOptions } from '../../src/deploy/privileges.js';
import { startProcess, type CliProcess } from '../pipeline/cli-process.js';

const run = promisify(execFile);

const CONTAINERD = '/run/docker/containerd/containerd.sock';
/** containerd namespace of the test's agent containers and its copy of the image. */
const NAMESPACE = 'syswarden-test';
/** What containerd grants a container unless told otherwise (ctr 1.6 has no --cap-drop ALL). */
const CONTAINERD_DEFAULT_CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE'];
const CAP_NUMBERS: Record<string, number> = { PERFMON: 38, BPF: 39 };

export interface AgentContainer extends CliProcess {
  readonly name: string;
  readonly via: 'docker' | 'containerd';
  /** The agent's pid on the host, once it runs. */
  hostPid(): Promise<number>;
  /** Remove the container, whatever state it is in. */
  remove(): Promise<void>;
}

function ctr(args: string[]): string[] {
  return ['--address', CONTAINERD, '--namespace', NAMESPACE, ...args];
}

export async function dockerMajor(): Promise<number> {
  const { stdout } = await run('docker', ['version', '--format', '{{.Server.Version}}']);
  return Number(stdout.trim().split('.')[0]);
}

/** Which way agents run here (see the top of this file). */
export async function agentEngine(): Promise<'docker' | 'containerd'> {
  if ((await dockerMajor()) >= 23) return 'docker';
  if (!existsSync(CONTAINERD)) throw new Error(`Docker ${await dockerMajor()} cannot grant CAP_BPF, and its containerd socket ${CONTAINERD} is missing`);
  return 'containerd';
}

/** Give containerd the image (from Docker's store); undone by forgetImage. */
export async function shareImage(tag: string): Promise<void> {
  if ((await agentEngine()) === 'docker') return;
  await run('sh', ['-c', `docker save "$1" | ctr --address ${CONTAINERD} --namespace ${NAMESPACE} images import -`, 'sh', tag], { maxBuffer: 1 << 20, timeout: 300_000 });
}

export async function forgetImage(tag: string): Promise<void> {
  if ((await agentEngine()) === 'docker') return;
  await run('ctr', ctr(['images', 'rm', `docker.io/library/${tag}`])).catch(() => {});
  // containerd collects the image's content and snapshots soon after; the
  // namespace can go once they have (polled, at most 30 s).
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      await run('ctr', ['--address', CONTAINERD, 'namespaces', 'rm', NAMESPACE]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Start the agent image as container `name` with `args`, under `options`' privileges. */
export async function startAgent(name: string, image: string, args: readonly string[], options: Omit<RunOptions, 'image'>): Promise<AgentContainer> {
  const via = await agentEngine();
  const pidDir = mkdtempSync(join(tmpdir(), 'sw-agent-pid-'));
  const pidFile = join(pidDir, 'pid');
  let p: CliProcess;
  if (via === 'docker') {
    p = startProcess('docker', ['run', '--rm', '--name', name, ...dockerRunOptions({ image, ...options }), image, ...args]);
  } else {
    const caps = agentCapabilities({ image, ...options });
    const flags = [
      '--rm',
      '--pid-file', pidFile,
      ...CONTAINERD_DEFAULT_CAPS.flatMap((c) => ['--cap-drop', `CAP_${c}`]),
      ...caps.flatMap((c) => ['--cap-add', `CAP_${c}`]),
      // containerd's default seccomp profile: what Kubernetes' RuntimeDefault is on such a node.
      '--seccomp',
      '--read-only',
      // The host's pid namespace: this test's own.
      ...(options.hostPid !== false ? ['--with-ns', `pid:/proc/${process.pid}/ns/pid`] : []),
      // rro: read-only all the way down (a hybrid host's /sys/fs/cgroup has the hierarchies mounted below it).
      ...mountSources({ image, ...options }).flatMap((m) => ['--mount', `type=bind,src=${m.source},dst=${m.target},options=rbind:rro`]),
    ];
    // ctr runs the command it is given in place of the image's entrypoint.
    p = startProcess('ctr', ctr(['run', ...flags, `docker.io/library/${image}`, name, AGENT_ENTRYPOINT, ...args]));
  }
  const self: AgentContainer = {
    ...p,
    name,
    via,
    async hostPid() {
      if (via === 'docker') return Number((await run('docker', ['inspect', '--format', '{{.State.Pid}}', name])).stdout.trim());
      return Number(readFileSync(pidFile, 'utf8').trim());
    },
    async remove() {
      if (via === 'docker') await run('docker', ['rm', '-f', name]).catch(() => {});
      else {
        await run('ctr', ctr(['tasks', 'kill', '--signal', 'SIGKILL', name])).catch(() => {});
        await p.exit(30_000).catch(() => {});
        await run('ctr', ctr(['containers', 'rm', name])).catch(() => {});
        await run('ctr', ctr(['snapshots', 'rm', name])).catch(() => {});
      }
      rmSync(pidDir, { recursive: true, force: true });
    },
  };
  return self;
}

/** The capability set a process holds (CapEff of its status), as names of the ones the agent may hold, or 'other'. */
export function effectiveCapabilities(hostPid: number): string[] {
  const eff = BigInt('0x' + /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${hostPid}/status`, 'utf8'))![1]);
  const names: string[] = [];
  let rest = eff;
  for (const [name, bit] of Object.entries(CAP_NUMBERS)) {
    if ((eff >> BigInt(bit)) & 1n) {
      names.push(name);
      rest &= ~(1n << BigInt(bit));
    }
  }
  if (rest !== 0n) names.push(`other(0x${rest.toString(16)})`);
  return names.sort();
}

/** Containers a killed earlier run left in the test's containerd namespace. */
export function removeLeftovers(prefix: string): void {
  if (!existsSync(CONTAINERD)) return;
  let list = '';
  try {
    list = execFileSync('ctr', ctr(['containers', 'ls', '-q']), { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const id of list.split('\n').filter((l) => l.startsWith(prefix))) {
    try {
      execFileSync('ctr', ctr(['tasks', 'kill', '--signal', 'SIGKILL', id]), { stdio: 'ignore' });
    } catch {
      /* no task */
    }
    try {
      execFileSync('ctr', ctr(['containers', 'rm', id]), { stdio: 'ignore' });
    } catch {
      /* a killed task takes a moment to go: the next run removes it */
    }
  }
}

/** Mount points at or below `targets` in a process's mount namespace that are writable. */
export function writableMounts(hostPid: number, targets: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of readFileSync(`/proc/${hostPid}/mountinfo`, 'utf8').split('\n')) {
    const f = line.split(' ');
    const point = f[4];
    if (!point || !targets.some((t) => point === t || point.startsWith(`${t}/`))) continue;
    if (!f[5]!.split(',').includes('ro')) out.push(point);
  }
  return out;
}
