import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { SyswardenError } from '../errors.js';
import { cgroup2Mount, cgroupRef, type CgroupRef } from './cgroup.js';

/** A cgroup v2 directory syswarden made for itself (demo, tests, benchmarks) and removes again. */
export interface ScratchCgroup {
  readonly ref: CgroupRef;
  readonly dir: string;
  /** Spec for Collector/record: `cgroup:<path>`. */
  readonly spec: string;
  /** A child cgroup inside this one. */
  child(name: string): ScratchCgroup;
  /** Kill whatever still runs inside, then remove the directory (children first). */
  remove(): Promise<void>;
}

export function createScratchCgroup(name: string, parentDir?: string): ScratchCgroup {
  const dir = join(parentDir ?? cgroup2Mount(), name);
  try {
    mkdirSync(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== 'EEXIST') {
      throw new SyswardenError(
        e.code === 'EACCES' || e.code === 'EPERM' ? 'ERR_NOT_PERMITTED' : 'ERR_IO',
        `cannot create cgroup ${dir}: ${e.message}. syswarden needs root to make its own cgroups.`,
      );
    }
  }
  const ref = cgroupRef(dir);
  const self: ScratchCgroup = {
    ref,
    dir,
    spec: `cgroup:${ref.path}`,
    child(childName: string) {
      return createScratchCgroup(childName, dir);
    },
    async remove() {
      await removeTree(dir);
    },
  };
  return self;
}

function safeRead(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Remove a cgroup and every cgroup below it, deepest first, killing what
 * still runs there (cgroup.kill, 5.14+). Child cgroups made by the
 * processes inside (a container churning its own cgroups) go too.
 */
export async function removeTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  try {
    writeFileSync(join(dir, 'cgroup.kill'), '1');
  } catch {
    /* older kernel: processes should be gone already */
  }
  let subdirs: string[] = [];
  try {
    subdirs = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  } catch {
    return; // removed meanwhile
  }
  for (const sub of subdirs) await removeTree(sub);
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return;
      if (e.code !== 'EBUSY' || Date.now() > deadline) {
        const procs = safeRead(join(dir, 'cgroup.procs')).trim().split('\n').filter(Boolean);
        throw new SyswardenError('ERR_IO', `cannot remove cgroup ${dir}: ${e.message} (processes still inside: ${procs.join(', ') || 'none'}).`);
      }
      // A new child cgroup may have appeared, or a process is still exiting.
      for (const e2 of readdirSync(dir, { withFileTypes: true })) if (e2.isDirectory()) await removeTree(join(dir, e2.name));
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
