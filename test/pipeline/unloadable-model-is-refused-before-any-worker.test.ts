import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { statedCalibration } from '../../src/detect/calibration.js';
import { encodeModel, modelBody, sealModel } from '../../src/detect/model-file.js';
import { Stide } from '../../src/detect/stide.js';
import { Pipeline, PipelineModel } from '../../src/pipeline/pipeline.js';
import { windowStream } from '../../src/window/windows.js';
import { startCli } from './cli-process.js';

// The model file's own encoding (see model-file.ts), to craft files that pass the header check.
const packr = new Packr({ moreTypes: true, useRecords: false });

let dir: string;
let cg: ScratchCgroup;
let good: Buffer;
const trace = () => join(dir, 'trace.txt');

/** The good model with some of its fields replaced. */
function craft(change: (file: Record<string, unknown>) => void): Buffer {
  const file = packr.unpack(modelBody(good)) as Record<string, unknown>;
  change(file);
  return sealModel(packr.pack(file));
}

const BAD: Array<{ what: string; code: string; message: RegExp; bytes: () => Buffer }> = [
  {
    what: 'an unknown detector',
    code: 'ERR_UNKNOWN_DETECTOR',
    message: /detector 'nosuch', which this syswarden does not have.*Fix:/,
    bytes: () => craft((f) => (f.detector = 'nosuch')),
  },
  {
    what: "another version of the detector's state",
    code: 'ERR_MODEL_VERSION',
    message: /stide model of version 99; this syswarden's stide is version 1\. Fix: re-train/,
    bytes: () => craft((f) => (f.detectorVersion = 99)),
  },
  {
    what: 'a damaged detector state',
    code: 'ERR_MODEL_STATE',
    message: /the saved state is damaged: normal holds 7 calls.*Fix: re-train/,
    bytes: () => craft((f) => ((f.state as Record<string, unknown>).normal = new Uint16Array(7))),
  },
  {
    what: 'a damaged calibration',
    code: 'ERR_NOT_A_MODEL',
    message: /is a damaged syswarden model: calibration\.frame is 0, not a number from 1 to \d+\. Fix: re-train/,
    bytes: () => craft((f) => ((f.calibration as Record<string, unknown>).frame = 0)),
  },
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-badmodel-'));
  const d = new Stide();
  d.fit(windowStream(new Uint16Array(600).map((_, i) => (i % 6) + 1), 4));
  good = encodeModel(d, statedCalibration(1, 1), { filter: 'none' });
  writeFileSync(trace(), 'read\nwrite\nclose\nopenat\nread\nwrite\n');
  for (const b of BAD) writeFileSync(join(dir, `${b.code}.model`), b.bytes());
  cg = createScratchCgroup(`sw-test-badmodel-${process.pid}`);
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('a model that cannot be loaded', () => {
  for (const b of BAD) {
    it(`with ${b.what} is refused by Pipeline.create on the calling thread (${b.code})`, async () => {
      await expect(Pipeline.create({ model: b.bytes(), modelName: 'bad.model', workers: 2 })).rejects.toMatchObject({ code: b.code, message: expect.stringMatching(b.message) });
    });

    it(`with ${b.what} makes replay exit 1 with the reason, not 0 with nothing`, async () => {
      const cli = startCli(['replay', trace(), '--model', join(dir, `${b.code}.model`)]);
      expect(await cli.exit()).toBe(1);
      expect(cli.stderr()).toMatch(b.message);
      expect(cli.stderr()).not.toMatch(/\n\s+at /);
      expect(cli.stdout()).toBe('');
    });

    it(`with ${b.what} makes watch exit 1 before any capture starts`, async () => {
      const cli = startCli(['watch', '--target', cg.spec, '--model', join(dir, `${b.code}.model`)]);
      expect(await cli.exit()).toBe(1);
      expect(cli.stderr()).toMatch(b.message);
      expect(cli.stderr()).not.toMatch(/watching|\n\s+at /);
      expect(cli.stdout()).toBe('');
    });
  }
});

describe('a worker that dies at start', () => {
  it('fails create() with its reason, and closing does not wait for it', async () => {
    // A model checked on this thread, then spoilt before the workers copy it:
    // they fail to restore it, as a worker failing for any reason would.
    const model = new PipelineModel(new Uint8Array(good), 'spoilt.model');
    model.bytes.fill(0);
    const started = Date.now();
    await expect(Pipeline.create({ model, workers: 2 })).rejects.toMatchObject({ code: 'ERR_WORKER', message: expect.stringMatching(/scoring worker \d failed to start: .*spoilt\.model/) });
    // Not a timeout: create() closed what it started without waiting on the dead.
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
