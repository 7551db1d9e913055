import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statedCalibration } from '../../src/detect/calibration.js';
import { encodeModel, modelFromBytes } from '../../src/detect/model-file.js';
import { highestScore } from '../../src/detect/registry.js';
import { Stide } from '../../src/detect/stide.js';
import { trainFromFiles } from '../../src/detect/train.js';
import { Pipeline, PipelineModel } from '../../src/pipeline/pipeline.js';
import { windowStream } from '../../src/window/windows.js';
import { fittedModels, probeWindows } from '../fuzz/helpers.js';
import { startCli } from './cli-process.js';

let dir: string;
/**
 * Three traces, each cycling through six calls of its own. Calibration holds
 * each trace out and scores it with a model of the others: to STIDE every
 * held-out window is new, so every held-out trace's frame mean reaches 1, the
 * highest score there is. Whatever the budget, the threshold that would keep
 * those traces quiet is above 1, which no window can reach.
 */
const CYCLES = [
  ['read', 'write', 'openat', 'close', 'fstat', 'mmap'],
  ['socket', 'connect', 'sendto', 'recvfrom', 'getpid', 'dup'],
  ['poll', 'futex', 'nanosleep', 'brk', 'munmap', 'lseek'],
];
const novelTraces = () => CYCLES.map((_, k) => join(dir, `novel-${k}.txt`));
/** The same three traces' length, all of the first cycle: every held-out window is known. */
const familiarTraces = () => CYCLES.map((_, k) => join(dir, `familiar-${k}.txt`));
const cycle = (calls: readonly string[]) => Array.from({ length: 600 }, (_, i) => calls[i % calls.length]!).join('\n') + '\n';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-unreachable-'));
  CYCLES.forEach((calls, k) => {
    writeFileSync(novelTraces()[k]!, cycle(calls));
    writeFileSync(familiarTraces()[k]!, cycle(CYCLES[0]!));
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a model whose threshold no window can reach', () => {
  it('is not saved by training, whatever the budget, which says why and what to do', async () => {
    for (const falseAlarms of [undefined, 0.5]) {
      const model = join(dir, `never-${falseAlarms ?? 'default'}.model`);
      await expect(trainFromFiles({ from: novelTraces(), detector: 'stide', window: 6, model, ...(falseAlarms ? { falseAlarms } : {}) })).rejects.toMatchObject({
        code: 'ERR_UNREACHABLE_THRESHOLD',
        message: expect.stringMatching(
          /^stide: meeting a budget of .* false alarms per normal trace needs a threshold of .* above the highest score .* any window can reach: the model could never alarm, so it was not saved\. Fix: train on more normal data.*--false-alarms.*another --detector/,
        ),
      });
      expect(existsSync(model)).toBe(false);
    }
    // The same training on traces that share their calls is saved, with a threshold some window reaches.
    const model = join(dir, 'familiar.model');
    const trained = await trainFromFiles({ from: familiarTraces(), detector: 'stide', window: 6, model });
    expect(trained.calibration.threshold).toBeLessThanOrEqual(1);
    expect(existsSync(model)).toBe(true);
  });

  it('makes `train --from` exit 1 with the reason and write no model', async () => {
    const model = join(dir, 'cli-never.model');
    const cli = startCli(['train', '--from', ...novelTraces(), '--detector', 'stide', '--model', model]);
    expect(await cli.exit()).toBe(1);
    expect(cli.stderr()).toMatch(/stide: meeting a budget of .* above the highest score .* any window can reach: the model could never alarm/);
    expect(cli.stderr()).not.toMatch(/\n\s+at /);
    expect(existsSync(model)).toBe(false);
  });

  it('is refused when loaded, by Pipeline.create and by replay, with the same code', async () => {
    const d = new Stide();
    d.fit(windowStream(new Uint16Array(600).map((_, i) => (i % 6) + 1), 6));
    // One frame step (1/20) above the highest frame mean a thread can have.
    const bytes = encodeModel(d, statedCalibration(21 / 20, 20), { filter: 'none' });
    const path = join(dir, 'crafted.model');
    writeFileSync(path, bytes);
    expect(() => modelFromBytes(bytes, 'crafted.model')).toThrow(expect.objectContaining({ code: 'ERR_UNREACHABLE_THRESHOLD' }));
    await expect(Pipeline.create({ model: bytes, modelName: 'crafted.model', workers: 1 })).rejects.toMatchObject({
      code: 'ERR_UNREACHABLE_THRESHOLD',
      message: expect.stringMatching(/crafted\.model holds a stide model whose threshold 1\.05 is above the highest score 1 any window can reach, so it could never alarm\. Fix: re-train/),
    });
    const cli = startCli(['replay', novelTraces()[1]!, '--model', path]);
    expect(await cli.exit()).toBe(1);
    expect(cli.stderr()).toMatch(/could never alarm/);
    expect(cli.stdout()).toBe('');
  });

  it('is told apart from one whose threshold is the highest score itself (a frame mean >= threshold alarms)', async () => {
    const d = new Stide();
    d.fit(windowStream(new Uint16Array(600).map((_, i) => (i % 6) + 1), 6));
    const model = new PipelineModel(encodeModel(d, statedCalibration(1, 20), { filter: 'none' }), 'at-the-bound.model');
    expect(model.threshold).toBe(1);
    const p = await Pipeline.create({ model, workers: 1 });
    await p.close();
  });
});

describe('every detector knows the highest score a window can reach', () => {
  for (const m of fittedModels()) {
    it(`${m.factory.name}: a finite bound, above every score and the calibrated threshold`, () => {
      const { detector: d, file } = modelFromBytes(m.bytes, m.factory.name);
      const max = highestScore(d);
      expect(Number.isFinite(max)).toBe(true);
      const scores = d.score(probeWindows(d.windowSize));
      for (const s of scores) expect(s).toBeLessThanOrEqual(max);
      expect(file.threshold).toBeLessThanOrEqual(max);
    });
  }
});
