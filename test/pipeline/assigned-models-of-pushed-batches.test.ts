import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert, AlertRecord } from '../../src/alert/alert.js';
import { statedCalibration } from '../../src/detect/calibration.js';
import { encodeModel } from '../../src/detect/model-file.js';
import { Stide } from '../../src/detect/stide.js';
import { SyswardenError } from '../../src/errors.js';
import { MAX_MODELS, Pipeline, PipelineModel } from '../../src/pipeline/pipeline.js';
import { syscallName } from '../../src/trace/syscalls.js';
import { windowStream } from '../../src/window/windows.js';
import { makeBatch } from './helpers.js';

// Pushed batches (recordings, replay) carry model changes as messages among
// the batches: the order they are pushed in is the order they take effect.

/** A STIDE model of windows of `size` that knows only the cycle `offset+1 .. offset+6`: any other window alarms (frame 1, threshold 1). */
function toyModel(name: string, offset = 0, size = 4): PipelineModel {
  const d = new Stide();
  d.fit(windowStream(new Uint16Array(600).map((_, i) => (i % 6) + 1 + offset), size));
  return new PipelineModel(encodeModel(d, statedCalibration(1, 1), { filter: 'none', createdAt: new Date(0) }), name);
}

/** `n` calls of thread `tid` in target `target`, syscall numbers from `from` up (none in a toy model's cycle when from > 100). */
const calls = (tid: number, target: number, n: number, from = 200, ts = 1e9) =>
  makeBatch(Array.from({ length: n }, (_, i) => [tid, from + i] as const), target, ts);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-models-push-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('models assigned to targets, pushed batches', () => {
  it("starts a thread's windows afresh when its target changes model: no window mixes calls of two models", async () => {
    const p = await Pipeline.create({ workers: 1 });
    const out: AlertRecord[] = [];
    p.on('alert', (r: AlertRecord) => out.push(r));
    try {
      p.assignModel(7, toyModel('A'));
      p.push(calls(100, 7, 3));
      p.assignModel(7, toyModel('B', 10));
      // Under one model these 3 + 1 calls would make a window; across the change they make none.
      p.push(calls(100, 7, 1, 203));
      await p.drain();
      expect(p.stats()).toMatchObject({ windows: 0, events: 4, models: 1, assignedTargets: 1 });
      p.push(calls(100, 7, 3, 204));
      await p.drain();
      expect(p.stats().windows).toBe(1);
      const alerts = out.filter((r): r is Alert => r.type === 'alert');
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({ model: 'B', detector: 'stide', threshold: 1, container: { slot: 7 } });
      expect(alerts[0]!.window).toEqual([203, 204, 205, 206].map((nr) => syscallName(nr)));
    } finally {
      await p.close();
    }
  });

  it('counts the events of a target with no model, and no default, as unscored; a default model scores every target without its own', async () => {
    const none = await Pipeline.create({ workers: 2 });
    try {
      none.assignModel(1, toyModel('A'));
      none.push(calls(100, 1, 10));
      none.push(calls(101, 2, 25));
      none.push(calls(102, 2, 5));
      await none.drain();
      expect(none.stats()).toMatchObject({ events: 10, unscoredEvents: 30, windows: 7, models: 1, assignedTargets: 1 });
      expect(none.modelOf(2)).toBeNull();
      none.unassignModel(1);
      expect(none.stats()).toMatchObject({ models: 0, assignedTargets: 0 });
      none.push(calls(100, 1, 4));
      await none.drain();
      expect(none.stats()).toMatchObject({ events: 10, unscoredEvents: 34 });
    } finally {
      await none.close();
    }

    const def = toyModel('DEFAULT', 20, 5);
    const withDefault = await Pipeline.create({ workers: 2, model: def });
    const out: Alert[] = [];
    withDefault.on('alert', (r: AlertRecord) => r.type === 'alert' && out.push(r));
    try {
      withDefault.assignModel(1, toyModel('A'));
      expect(withDefault.modelOf(2)).toBe(def);
      withDefault.push(calls(100, 1, 4));
      withDefault.push(calls(101, 2, 5));
      await withDefault.drain();
      expect(withDefault.stats()).toMatchObject({ unscoredEvents: 0, windows: 2, models: 2 });
      expect(out.map((a) => [a.container.slot, a.model, a.window.length]).sort()).toEqual([
        [1, 'A', 4],
        [2, 'DEFAULT', 5],
      ]);
      // Unassigned, target 1 goes back to the default model (its thread starts afresh: 5 more calls make one window of 5).
      withDefault.unassignModel(1);
      expect(withDefault.modelOf(1)).toBe(def);
      withDefault.push(calls(100, 1, 5, 210));
      await withDefault.drain();
      expect(out.at(-1)).toMatchObject({ container: { slot: 1 }, model: 'DEFAULT' });
      expect(withDefault.stats()).toMatchObject({ windows: 3, models: 1, assignedTargets: 0 });
    } finally {
      await withDefault.close();
    }
  });

  it(`holds at most MAX_MODELS (${MAX_MODELS}) distinct models: one more is a clear error that changes nothing; equal bytes are one model`, async () => {
    const p = await Pipeline.create({ workers: 1, model: toyModel('default', 0) });
    try {
      for (let k = 1; k < MAX_MODELS; k++) p.assignModel(k, toyModel(`m${k}`, k));
      expect(p.stats()).toMatchObject({ models: MAX_MODELS, assignedTargets: MAX_MODELS - 1 });
      const extra = toyModel('one-too-many', 1000);
      let err: unknown;
      try {
        p.assignModel(500, extra);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SyswardenError);
      expect((err as SyswardenError).code).toBe('ERR_TOO_MANY_MODELS');
      expect((err as Error).message).toMatch(new RegExp(`cannot load model one-too-many: the pipeline already holds ${MAX_MODELS} distinct models .*Fix: `));
      expect(p.modelOf(500)?.name).toBe('default');
      expect(p.stats()).toMatchObject({ models: MAX_MODELS, assignedTargets: MAX_MODELS - 1 });
      // The same bytes under another name: shared, not loaded again (its alerts carry the first name).
      p.assignModel(501, new PipelineModel(toyModel('m3', 3).bytes, 'a copy of m3'));
      expect(p.stats()).toMatchObject({ models: MAX_MODELS, assignedTargets: MAX_MODELS });
      // A model no target uses is unloaded, which makes room.
      p.unassignModel(5);
      expect(p.stats().models).toBe(MAX_MODELS - 1);
      p.assignModel(500, extra);
      expect(p.stats()).toMatchObject({ models: MAX_MODELS, assignedTargets: MAX_MODELS });
      await p.assignmentsApplied();
      const out: Alert[] = [];
      p.on('alert', (r: AlertRecord) => r.type === 'alert' && out.push(r));
      p.push(calls(300, 500, 4));
      p.push(calls(301, 501, 4));
      await p.drain();
      expect(out.map((a) => a.model).sort()).toEqual(['m3', 'one-too-many']);
    } finally {
      await p.close();
    }
  });

  it('refuses a bad target id or model with a message saying what to give', async () => {
    const p = await Pipeline.create({ workers: 1 });
    try {
      expect(() => p.assignModel(-1, toyModel('A'))).toThrow(/a target id is a whole number from 0 to 65535 \(TargetInfo.id\), got -1/);
      expect(() => p.assignModel(1.5, null)).toThrow(RangeError);
      expect(() => p.assignModel(1, new Uint8Array(4) as unknown as PipelineModel)).toThrow(/assignModel takes a PipelineModel \(PipelineModel.read or readSync\) or null, got object/);
    } finally {
      await p.close();
    }
    expect(() => p.assignModel(1, null)).toThrow(/the pipeline is closed/);
  });

  it('PipelineModel.readSync reads and checks a model file as read() does', async () => {
    const path = join(dir, 'a.model');
    writeFileSync(path, toyModel('A').bytes);
    const sync = PipelineModel.readSync(path);
    const async = await PipelineModel.read(path);
    expect(sync.name).toBe(path);
    expect(sync.contentHash).toBe(async.contentHash);
    expect(PipelineModel.readSync(path, 'named').name).toBe('named');
    const codeOf = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(SyswardenError);
        return (e as SyswardenError).code;
      }
      return undefined;
    };
    expect(() => PipelineModel.readSync(join(dir, 'missing.model'))).toThrow(/missing\.model.*ENOENT/);
    expect(codeOf(() => PipelineModel.readSync(join(dir, 'missing.model')))).toBe('ERR_INPUT');
    expect(codeOf(() => PipelineModel.readSync(dir))).toBe('ERR_INPUT');
    const junk = join(dir, 'junk.model');
    writeFileSync(junk, 'not a model');
    const asyncCode = await PipelineModel.read(junk).then(
      () => undefined,
      (e: SyswardenError) => e.code,
    );
    expect(asyncCode).toBeDefined();
    expect(codeOf(() => PipelineModel.readSync(junk))).toBe(asyncCode);
  });
});
