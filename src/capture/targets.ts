import { SyswardenError } from '../errors.js';
import { cgroupPathOfPid, cgroupRef, findContainerCgroups, type CgroupRef } from './cgroup.js';
import { inspectContainer } from './docker.js';
import { pidView } from '../process/pidns.js';

/** A target spec resolved to the cgroup the kernel filter will match. */
/** What names a container: its id, and what the runtime told of it. */
/** Kubernetes metadata from the io.kubernetes.* labels a runtime carries, when present. */
export interface KubernetesMeta {
  pod?: string;
  namespace?: string;
  container?: string;
  podUid?: string;
}

export interface ContainerIdentity {
  id: string;
  name?: string;
  image?: string;
  imageId?: string;
  kubernetes?: KubernetesMeta;
}

export interface ResolvedTarget {
  /** The spec as the user gave it. */
  readonly spec: string;
  readonly kind: 'cgroup' | 'pid' | 'docker' | 'container';
  readonly cgroup: CgroupRef;
  /** Container id and name (and image, from Docker), when the target is a container. */
  readonly container?: ContainerIdentity;
}

const HEX_ID = /^(?:[0-9a-f]{12}|[0-9a-f]{64})$/;

export const TARGET_SPEC_HELP =
  'Target specs: cgroup:<path> (relative to the cgroup v2 root), pid:<n> (that process\'s cgroup), ' +
  'docker:<id-or-name>, or a bare 12- or 64-hex container id.';

/**
 * Resolve a target spec to its cgroup v2 directory. A spec that lands on the
 * root of the hierarchy (`cgroup:/`, `cgroup:.`, or `pid:` of a process in
 * the root cgroup, such as init in a container) is refused: it would watch
 * the whole host while looking like one target.
 */
export async function resolveTarget(spec: string): Promise<ResolvedTarget> {
  const t = await resolveSpec(spec);
  if (t.cgroup.level === 0) {
    throw new SyswardenError(
      'ERR_INVALID_TARGET',
      `target '${spec}' resolves to the root of the cgroup v2 hierarchy (${t.cgroup.dir}), so it would watch every process on the host. ` +
        "Fix: name the container's or service's own cgroup, or, to record every process, use 'syswarden record --all'.",
    );
  }
  return t;
}

async function resolveSpec(spec: string): Promise<ResolvedTarget> {
  if (typeof spec !== 'string' || spec.length === 0) {
    throw new SyswardenError('ERR_INVALID_TARGET', `empty target. ${TARGET_SPEC_HELP}`);
  }
  if (spec.startsWith('cgroup:')) {
    const path = spec.slice('cgroup:'.length);
    if (!path) throw new SyswardenError('ERR_INVALID_TARGET', `'${spec}' names no cgroup path. ${TARGET_SPEC_HELP}`);
    return { spec, kind: 'cgroup', cgroup: cgroupRef(path) };
  }
  if (spec.startsWith('pid:')) {
    const text = spec.slice('pid:'.length);
    if (!/^[1-9][0-9]*$/.test(text)) {
      throw new SyswardenError('ERR_INVALID_TARGET', `'${spec}': the pid must be a positive whole number, e.g. pid:1234.`);
    }
    return { spec, kind: 'pid', cgroup: cgroupRef(cgroupPathOfPid(Number(text))) };
  }
  if (spec.startsWith('docker:')) {
    const name = spec.slice('docker:'.length);
    const c = await inspectContainer(name);
    if (!c.running || c.pid <= 0) {
      throw new SyswardenError(
        'ERR_CONTAINER_GONE',
        `container ${c.name} (${c.id.slice(0, 12)}) is not running (state: ${c.status}). Start it (\`docker start ${c.name}\`) or pick a running one.`,
      );
    }
    // The engine's pid gives the exact cgroup, whatever layout the runtime uses; it is a
    // host pid, so in a pid namespace of syswarden's own the cgroup is found by the id instead.
    let path: string;
    if (pidView().host) {
      try {
        path = cgroupPathOfPid(c.pid);
      } catch {
        throw new SyswardenError('ERR_CONTAINER_GONE', `container ${c.name} (${c.id.slice(0, 12)}) exited while syswarden was resolving it.`);
      }
    } else {
      const paths = [...new Set(findContainerCgroups(c.id))];
      if (paths.length !== 1) {
        throw new SyswardenError(
          'ERR_TARGET_NOT_FOUND',
          `container ${c.name} (${c.id.slice(0, 12)}): syswarden runs in a pid namespace of its own, so Docker's pid ${c.pid} names nothing here, and ` +
            `${paths.length === 0 ? 'no cgroup' : `${paths.length} cgroups`} of that id were found in the cgroup v2 tree. Fix: give cgroup:<path>, or run syswarden in the host pid namespace.`,
        );
      }
      path = paths[0]!;
    }
    const container: ContainerIdentity = { id: c.id, name: c.name };
    if (c.image) container.image = c.image;
    if (c.imageId) container.imageId = c.imageId;
    return { spec, kind: 'docker', cgroup: cgroupRef(path), container };
  }
  if (HEX_ID.test(spec)) {
    const paths = findContainerCgroups(spec);
    if (paths.length === 0) {
      throw new SyswardenError(
        'ERR_TARGET_NOT_FOUND',
        `no cgroup for container ${spec} in the cgroup v2 tree (looked for docker-<id>.scope, docker/<id>, ` +
          'cri-containerd-<id>.scope, :cri-containerd:<id>, crio-<id>.scope, libpod-<id>.scope). ' +
          'Is the container running? If its runtime only uses cgroup v1, syswarden cannot filter it.',
      );
    }
    const unique = [...new Set(paths)];
    if (unique.length > 1) {
      throw new SyswardenError(
        'ERR_INVALID_TARGET',
        `container id ${spec} matches ${unique.length} cgroups (${unique.join(', ')}). Give the full 64-hex id or cgroup:<path>.`,
      );
    }
    const path = unique[0]!;
    const id = /([0-9a-f]{64})(?:\.scope)?$/.exec(path)?.[1] ?? spec;
    return { spec, kind: 'container', cgroup: cgroupRef(path), container: await identify(id) };
  }
  throw new SyswardenError('ERR_INVALID_TARGET', `cannot read target '${spec}'. ${TARGET_SPEC_HELP}`);
}

/**
 * A container found by its cgroup: its name and image from Docker when
 * Docker runs it (asked once, when the target is added), otherwise its id
 * alone (another runtime, or no engine to ask). Never fails the target.
 */
async function identify(id: string): Promise<ContainerIdentity> {
  try {
    const c = await inspectContainer(id, 2000);
    if (c.id !== id && !c.id.startsWith(id)) return { id };
    const out: ContainerIdentity = { id: c.id, name: c.name };
    if (c.image) out.image = c.image;
    if (c.imageId) out.imageId = c.imageId;
    return out;
  } catch {
    return { id };
  }
}
