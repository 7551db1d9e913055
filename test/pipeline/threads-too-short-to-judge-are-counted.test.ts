import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import { Collector } from '../../src/capture/collector.js';
import { recordToFile } from '../../src/capture/record-session.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { trainFromFiles } from '../../src/detect/train.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { replayFile } from '../../src/pipeline/replay.js';
import { runWorkload } from '../capture/helpers.js';

// A thread that ends with fewer calls than its model's window size plus the
// frame's trim can never alarm: every window it made is left out of every
// frame. Live scoring counts such threads (stats().unjudgedThreads, a metric,
// watch's last line) instead of passing them over in silence. Here: short
// programs (busybox true, about 20 calls in the cgroup) under models of
// windows 15 (30 calls needed) and 6 (12 needed).
const BUSYBOX = '/usr/bin/busybox';
const RUNS = 20;
let cg: ScratchCgroup;
let dir: string;
beforeAll(() => {
  cg = createScratchCgroup(`sw-test-unjudged-${process.pid}`);
  dir = mkdtempSync(join(tmpdir(), 'sw-unjudged-'));
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

async function record(out: string, body: () => Promise<void>, pipeline?: Pipeline): Promise<void> {
  const collector = await Collector.open({ targets: [cg.spec] });
  pipeline?.attach(collector);
  const rec = recordToFile(collector, out);
  await body();
  await collector.close();
  await rec;
}

const shortPrograms = async () => {
  for (let i = 0; i < RUNS; i++) {
    await new Promise((r) => spawn(workloadPath(), ['--cgroup', cg.dir, 'exec', BUSYBOX, 'true'], { stdio: 'ignore' }).once('exit', r));
  }
};

it('threads too short for any alarm are counted live and in replay, and only at a window too long for them', async () => {
  expect(existsSync(BUSYBOX), `${BUSYBOX} is missing: install busybox-static (scripts/setup.sh does)`).toBe(true);
  const normal = join(dir, 'normal.swrec');
  await record(normal, async () => {
    for (let i = 0; i < 3; i++) await runWorkload(['--cgroup', cg.dir, 'pattern', '300', '2']);
  });
  const long = join(dir, 'w15.model');
  const short = join(dir, 'w6.model');
  await trainFromFiles({ from: [normal], window: 15, model: long });
  await trainFromFiles({ from: [normal], window: 6, model: short });

  const live = await Pipeline.create({ model: long, workers: 2 });
  const mixed = join(dir, 'mixed.swrec');
  await record(
    mixed,
    async () => {
      // One thread: a main thread that only starts and joins workers would itself be too short to judge.
      await runWorkload(['--cgroup', cg.dir, 'pattern', '300']);
      await shortPrograms();
    },
    live,
  );
  await live.close();
  // Each short program is one thread that ended; the long-lived workload's threads are judged.
  expect(live.stats().unjudgedThreads).toBe(RUNS);

  const replayed = async (model: string) => {
    const p = await Pipeline.create({ model, workers: 1 });
    await replayFile(p, mixed);
    await p.close();
    return p.stats();
  };
  const again = await replayed(long);
  expect(again.unjudgedThreads).toBe(RUNS);
  expect(again.windows).toBe(live.stats().windows);
  expect((await replayed(short)).unjudgedThreads).toBe(0);
});
