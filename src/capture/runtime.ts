// Container runtimes as auto-watch sees them: where they make containers'
// cgroups (the parents the kernel adopts children of), and what a container
// is (name, image, labels) from its id alone. Nothing here follows a
// runtime's event stream: the kernel's word on a new cgroup comes before any
// runtime could say a container started, for every runtime alike.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { cgroup2Mount, containerIdOfCgroupName } from './cgroup.js';
import { inspectContainer } from './docker.js';
import type { ContainerIdentity, KubernetesMeta } from './targets.js';
import type { ProcEvent } from './proc-event.js';

/**
 * The parents runtimes put containers' cgroups under, by layout: Docker with
 * the cgroupfs driver (/docker/<id>), systemd drivers for Docker, containerd,
 * CRI-O and Podman (system.slice, machine.slice: <runtime>-<id>.scope), and
 * Kubernetes pods (a slice or directory per pod under kubepods, with or
 * without a QoS level between).
 */
const KNOWN_PARENTS = ['docker', 'system.slice', 'machine.slice', 'libpod_parent'];
const KUBEPODS = ['kubepods', 'kubepods.slice'];
const POD_DIR = /^(?:kubepods-(?:burstable-|besteffort-)?)?pod[0-9a-f_-]+(?:\.slice)?$/;
const QOS_DIR = /^(?:kubepods-)?(?:burstable|besteffort)(?:\.slice)?$/;

/** How deep the tree is searched for parents of running containers. */
const MAX_DEPTH = 6;

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return []; // gone while we looked
  }
}

/**
 * Where containers' cgroups are made on this host (cgroup v2 paths): the
 * runtimes' known parents that exist, each Kubernetes pod's cgroup, and the
 * parent of every container cgroup found in the tree (a runtime configured
 * with another cgroup parent). Also returns the container cgroups found.
 */
export function runtimeLayout(): { parents: string[]; containers: string[] } {
  const mount = cgroup2Mount();
  const parents = new Set<string>();
  const containers: string[] = [];
  const rel = (dir: string) => '/' + relative(mount, dir).split(sep).join('/');
  for (const p of KNOWN_PARENTS) if (existsSync(join(mount, p, 'cgroup.procs'))) parents.add('/' + p);
  for (const k of KUBEPODS) {
    const top = join(mount, k);
    for (const name of subdirs(top)) {
      if (POD_DIR.test(name)) parents.add(rel(join(top, name)));
      else if (QOS_DIR.test(name)) for (const pod of subdirs(join(top, name))) if (POD_DIR.test(pod)) parents.add(rel(join(top, name, pod)));
    }
  }
  const walk = (dir: string, depth: number): void => {
    for (const name of subdirs(dir)) {
      const full = join(dir, name);
      if (containerIdOfCgroupName(name)) {
        containers.push(rel(full));
        parents.add(rel(dir));
      } else if (depth < MAX_DEPTH) walk(full, depth + 1);
    }
  };
  walk(mount, 1);
  return { parents: [...parents].filter((p) => p !== '/').sort(), containers: containers.sort() };
}

/** Whether a cgroup directory name is one a runtime gives a container (what adoption keeps). */
export function isContainerCgroupName(name: string): boolean {
  return containerIdOfCgroupName(name) !== undefined;
}

export function kubernetesMeta(labels: Record<string, unknown> | undefined): KubernetesMeta | undefined {
  if (!labels) return undefined;
  const str = (k: string) => (typeof labels[k] === 'string' && labels[k] ? (labels[k] as string).slice(0, 253) : undefined);
  const meta: KubernetesMeta = {};
  const pod = str('io.kubernetes.pod.name');
  const namespace = str('io.kubernetes.pod.namespace');
  const container = str('io.kubernetes.container.name');
  const podUid = str('io.kubernetes.pod.uid');
  if (pod) meta.pod = pod;
  if (namespace) meta.namespace = namespace;
  if (container) meta.container = container;
  if (podUid) meta.podUid = podUid;
  return Object.keys(meta).length > 0 ? meta : undefined;
}

const DOCKER_ROOT = () => process.env.SYSWARDEN_DOCKER_ROOT ?? '/var/lib/docker';

/**
 * Docker's own record of a container, written when it is created (before
 * it starts): read from disk without asking the engine, so a container is
 * described (and given its model) before its first exec.
 */
