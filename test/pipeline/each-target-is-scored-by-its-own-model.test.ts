import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert, AlertRecord } from '../../src/alert/alert.js';
import { Collector, type TargetInfo } from '../../src/capture/collector.js';
import { recordToFile } from '../../src/capture/record-session.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { trainFromFiles } from '../../src/detect/train.js';
import { Pipeline, PipelineModel } from '../../src/pipeline/pipeline.js';
import { runWorkload, waitFor } from '../capture/helpers.js';
import { saveAlarmingModel } from './helpers.js';

// Real processes in real cgroups, two models: ALARM (STIDE, windows of 4,
// knows only a toy cycle, so every window of a real process alarms) and
// QUIET (STIDE, windows of 6, trained on recorded runs of the same
// workload, so the workload is normal to it). Whichever target runs under
// ALARM alarms, whichever runs under QUIET does not.

let dir: string;
let alarm: PipelineModel;
let quiet: PipelineModel;
const cgs: ScratchCgroup[] = [];
let n = 0;
const scratch = (): ScratchCgroup => {
  const cg = createScratchCgroup(`sw-test-models-${process.pid}-${n++}`);
  cgs.push(cg);
  return cg;
};
const pattern = (cg: ScratchCgroup) => runWorkload(['--cgroup', cg.dir, 'pattern', '300', '2']);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-models-'));
  await saveAlarmingModel(join(dir, 'alarm.model'));
  alarm = await PipelineModel.read(join(dir, 'alarm.model'), 'ALARM');
  const cg = scratch();
  const rec = join(dir, 'normal.swrec');
  const collector = await Collector.open({ targets: [cg.spec] });
  const recording = recordToFile(collector, rec);
  for (let i = 0; i < 6; i++) await pattern(cg);
  await collector.close();
  await recording;
  // STIDE: a window it never saw scores 1; the workload's own windows score 0.
  await trainFromFiles({ from: [rec], window: 6, model: join(dir, 'quiet.model'), detector: 'stide' });
  quiet = PipelineModel.readSync(join(dir, 'quiet.model'), 'QUIET');
}, 120_000);
afterAll(async () => {
  for (const cg of cgs) await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** A pipeline with no default model, attached to a collector of `targets`, collecting its records. */
async function watch(targets: ScratchCgroup[]) {
  const collector = await Collector.open({ targets: targets.map((t) => t.spec), targetCheckMs: 20 });
  const pipeline = await Pipeline.create({ workers: 2 });
  const records: AlertRecord[] = [];
  pipeline.on('alert', (r: AlertRecord) => records.push(r));
  const detach = pipeline.attach(collector);
  const idOf = (cg: ScratchCgroup): number => collector.targets().find((t: TargetInfo) => t.spec === cg.spec)!.id;
  const alertsOf = (cg: ScratchCgroup, pids?: number[]): Alert[] =>
    records.filter((r): r is Alert => r.type === 'alert' && r.container.spec === cg.spec && (pids === undefined || pids.includes(r.tid)));
  /** Wait until the kernel's records of the targets so far are routed to the workers, then until the workers scored them. */
  const settle = async () => {
    const emitted = () => (w.collector.stats().perSlot ?? []).reduce((k, p) => k + p.emitted, 0);
    await waitFor(() => collector.routedCounts().events >= emitted(), 'the records routed to the workers', 10_000);
    await pipeline.drain();
  };
  const close = async () => {
    detach();
    await pipeline.close();
    await collector.close();
  };
  const w = { collector, pipeline, records, idOf, alertsOf, settle, close };
  return w;
}

describe('one pipeline, a model per target', () => {
  it('scores each target with its own model: only the target under ALARM alarms, its alerts name ALARM; a target with no model is counted unscored', async () => {
    const [a, b, c] = [scratch(), scratch(), scratch()];
    const w = await watch([a, b, c]);
    try {
      expect(w.pipeline.modelOf(w.idOf(a))).toBeNull();
      w.pipeline.assignModel(w.idOf(a), alarm);
      w.pipeline.assignModel(w.idOf(b), quiet);
      expect(w.pipeline.modelOf(w.idOf(a))).toBe(alarm);
      await w.pipeline.assignmentsApplied();
      const pids = { a: await pattern(a), b: await pattern(b), c: await pattern(c) };
      await w.settle();
      const underAlarm = w.alertsOf(a, [pids.a]);
      expect(underAlarm.length).toBeGreaterThan(0);
      for (const al of underAlarm) expect(al).toMatchObject({ model: 'ALARM', detector: 'stide', threshold: 1, window: expect.any(Array) });
      expect(underAlarm[0]!.window).toHaveLength(4);
      expect(w.alertsOf(b), 'alerts of the target under QUIET').toEqual([]);
      expect(w.alertsOf(c), 'alerts of the target with no model').toEqual([]);
      const s = w.pipeline.stats();
      expect(s).toMatchObject({ models: 2, assignedTargets: 2 });
      // Every event of c, and no other, is unscored: exactly what the kernel delivered for it.
      const perSlot = w.collector.stats().perSlot!;
      const cStats = perSlot.find((p) => p.id === w.idOf(c))!;
      expect(cStats.kernelDropped + cStats.userDropped).toBe(0);
      expect(s.unscoredEvents).toBe(cStats.emitted);
      expect(s.unscoredEvents).toBeGreaterThan(100);
      expect(s.droppedEvents).toBe(0);
    } finally {
      await w.close();
    }
  }, 60_000);

  it('a reassignment takes effect in the data path: runs after it are scored by the new model', async () => {
    const [a, b] = [scratch(), scratch()];
    const w = await watch([a, b]);
    try {
      w.pipeline.assignModel(w.idOf(a), alarm);
      w.pipeline.assignModel(w.idOf(b), quiet);
      await w.pipeline.assignmentsApplied();
      const before = { a: await pattern(a), b: await pattern(b) };
      await w.settle();
      expect(w.alertsOf(a, [before.a]).length).toBeGreaterThan(0);
      expect(w.alertsOf(b)).toEqual([]);

      // Swap, with the stream running: a long workload in a spans the swap.
      const spanning = runWorkload(['--cgroup', a.dir, 'pattern', '200000', '2']);
      w.pipeline.assignModel(w.idOf(a), quiet);
      w.pipeline.assignModel(w.idOf(b), alarm);
      expect(w.pipeline.stats()).toMatchObject({ models: 2, assignedTargets: 2 });
      await w.pipeline.assignmentsApplied();
      const after = { a: await pattern(a), b: await pattern(b) };
      await spanning;
      await w.settle();
      expect(w.alertsOf(a, [after.a]), 'runs of a after the swap, under QUIET').toEqual([]);
      const bAlerts = w.alertsOf(b, [after.b]);
      expect(bAlerts.length).toBeGreaterThan(0);
      for (const al of bAlerts) expect(al).toMatchObject({ model: 'ALARM' });
      // Every alert of a since the swap came from windows completed before the marker (the spanning run's first calls):
      // none names QUIET, which cannot alarm on this workload.
      expect(w.records.filter((r) => r.type === 'alert' && r.model === 'QUIET')).toEqual([]);
    } finally {
      await w.close();
    }
  }, 60_000);

  it("drops a target's model when the target is removed or goes away, and unloads a model no target uses", async () => {
    const [a, b] = [scratch(), scratch()];
    const w = await watch([a, b]);
    try {
      const ids = { a: w.idOf(a), b: w.idOf(b) };
      w.pipeline.assignModel(ids.a, alarm);
      w.pipeline.assignModel(ids.b, quiet);
      await w.pipeline.assignmentsApplied();
      expect(w.pipeline.stats()).toMatchObject({ models: 2, assignedTargets: 2 });
      expect(w.collector.removeTarget(ids.a)).toBe(true);
      expect(w.pipeline.modelOf(ids.a)).toBeNull();
      expect(w.pipeline.stats()).toMatchObject({ models: 1, assignedTargets: 1 });
      // Gone: its cgroup removed, the collector notices and drops it.
      await b.remove();
      await waitFor(() => w.records.some((r) => r.type === 'target-gone'), 'the target-gone record', 30_000);
      expect(w.pipeline.modelOf(ids.b)).toBeNull();
      expect(w.pipeline.stats()).toMatchObject({ models: 0, assignedTargets: 0 });
      await w.pipeline.assignmentsApplied();
    } finally {
      await w.close();
    }
  }, 60_000);
});
