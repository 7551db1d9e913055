import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import { AGENT_CONSUMER_NICE, Collector } from '../../src/capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { runWorkload, waitFor } from '../capture/helpers.js';
import { saveAlarmingModel } from './helpers.js';

let flood: ScratchCgroup;
let light: ScratchCgroup;
let dir: string;
beforeAll(() => {
  flood = createScratchCgroup(`sw-test-backlog-flood-${process.pid}`);
  light = createScratchCgroup(`sw-test-backlog-light-${process.pid}`);
  dir = mkdtempSync(join(tmpdir(), 'sw-backlog-'));
});
afterAll(async () => {
  await flood.remove();
  await light.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('a scoring backlog', () => {
  it('sheds the flooding container in the kernel, where a full ring would: the light one keeps its events', async () => {
    // Every window alarms under this model, and its one worker runs at nice
    // 10 beside two threads of getppid that keep both CPUs busy: it gets
    // about a tenth of a CPU, far less than scoring the flood takes (a
    // watched container starving detection), while the default ring (8 MiB,
    // drained every 2 ms) never runs full and the main thread keeps taking
    // batches. Only the workers' backlog can start the shedding.
    const model = join(dir, 'alarming.model');
    await saveAlarmingModel(model);
    const c = await Collector.open({ targets: [flood.spec, light.spec], consumerNice: AGENT_CONSUMER_NICE });
    const p = await Pipeline.create({ model, workers: 1, maxInFlight: 16, workerNice: 10 });
    p.attach(c);
    const row = (spec: string) => c.stats().perSlot?.find((r) => r.spec === spec);
    let f: ChildProcess | undefined;
    let lightAtShed = { matched: 0, lost: 0 };
    const lightId = () => c.targets().find((t) => t.spec === light.spec)!.id;
    const lightLost = () => {
      const r = row(light.spec);
      return (r?.kernelDropped ?? 0) + (r?.userDropped ?? 0) + (p.stats().droppedBySlot[lightId()] ?? 0);
    };
    try {
      const lightRun = runWorkload(['--cgroup', light.dir, 'rate', '20000', '2']);
      await waitFor(() => (row(light.spec)?.matched ?? 0) > 2000, 'the light container making calls');
      f = spawn(workloadPath(), ['--cgroup', flood.dir, 'getppid', '1000000000000', '2'], { stdio: 'ignore' });
      await waitFor(() => c.stats().fairShare!.episodes >= 1, 'the flood shed in the kernel', 10_000);
      lightAtShed = { matched: row(light.spec)!.matched, lost: lightLost() };
      await lightRun;
    } finally {
      f?.kill('SIGKILL');
      await c.close();
      await p.drain();
    }
    const s = c.stats();
    const floodRow = s.perSlot!.find((r) => r.spec === flood.spec)!;
    const lightRow = s.perSlot!.find((r) => r.spec === light.spec)!;
    const seen = JSON.stringify({ flood: floodRow, light: lightRow, fairShare: s.fairShare, scoring: p.stats().droppedBySlot });
    expect(floodRow.kernelDropped, `the flood's calls shed in the kernel: ${seen}`).toBeGreaterThan(0);
    // The flood may be let back each time the workers catch up, and shed again; the light one never is.
    expect(lightRow.kernelDropped, `the light container's calls shed: ${seen}`).toBe(0);
    const matched = lightRow.matched - lightAtShed.matched;
    expect(matched).toBeGreaterThan(10_000);
    expect((lightLost() - lightAtShed.lost) / matched, 'share of the light container lost once the flood was shed').toBeLessThan(0.01);
    await p.close();
  }, 60_000);
});
