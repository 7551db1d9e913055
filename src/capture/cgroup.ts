import { readFileSync, statSync, readdirSync, existsSync } from 'node:fs';
import { join, resolve, relative, sep } from 'node:path';
import { SyswardenError } from '../errors.js';

/** A cgroup v2 directory as the BPF filter sees it. */
export interface CgroupRef {
  /** Path relative to the cgroup v2 root, starting with '/'. */
  readonly path: string;
  /** Absolute directory on this host. */
  readonly dir: string;
  /** cgroup v2 id: the inode number of the directory, which is what bpf_get_current_cgroup_id() returns. */
  readonly id: bigint;
  /** Depth below the root (root = 0), the level bpf_get_current_ancestor_cgroup_id() takes. */
  readonly level: number;
}

const MOUNTINFO = '/proc/self/mountinfo';

let cachedMount: string | undefined;

/**
 * Where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup on unified hosts,
 * /sys/fs/cgroup/unified on hybrid ones, anywhere else if mounted by hand.
 * Read from mountinfo rather than guessed. SYSWARDEN_CGROUP2 overrides.
 */
export function cgroup2Mount(): string {
  const override = process.env.SYSWARDEN_CGROUP2;
  if (override) {
    if (!isCgroup2Dir(override)) {
      throw new SyswardenError(
        'ERR_NO_CGROUP2',
        `SYSWARDEN_CGROUP2=${override} is not a cgroup v2 mount (no cgroup.controllers file there). Unset it or point it at the cgroup2 mount.`,
      );
    }
    return override;
  }
  if (cachedMount !== undefined) return cachedMount;
  let text = '';
  let subTree: string | undefined;
  try {
    text = readFileSync(MOUNTINFO, 'utf8');
  } catch {
    /* fall through to the error below */
  }
  for (const line of text.split('\n')) {
    // mountinfo: id parent major:minor root mountpoint options [optional...] - fstype source superopts
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const fstype = line.slice(dash + 3).split(' ')[0];
    if (fstype !== 'cgroup2') continue;
    const fields = line.slice(0, dash).split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    // The hierarchy's root is '/' as seen from the root cgroup namespace;
    // from a cgroup namespace of its own (a container's) the host's root
    // mount shows as '/..' once per level below it, and the container's own
    // mount as '/' though it is a sub-tree. Only the real root has no
    // cgroup.type file (the kernel makes it on every other cgroup), and only
    // it gives the paths and levels the kernel's cgroup ids have.
    if (!root || !mountPoint || !/^\/(\.\.(\/\.\.)*)?$/.test(root)) continue;
    const dir = unescapeMountPath(mountPoint);
    if (!existsSync(join(dir, 'cgroup.type'))) {
      cachedMount = dir;
      return cachedMount;
    }
    subTree ??= dir;
  }
  if (subTree !== undefined) {
    throw new SyswardenError(
      'ERR_NO_CGROUP2',
      `the cgroup v2 mount at ${subTree} shows only a part of the hierarchy (this process has a cgroup namespace of its own, as in a container), ` +
        "and syswarden needs the whole of it to find containers by their cgroup ids. Fix: mount the host's /sys/fs/cgroup read-only at /sys/fs/cgroup (docs/deploy.md).",
    );
  }
  throw new SyswardenError(
    'ERR_NO_CGROUP2',
    'no cgroup v2 hierarchy is mounted, and syswarden filters containers by their cgroup v2 id. ' +
      'Mount it (e.g. `mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified`) ' +
      'or boot with systemd.unified_cgroup_hierarchy=1. ' +
      "In a container, mount the host's /sys/fs/cgroup read-only at /sys/fs/cgroup (docs/deploy.md).",
  );
}

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function isCgroup2Dir(dir: string): boolean {
  return existsSync(join(dir, 'cgroup.controllers'));
}

/** The cgroup v2 directory at `path` (relative to the v2 root, or absolute inside it). */
export function cgroupRef(path: string): CgroupRef {
  const mount = cgroup2Mount();
  const dir = path.startsWith(mount + sep) || path === mount ? resolve(path) : resolve(join(mount, path));
  const rel = relative(mount, dir);
  if (rel.startsWith('..')) {
    throw new SyswardenError('ERR_TARGET_NOT_FOUND', `cgroup path ${path} is outside the cgroup v2 hierarchy at ${mount}.`);
  }
  let st;
  try {
    st = statSync(dir, { bigint: true });
  } catch {
    throw new SyswardenError(
      'ERR_TARGET_NOT_FOUND',
      `no cgroup at ${dir}. Give a path relative to the cgroup v2 root ${mount} (see \`cat /proc/<pid>/cgroup\`, line '0::').`,
    );
  }
  if (!st.isDirectory() || !existsSync(join(dir, 'cgroup.procs'))) {
    throw new SyswardenError('ERR_TARGET_NOT_FOUND', `${dir} is not a cgroup v2 directory (no cgroup.procs).`);
  }
  const parts = rel === '' ? [] : rel.split(sep);
  return { path: '/' + parts.join('/'), dir, id: st.ino, level: parts.length };
}

/** The cgroup v2 path of a process ('0::' line of /proc/<pid>/cgroup). */
export function cgroupPathOfPid(pid: number): string {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    throw new SyswardenError('ERR_TARGET_NOT_FOUND', `no process with pid ${pid} (it may have exited).`);
  }
  const line = text.split('\n').find((l) => l.startsWith('0::'));
  if (!line) {
    throw new SyswardenError('ERR_NO_CGROUP2', `process ${pid} has no cgroup v2 membership ('0::' line) in /proc/${pid}/cgroup.`);
  }
  return line.slice(3);
}

/** How runtimes name a container's cgroup directory: the id is the first group. */
const CONTAINER_CGROUP_NAMES: readonly RegExp[] = [
  /^docker-([0-9a-f]{64})\.scope$/,
  /^cri-containerd-([0-9a-f]{64})\.scope$/,
  /^crio-([0-9a-f]{64})\.scope$/,
  /^libpod-([0-9a-f]{64})\.scope$/,
  /^[^:]*:cri-containerd:([0-9a-f]{64})$/,
  /^([0-9a-f]{64})$/, // docker/<id>, kubepods/.../<id> with the cgroupfs driver
];

/** The container id a cgroup directory's name carries, or undefined when no runtime named it after a container. */
export function containerIdOfCgroupName(name: string): string | undefined {
  for (const p of CONTAINER_CGROUP_NAMES) {
    const m = p.exec(name);
    if (m) return m[1]!;
  }
  return undefined;
}

/**
 * Container runtimes name a container's cgroup after its id in a few known
 * ways; return every directory in the v2 tree whose name matches one of them.
 * `id` is a full 64-hex id or a unique prefix of at least 12.
 */
export function findContainerCgroups(id: string, maxDepth = 6): string[] {
  const mount = cgroup2Mount();
  const found: string[] = [];
  const patterns = CONTAINER_CGROUP_NAMES;
  const walk = (dir: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // a cgroup that vanished while we walked
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const full = join(dir, e.name);
      let matched = false;
      for (const p of patterns) {
        const m = p.exec(e.name);
        if (m && m[1]!.startsWith(id)) {
          found.push('/' + relative(mount, full).split(sep).join('/'));
          matched = true;
          break;
        }
      }
      // A container's own sub-cgroups belong to it; no need to look inside.
      if (!matched && depth < maxDepth) walk(full, depth + 1);
    }
  };
  walk(mount, 1);
  return found;
}
