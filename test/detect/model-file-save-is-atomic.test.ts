import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { factory as stide } from '../../src/detect/stide.js';
import { statedCalibration } from '../../src/detect/calibration.js';
import { loadModel, saveModel } from '../../src/detect/model-file.js';
import type { Detector } from '../../src/detect/detector.js';
import { toyProblem } from './helpers/sequence-toy.js';

describe('saveModel', () => {
  it('replaces an existing model whole (when forced) and leaves no temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-model-'));
    const path = join(dir, 'stide.model');
    writeFileSync(path, 'old contents');
    const toy = toyProblem(3);
    const d = stide.create();
    d.fit(toy.train);
    const calibration = statedCalibration(0.35, 20);
    await saveModel(path, d, calibration, { filter: 'none', force: true });
    expect(readdirSync(dir)).toEqual(['stide.model']);
    const { detector, file } = await loadModel(path, { expect: 'stide' });
    expect(file.threshold).toBe(0.35);
    expect(file.calibration).toEqual(calibration);
    expect(detector.score(toy.attackTest)).toEqual(d.score(toy.attackTest));
  });

  it('leaves the old model untouched and no temporary file when the save fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-model-'));
    const path = join(dir, 'm.model');
    writeFileSync(path, 'old contents');
    const broken: Detector = Object.assign(stide.create(), {
      state(): unknown {
        throw new Error('state exploded');
      },
    });
    await expect(saveModel(path, broken, statedCalibration(1), { filter: 'none', force: true })).rejects.toThrow(/state exploded/);
    // A failure at rename (target is a directory) must clean its temporary file too.
    const target = join(dir, 'is-a-dir');
    mkdirSync(target);
    const d = stide.create();
    d.fit(toyProblem(3).train);
    await expect(saveModel(target, d, statedCalibration(1), { filter: 'none', force: true })).rejects.toThrow(/cannot write model .*is-a-dir/);
    expect(readFileSync(path, 'utf8')).toBe('old contents');
    expect(readdirSync(dir).sort()).toEqual(['is-a-dir', 'm.model']);
  });
});
