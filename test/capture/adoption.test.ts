import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, type TargetInfo } from '../../src/capture/collector.js';
import type { ExecEvent } from '../../src/capture/proc-event.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { syscallNumber } from '../../src/trace/syscalls.js';
import { waitFor } from './helpers.js';

// Adoption: the kernel makes a new child cgroup of an adopted parent a
// target when the cgroup is created. The shell below makes a cgroup, moves
// itself in and execs at once, microseconds apart: no user-space reaction
// could add the target in time, so seeing that exec proves the kernel did.

let parent: ScratchCgroup;
let other: ScratchCgroup;
beforeAll(() => {
  parent = createScratchCgroup(`sw-adopt-${process.pid}`);
  other = createScratchCgroup(`sw-adopt-other-${process.pid}`);
});
afterAll(async () => {
  await parent.remove();
  await other.remove();
});

/** Make `dir`, join it and exec `marker` (a command that exits at once), all from one shell. */
function joinAndExec(dir: string, marker: string): void {
  execFileSync('sh', ['-c', `mkdir "$1" && echo $$ > "$1/cgroup.procs" && exec ${marker}`, 'sh', dir], { stdio: 'ignore' });
}

interface Seen {
  adopted: Array<{ info: TargetInfo; late: boolean }>;
  /** Per target id: exec'd paths, and syscall numbers. */
  execs: Map<number, string[]>;
  calls: Map<number, number[]>;
}

function listen(c: Collector): Seen {
  const seen: Seen = { adopted: [], execs: new Map(), calls: new Map() };
  c.on('target-adopted', (info: TargetInfo, how: { late: boolean }) => seen.adopted.push({ info, late: how.late }));
  c.on('batch', (b) => {
    for (const e of b.proc) {
      if (e.kind !== 'exec') continue;
      const list = seen.execs.get(e.targetId) ?? [];
      list.push((e as ExecEvent).exe);
      seen.execs.set(e.targetId, list);
    }
    for (let i = 0; i < b.count; i++) {
      const id = b.targetId(i);
      const list = seen.calls.get(id) ?? [];
      list.push(b.nr(i));
      seen.calls.set(id, list);
    }
  });
  return seen;
}

describe('adopting the children of a runtime parent cgroup', () => {
  it('watches a cgroup made after the start from before its first exec, and only children of the adopted parent', async () => {
    const c = await Collector.open({});
    try {
      const seen = listen(c);
      c.adoptChildren(parent.ref.path);
      const child = join(parent.dir, 'c1');
      joinAndExec(child, '/bin/true');
      // The control: the same thing under a parent that is not adopted.
      joinAndExec(join(other.dir, 'c1'), '/bin/true');
      await waitFor(() => seen.adopted.length >= 1 && (seen.execs.get(seen.adopted[0]!.info.id)?.length ?? 0) >= 1, 'the adopted child and its exec');
      const { info, late } = seen.adopted[0]!;
      expect(late).toBe(false);
      expect(info.cgroup.path).toBe(`${parent.ref.path}/c1`);
      expect(info.kind).toBe('cgroup');
      expect(seen.execs.get(info.id)).toContain('/bin/true');
      // /bin/true's own calls after the exec are records of the adopted target, exit_group last.
      expect(seen.calls.get(info.id)).toContain(syscallNumber('exit_group'));
      expect(seen.adopted).toHaveLength(1);
      expect(c.targets().map((t) => t.id)).toContain(info.id);
      expect(c.adoptionStats()).toMatchObject({ parents: 1, adopted: 1, late: 0, refused: 0 });
      expect(c.adoptionStats().reserved).toBeGreaterThan(0);
    } finally {
      await c.close();
    }
  });

  it('lets go of children whose name accept() refuses, and names a child its runtime named after a container', async () => {
    const c = await Collector.open({});
    try {
      const seen = listen(c);
      c.adoptChildren(parent.ref.path, (name) => name.startsWith('docker-'));
      const id = 'ab'.repeat(32);
      joinAndExec(join(parent.dir, 'not-a-container'), '/bin/true');
      joinAndExec(join(parent.dir, `docker-${id}.scope`), '/bin/true');
      await waitFor(() => seen.adopted.length >= 1 && c.adoptionStats().refused >= 1, 'one adopted, one refused');
      expect(seen.adopted).toHaveLength(1);
      expect(seen.adopted[0]!.info).toMatchObject({ kind: 'container', container: { id } });
      expect(c.targets().map((t) => t.cgroup.path)).toEqual([`${parent.ref.path}/docker-${id}.scope`]);
      const named = c.describeTarget(seen.adopted[0]!.info.id, { id, name: 'web', image: 'nginx:1' });
      expect(c.target(named!.id)?.container).toMatchObject({ id, name: 'web', image: 'nginx:1' });
    } finally {
      await c.close();
    }
  });

  it('watches every child of a burst larger than the ids held in the kernel, the overflow from when it hears of them', async () => {
    const c = await Collector.open({});
    try {
      const seen = listen(c);
      c.adoptChildren(parent.ref.path);
      const n = 40;
      execFileSync('sh', ['-c', `for i in $(seq 1 ${n}); do mkdir "$1/b$i"; done`, 'sh', parent.dir]);
      await waitFor(() => seen.adopted.length >= n, `${n} children adopted`, 20_000);
      const s = c.adoptionStats();
      expect(s.adopted + s.late).toBe(n);
      expect(s.adopted).toBeGreaterThanOrEqual(16);
      expect(new Set(seen.adopted.map((a) => a.info.id)).size).toBe(n);
      c.stopAdopting(parent.ref.path);
      // Not adopted: the parent's children made after stopAdopting stay
      // unwatched. A child of another adopted parent made after it is the
      // mark that the kernel's word on the first would have arrived.
      c.adoptChildren(other.ref.path);
      execFileSync('sh', ['-c', 'mkdir "$1/after" && mkdir "$2/mark"', 'sh', parent.dir, other.dir]);
      await waitFor(() => seen.adopted.some((a) => a.info.cgroup.path.endsWith('/mark')), 'the mark');
      expect(seen.adopted.filter((a) => a.info.cgroup.path.endsWith('/after'))).toEqual([]);
      expect(seen.adopted).toHaveLength(n + 1);
    } finally {
      await c.close();
    }
  });
});