export function dockerRecord(id: string, root = DOCKER_ROOT()): ContainerIdentity | undefined {
  let j: { ID?: unknown; Name?: unknown; Image?: unknown; Config?: { Image?: unknown; Labels?: Record<string, unknown> } };
  try {
    j = JSON.parse(readFileSync(join(root, 'containers', id, 'config.v2.json'), 'utf8')) as typeof j;
  } catch {
    return undefined;
  }
  if (j.ID !== id) return undefined;
  const out: ContainerIdentity = { id };
  if (typeof j.Name === 'string' && j.Name) out.name = j.Name.replace(/^\//, '').slice(0, 256);
  if (typeof j.Config?.Image === 'string' && j.Config.Image) out.image = j.Config.Image.slice(0, 256);
  if (typeof j.Image === 'string' && j.Image) out.imageId = j.Image.slice(0, 256);
  const k8s = kubernetesMeta(j.Config?.Labels);
  if (k8s) out.kubernetes = k8s;
  return out;
}

/**
 * What a container is, from its id: Docker's record on disk first (it is
 * there from creation, and reading it never waits on a busy engine), then
 * the engine's API; the id alone when neither knows it (another runtime).
 */
export async function describeContainer(id: string, dockerRoot = DOCKER_ROOT()): Promise<ContainerIdentity> {
  const fromDisk = dockerRecord(id, dockerRoot);
  if (fromDisk) return fromDisk;
  try {
    const c = await inspectContainer(id, 2000);
    if (c.id !== id) return { id };
    const out: ContainerIdentity = { id, name: c.name };
    if (c.image) out.image = c.image;
    if (c.imageId) out.imageId = c.imageId;
    return out;
  } catch {
    return { id };
  }
}

/**
 * The model files that fit a container, best first: by image id (content
 * digest: `<64 hex>.model`), then by image name (`/` and `:` as `_`, e.g.
 * `nginx_1.25.model`, a name without a tag also as `_latest`).
 */
export function modelFileNames(c: ContainerIdentity): string[] {
  const names: string[] = [];
  const hex = imageIdHex(c.imageId);
  if (hex) names.push(`${hex}.model`);
  if (c.image) {
    const plain = c.image.replace(/@sha256:[0-9a-f]{64}$/, '');
    const safe = (s: string) => s.replace(/[/:@]/g, '_').replace(/[^A-Za-z0-9._-]/g, '');
    names.push(`${safe(plain)}.model`);
    if (!/:[^/]+$/.test(plain)) names.push(`${safe(plain)}_latest.model`);
  }
  return names;
}

/** An image id (sha256:<64 hex> or the bare hex) as its 64 hex digits; undefined for anything else. */
export function imageIdHex(imageId: string | undefined): string | undefined {
  return /^(?:sha256:)?([0-9a-f]{64})$/.exec(imageId ?? '')?.[1];
}

/** OCI runtimes that clone their own binary into a memfd and re-exec it as `<runtime> init` (runc's guard against CVE-2019-5736). */
const SELF_CLONING_RUNTIMES = new Set(['runc', 'crun', 'youki']);
const FD_PATH = /^\/(?:dev|proc\/(?:self|\d+))\/fd\/\d+$/;

/**
 * Whether an exec is the container runtime re-executing its own cloned
 * binary while it sets the container up (`/dev/fd/6` with arguments
 * `runc init`): the runtime, not the container's program. Whether that exec
 * falls inside the container's cgroup is a race between runc and its child,
 * so it must never be reported as drift. The caller asks only before the
 * container's first other exec: afterwards an exec from a file descriptor
 * is fileless execution, and reported like any other.
 */
export function isRuntimeSelfExec(exe: string, args: readonly string[]): boolean {
  if (!FD_PATH.test(exe) || args.length !== 2 || args[1] !== 'init') return false;
  const argv0 = args[0]!;
  return SELF_CLONING_RUNTIMES.has(argv0.slice(argv0.lastIndexOf('/') + 1));
}

/**
 * Which targets have started a program of their own: before that, an exec
 * that is the runtime's self re-exec (isRuntimeSelfExec) is the runtime
 * setting the container up, not a program of the container; after it, the
 * same exec is fileless execution. The one rule for learning which
 * executables are normal and for reporting drift while watching.
 */
export class ProgramStarts {
  private readonly started = new Set<number>();

  /** Whether an exec in `targetId` runs a program of the target's own (false: its runtime's setup). */
  isProgram(targetId: number, exe: string, args: readonly string[]): boolean {
    if (this.started.has(targetId)) return true;
    if (isRuntimeSelfExec(exe, args)) return false;
    this.started.add(targetId);
    return true;
  }

  /** The executables of the programs these process events exec'd (of target `only`, when given), into `into`. */
  addPrograms(events: readonly ProcEvent[], into: Set<string>, only?: number): void {
    for (const e of events) if (e.kind === 'exec' && (only === undefined || e.targetId === only) && this.isProgram(e.targetId, e.exe, e.args)) into.add(e.exe);
  }

  /** A removed target: an id reused later is a new container. */
  forget(targetId: number): void {
    this.started.delete(targetId);
  }
}
