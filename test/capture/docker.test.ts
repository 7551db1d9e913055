import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../../src/capture/collector.js';
import { resolveTarget } from '../../src/capture/targets.js';
import type { ExecEvent } from '../../src/capture/proc-event.js';
import type { EventBatch } from '../../src/capture/record.js';
import { syscallNumber } from '../../src/trace/syscalls.js';
import { ensureDocker, removeContainer, runContainer, stopContainer, TEST_IMAGE } from './docker-env.js';
import { waitFor } from './helpers.js';

const name = `syswarden-test-${process.pid}`;
let id = '';
let stopEngine: () => Promise<void> = async () => {};

beforeAll(async () => {
  stopEngine = await ensureDocker();
  // A loop that opens a file the test can recognise, then sleeps.
  id = runContainer(name, 'while true; do /bin/busybox cat /etc/hostname >/dev/null; /bin/busybox usleep 20000; done');
}, 120_000);

afterAll(async () => {
  removeContainer(name);
  removeContainer(`${name}-stopped`);
  await stopEngine();
});

describe('a real Docker container', () => {
  it('resolves by full id, short id, docker:<name> and docker:<id> to the same cgroup', async () => {
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const byName = await resolveTarget(`docker:${name}`);
    const byFull = await resolveTarget(id);
    const byShort = await resolveTarget(id.slice(0, 12));
    const byDockerId = await resolveTarget(`docker:${id.slice(0, 12)}`);
    // The runtime's name for the container and its image, carried into alerts and recordings.
    expect(byName.container).toEqual({ id, name, image: TEST_IMAGE, imageId: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect(byName.cgroup.path).toContain(id);
    for (const t of [byFull, byShort, byDockerId]) expect(t.cgroup.id).toBe(byName.cgroup.id);
    // A bare id (found by its cgroup) is named by the engine too, when Docker runs it.
    expect(byFull.container).toEqual(byName.container);
    expect(byShort.container).toEqual(byName.container);
  });

  it('captures the container\'s syscalls', async () => {
    const collector = await Collector.open({ targets: [`docker:${name}`] });
    const seen = new Map<number, number>();
    const execs: ExecEvent[] = [];
    collector.on('batch', (b: EventBatch) => {
      for (let i = 0; i < b.count; i++) seen.set(b.nr(i), (seen.get(b.nr(i)) ?? 0) + 1);
      for (const e of b.proc) if (e.kind === 'exec') execs.push(e);
    });
    // Each round of the loop forks, execs busybox cat, opens /etc/hostname.
    await waitFor(() => (seen.get(syscallNumber('execve')!) ?? 0) >= 3, 'three execve calls from the container', 10_000);
    await collector.close();
    expect(seen.get(syscallNumber('openat')!) ?? 0).toBeGreaterThan(0);
    // The container's execs, named from the kernel with host pids (the container has a pid namespace of its own).
    const cat = execs.find((e) => e.args.join(' ') === '/bin/busybox cat /etc/hostname');
    expect(cat, JSON.stringify(execs.slice(0, 3))).toMatchObject({ exe: '/bin/busybox', comm: 'busybox' });
    expect(cat!.pid).toBeGreaterThan(1);
    expect(collector.stats().kernel.dropped).toBe(0);
  });

  it('reports a stopped container as gone, at open and while watching', async () => {
    runContainer(`${name}-stopped`, 'sleep 1000');
    const collector = await Collector.open({ targets: [`docker:${name}-stopped`], targetCheckMs: 50 });
    const gone = new Promise<string>((r) => collector.once('target-gone', (t: { spec: string }) => r(t.spec)));
    stopContainer(`${name}-stopped`);
    expect(await gone).toBe(`docker:${name}-stopped`);
    await collector.close();
    await expect(resolveTarget(`docker:${name}-stopped`)).rejects.toThrow(/is not running \(state: exited\)\. Start it/);
    await expect(resolveTarget('docker:no-such-container-here')).rejects.toThrow(/Docker knows no container 'no-such-container-here'/);
  });
});
