import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert, AlertRecord, NewExecutableRecord } from '../../src/alert/alert.js';
import { workloadPath } from '../../src/capture/addon.js';
import { Collector } from '../../src/capture/collector.js';
import { recordToFile } from '../../src/capture/record-session.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { trainFromFiles } from '../../src/detect/train.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { replayFile } from '../../src/pipeline/replay.js';
import { runWorkload } from '../capture/helpers.js';
import { alertKey } from './helpers.js';

let cg: ScratchCgroup;
let dir: string;
beforeAll(() => {
  cg = createScratchCgroup(`sw-test-replay-${process.pid}`);
  dir = mkdtempSync(join(tmpdir(), 'sw-replay-'));
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

async function record(out: string, body: () => Promise<void>, pipeline?: Pipeline, route = false): Promise<Collector> {
  const collector = await Collector.open({ targets: [cg.spec] });
  pipeline?.attach(collector, { route });
  const rec = recordToFile(collector, out);
  await body();
  await collector.close();
  await rec;
  return collector;
}

describe('replay', () => {
  it.each([
    ['live records pushed from the main thread', false],
    // Native demultiplexing: the collector writes each worker's records into its ring (the recording gets a copy).
    ['live records routed into the workers\' rings', true],
  ])('gives the same alerts as live scoring of the same events: %s', async (_how, route) => {
    const normal = join(dir, `normal-${route}.swrec`);
    await record(normal, async () => {
      for (let i = 0; i < 4; i++) await runWorkload(['--cgroup', cg.dir, 'pattern', '300', '2']);
    });
    const model = join(dir, `m-${route}.model`);
    await trainFromFiles({ from: [normal], window: 6, model });

    const live = await Pipeline.create({ model, workers: 2 });
    const liveAlerts: Alert[] = [];
    live.on('alert', (a: Alert) => liveAlerts.push(a));
    const mixed = join(dir, `mixed-${route}.swrec`);
    const liveCollector = await record(
      mixed,
      async () => {
        await runWorkload(['--cgroup', cg.dir, 'pattern', '300', '2']);
        await new Promise((r) => spawn(workloadPath(), ['--cgroup', cg.dir, 'exec', 'cat', '/etc/shadow'], { stdio: 'ignore' }).once('exit', r));
        await new Promise((r) => spawn(workloadPath(), ['--cgroup', cg.dir, 'exec', 'ls', '/'], { stdio: 'ignore' }).once('exit', r));
        await runWorkload(['--cgroup', cg.dir, 'pattern', '300', '2']);
      },
      live,
      route,
    );
    await live.close();
    // Routed: the workers scored exactly what the collector wrote to their rings, and no record was pushed.
    const routed = liveCollector.stats().routed!;
    if (route) {
      expect(routed.events).toBe(live.stats().events);
      expect(routed.events).toBeGreaterThan(0);
      expect(routed.dropped + routed.marksDropped).toBe(0);
    } else {
      expect(routed.events).toBe(0);
    }
    expect(liveAlerts.filter((a) => a.type === 'alert').length).toBeGreaterThanOrEqual(2);

    // A different worker count changes which worker scores which thread, not the result.
    const offline = await Pipeline.create({ model, workers: 3 });
    const replayAlerts: Alert[] = [];
    offline.on('alert', (a: Alert) => replayAlerts.push(a));
    await replayFile(offline, mixed);
    await offline.close();

    const sorted = (xs: Alert[]) => xs.map(alertKey).sort();
    expect(sorted(replayAlerts)).toEqual(sorted(liveAlerts));
    expect(replayAlerts.every((a) => a.latencyMs === undefined)).toBe(true);
    // The recording carries the process events: replay names the same processes, the short-lived intruder included.
    const who = (xs: Alert[]) => xs.filter((a) => a.type === 'alert').map((a) => JSON.stringify([alertKey(a), a.process?.pid, a.process?.ppid, a.process?.exe, a.process?.args])).sort();
    expect(who(replayAlerts)).toEqual(who(liveAlerts));
    // The intruder's first alarming window is the PATH search of the workload that exec'd cat
    // (execve after execve): named as what it was then, the program that had joined the cgroup.
    const intruderAlert = replayAlerts.find((a) => a.type === 'alert' && a.window.every((n) => n === 'execve'));
    expect(intruderAlert?.process).toMatchObject({ exe: realpathSync(workloadPath()), source: 'attach' });
    // And cat itself, exec'd: a new executable for a model trained without it, named with its arguments.
    const drift = (xs: AlertRecord[]) => xs.filter((r): r is NewExecutableRecord => r.type === 'new-executable').map(({ time: _t, latencyMs: _l, process: p, ...r }) => ({ ...r, args: p?.args }));
    expect(drift(replayAlerts)).toEqual(drift(liveAlerts));
    expect(drift(replayAlerts)).toEqual(expect.arrayContaining([expect.objectContaining({ exe: expect.stringMatching(/\/cat$/), args: ['cat', '/etc/shadow'] })]));
    expect(offline.stats().windows).toBe(live.stats().windows);
  });
});
