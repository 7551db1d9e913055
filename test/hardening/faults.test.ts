import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { workloadPath } from '../../src/capture/addon.js';
import { Collector } from '../../src/capture/collector.js';
import { recordToFile } from '../../src/capture/record-session.js';
import { readRecording } from '../../src/capture/recording.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { trainLive } from '../../src/detect/train.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { cliPath, runWorkload, waitFor } from '../capture/helpers.js';
import { bpfObjectsOf, countOf, stillLoaded } from './bpf-objects.js';
import { workloadLoop } from '../pipeline/helpers.js';

let cg: ScratchCgroup;
let dir: string;
beforeAll(() => {
  cg = createScratchCgroup(`sw-test-faults-${process.pid}`);
  dir = mkdtempSync(join(tmpdir(), 'sw-faults-'));
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('faults', () => {
  it('a collector killed with SIGKILL leaves no program, link or map behind', async () => {
    const out = join(dir, 'killed.swrec');
    const child = spawn(process.execPath, [cliPath, 'record', '--all', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(() => err.includes('recording'), 'the recorder to start', 60_000);
    const held = bpfObjectsOf(child.pid!);
    expect(held.progs.length, 'programs the recorder holds').toBeGreaterThan(0);
    expect(held.links.length, 'links the recorder holds').toBeGreaterThan(0);
    expect(held.maps.length, 'maps the recorder holds').toBeGreaterThanOrEqual(4);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The kernel frees them when the last descriptor closes, after an RCU
    // grace period: on a loaded machine that can take a while, so wait on
    // the objects themselves, with a deadline far beyond any grace period.
    await waitFor(() => countOf(stillLoaded(held)) === 0, 'the killed recorder\'s program, link and maps to go', 60_000);
  });

  it('a full disk ends the recording cleanly, readable up to its last batch', async () => {
    const small = join(dir, 'small');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small]);
    try {
      const out = join(small, 'full.swrec');
      const collector = await Collector.open({ targets: [cg.spec], maxBatchEvents: 256 });
      const rec = recordToFile(collector, out);
      const busy = workloadLoop(cg);
      await expect(rec).rejects.toThrow(/the disk is full while recording to .*full\.swrec: the recording ends after \d+ batches .* reads back up to there\. Free space/);
      await busy.stop();
      expect(collector.closed).toBe(true);
      let events = 0;
      const r = await readRecording(out, (b) => {
        events += b.count;
      });
      expect(events).toBeGreaterThan(0);
      expect(r.truncated).toMatch(/no trailer/);
    } finally {
      execFileSync('umount', ['-l', small]);
    }
  });

  it('a model file replaced on disk while watching changes nothing: it was read whole, once', async () => {
    const model = join(dir, 'm.model');
    const c1 = await Collector.open({ targets: [cg.spec] });
    const loop = workloadLoop(cg);
    await trainLive({ collector: c1, durationMs: 2000, window: 6, model });
    await loop.stop();
    await c1.close();
    copyFileSync(model, join(dir, 'backup.model'));

    const pipeline = await Pipeline.create({ model });
    const collector = await Collector.open({ targets: [cg.spec] });
    pipeline.attach(collector);
    const alerts: Alert[] = [];
    pipeline.on('alert', (a: Alert) => alerts.push(a));
    writeFileSync(model, 'half a model'); // an operator's botched copy, in place
    await runWorkload(['--cgroup', cg.dir, 'pattern', '300', '2']);
    const intruder = spawn(workloadPath(), ['--cgroup', cg.dir, 'exec', 'cat', '/etc/shadow'], { stdio: 'ignore' });
    await new Promise((r) => intruder.once('exit', r));
    await waitFor(() => alerts.some((a) => a.tid === intruder.pid), 'the intruder alert', 5000);
    await collector.close();
    await pipeline.close();
    // And loading the botched file fails with a clear error instead of half-working.
    await expect(Pipeline.create({ model })).rejects.toThrow(/is not a syswarden model file/);
  });
});
