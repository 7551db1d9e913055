import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertRecord } from '../../src/alert/alert.js';
import { Collector } from '../../src/capture/collector.js';
import { createScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { waitFor } from '../capture/helpers.js';
import { startCli } from './cli-process.js';
import { saveAlarmingModel } from './helpers.js';

let dir: string;
let model: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-gone-'));
  model = join(dir, 'toy.model');
  await saveAlarmingModel(model);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const scratch = () => createScratchCgroup(`sw-test-gone-${process.pid}-${n++}`);

describe('a target that goes away', () => {
  it('is a target-gone record in the pipeline stream, naming it and how many targets are left', async () => {
    const a = scratch();
    const b = scratch();
    const collector = await Collector.open({ targets: [a.spec, b.spec], targetCheckMs: 20 });
    const p = await Pipeline.create({ model, workers: 1 });
    const records: AlertRecord[] = [];
    p.on('alert', (r: AlertRecord) => records.push(r));
    p.attach(collector);
    try {
      await a.remove();
      await waitFor(() => records.some((r) => r.type === 'target-gone'), 'the first target-gone record', 30_000);
      await b.remove();
      await waitFor(() => records.filter((r) => r.type === 'target-gone').length === 2, 'the second target-gone record', 30_000);
    } finally {
      await collector.close();
      await p.close();
      await a.remove();
      await b.remove();
    }
    const gone = records.filter((r) => r.type === 'target-gone');
    expect(gone).toEqual([
      expect.objectContaining({ container: expect.objectContaining({ spec: a.spec, cgroup: a.ref.path }), remaining: 1 }),
      expect.objectContaining({ container: expect.objectContaining({ spec: b.spec, cgroup: b.ref.path }), remaining: 0 }),
    ]);
  });

  it('ends `watch --exit-when-gone` with exit 0 once no target is left', async () => {
    const cg = scratch();
    try {
      const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--workers', '1', '--exit-when-gone']);
      await cli.waitFor(() => cli.records().some((r) => r.type === 'ready'), 'the ready record');
      await cg.remove();
      expect(await cli.exit()).toBe(0);
      expect(cli.records().find((r) => r.type === 'target-gone')).toMatchObject({ container: { spec: cg.spec, cgroup: cg.ref.path }, remaining: 0 });
      expect(cli.stderr()).toMatch(/target cgroup:.* is gone \(0 left\)/);
    } finally {
      await cg.remove();
    }
  });

  it('leaves watch running by default, with the record in its output', async () => {
    const cg = scratch();
    try {
      const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--workers', '1']);
      await cli.waitFor(() => cli.records().some((r) => r.type === 'ready'), 'the ready record');
      await cg.remove();
      await cli.waitFor(() => cli.records().some((r) => r.type === 'target-gone'), 'the target-gone record');
      expect(cli.child.exitCode).toBeNull();
      expect(await cli.stop()).toBe(0);
    } finally {
      await cg.remove();
    }
  });
});
