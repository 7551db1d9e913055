import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runWorkload } from '../capture/helpers.js';
import { startCli } from './cli-process.js';
import { saveAlarmingModel } from './helpers.js';

let dir: string;
let model: string;
let cg: ScratchCgroup;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-ready-'));
  model = join(dir, 'alarm.model');
  // Everything a real process does alarms under this model.
  await saveAlarmingModel(model);
  cg = createScratchCgroup(`sw-test-ready-${process.pid}`);
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('watch', () => {
  it('writes a ready record first, once the workers are up and the program attached: a syscall after it is scored', async () => {
    const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--workers', '2']);
    await cli.waitFor(() => cli.records().length > 0, 'the first record');
    const ready = cli.records()[0]!;
    expect(ready).toMatchObject({
      type: 'ready',
      detector: 'stide',
      model,
      windowSize: 4,
      workers: 2,
      targets: [{ slot: 0, spec: cg.spec, cgroup: cg.ref.path }],
      attach: expect.stringMatching(/^(tp_btf|tracepoint)$/),
      // The hand-set model of saveAlarmingModel: threshold 1 on a frame of 1 window.
      calibration: { threshold: 1, frame: 1, unit: 'trace' },
    });
    expect(ready.startupMs).toBeGreaterThan(0);
    expect(Date.parse(ready.time as string)).not.toBeNaN();
    const pid = await runWorkload(['--cgroup', cg.dir, 'pattern', '20', '1']);
    await cli.waitFor(() => cli.records().some((r) => r.type === 'alert' && r.tid === pid), 'an alert for the workload started after ready');
    expect(await cli.stop()).toBe(0);
  });

  it('writes it to --out too, and readably with --pretty', async () => {
    const out = join(dir, 'alerts.log');
    const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--workers', '1', '--out', out, '--pretty']);
    await cli.waitFor(() => /syswarden: watching/.test(cli.stderr()), 'watch to be running');
    expect(readFileSync(out, 'utf8')).toMatch(/^\S+ {2}READY {2}watching \/\S+ with stide \(window 4, 1 workers, (tp_btf|tracepoint)\); started in \d+ ms; threshold 1\.000 for 0\.05 false alarm\(s\) per normal trace\n/);
    expect(await cli.stop()).toBe(0);
  });

  it('a --duration beyond what one Node timer holds (30 days) keeps watching instead of ending after a millisecond', async () => {
    // 2592000 s overflowed setTimeout: watch ended right after start-up, exit 0, unmonitored.
    const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--workers', '1', '--duration', '2592000', '--stats-every', '0.2']);
    await cli.waitFor(() => cli.records().some((r) => r.type === 'ready'), 'the ready record');
    // Still watching several stats periods later: count the periodic lines after ready.
    const after = cli.stderr().length;
    await cli.waitFor(() => (cli.stderr().slice(after).match(/events\/s/g) ?? []).length >= 3, 'three stats lines after ready');
    expect(await cli.stop()).toBe(0);
  });
});
