/**
 * In a container the agent usually has a cgroup namespace of its own (the
 * default on cgroup v2 nodes). The host's /sys/fs/cgroup mounted into it
 * then shows its root as '/..', and the container's own cgroup mount shows
 * a sub-tree as '/'. The agent must take the first for the hierarchy's
 * root (its paths are the host's), and refuse to start on the second alone
 * with the fix, rather than watch a corner of the tree.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroup2Mount } from '../../src/capture/cgroup.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { cliPath } from '../capture/helpers.js';

let cg: ScratchCgroup;
const fakeId = 'ab'.repeat(32);

beforeAll(() => {
  cg = createScratchCgroup(`sw-test-cgns-${process.pid}`);
  // A container-shaped cgroup beside the one the agent runs in.
  mkdirSync(join(cg.dir, fakeId));
  mkdirSync(join(cg.dir, 'agent'));
});
afterAll(async () => {
  await cg.remove();
});

/** Run `script` (sh; $0 is node, $1 the CLI) in cg/agent, in a cgroup namespace (and mount namespace) of its own; stdout, stderr, exit code. */
function inCgroupNamespace(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const inner = `echo $$ > '${join(cg.dir, 'agent', 'cgroup.procs')}' && exec unshare --cgroup --mount --propagation private sh -c "$0" "$@"`;
  return new Promise((resolve, reject) => {
    const p = spawn('sh', ['-c', inner, script, process.execPath, cliPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the agent in a cgroup namespace of its own', () => {
  it('takes the host\'s mount, seen as /.., for the root and finds containers by their host paths', async () => {
    const r = await inCgroupNamespace('grep -q " /\\.\\./\\.\\. " /proc/self/mountinfo || { echo "no /../.. cgroup2 root in mountinfo" >&2; exit 9; }; exec "$0" "$1" watch --all-containers --learn-for 0 --duration 2 --stats-every 3600');
    expect(r.code, r.stderr).toBe(0);
    const records = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const ready = records.find((x) => x.type === 'ready')!;
    const parent = cg.spec.slice('cgroup:'.length);
    expect(ready.adopting).toContain(parent);
    const watched = records.find((x) => x.type === 'container-watched') as { container: { id: string; cgroup: string } } | undefined;
    expect(watched?.container).toMatchObject({ id: fakeId, cgroup: `${parent}/${fakeId}` });
  });

  it('refuses its own sub-tree mount alone, saying to mount the host\'s', async () => {
    // The container's view: a cgroup2 mount of its namespace's root over the host's.
    // (tmpfs first: the kernel will not stack a mount of one hierarchy right on itself.)
    const at = cgroup2Mount();
    const r = await inCgroupNamespace(`mount -t tmpfs none '${at}' && mount -t cgroup2 none '${at}' && exec "$0" "$1" watch --all-containers --learn-for 0 --duration 2`);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/shows only a part of the hierarchy .*Fix: mount the host's \/sys\/fs\/cgroup read-only at \/sys\/fs\/cgroup/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
