import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeModel, modelFromBytes } from '../../src/detect/model-file.js';
import { highestScore } from '../../src/detect/registry.js';
import { Stide } from '../../src/detect/stide.js';
import { trainFromFiles } from '../../src/detect/train.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { windowStream } from '../../src/window/windows.js';
import { fittedModels, probeWindows } from '../fuzz/helpers.js';
import { startCli } from './cli-process.js';

let dir: string;
/**
 * One trace (one stream): 400 calls cycling through six, then 100 through
 * six others. STIDE sets its threshold on the last 20 % of the windows,
 * all unseen in the first 80 %: the held-out rate is 20/20 and the
 * threshold one frame step above it, 21/20, which no window can reach.
 */
const novelTail = () => join(dir, 'novel-tail.txt');
const A = ['read', 'write', 'openat', 'close', 'fstat', 'mmap'];
const B = ['socket', 'connect', 'sendto', 'recvfrom', 'getpid', 'dup'];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-unreachable-'));
  const calls = [...Array.from({ length: 400 }, (_, i) => A[i % 6]!), ...Array.from({ length: 100 }, (_, i) => B[i % 6]!)];
  writeFileSync(novelTail(), calls.join('\n') + '\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a model whose threshold no window can reach', () => {
  it('is not saved by training, which says why and what to do', async () => {
    const model = join(dir, 'never.model');
    await expect(trainFromFiles({ from: [novelTail()], window: 6, model })).rejects.toMatchObject({
      code: 'ERR_UNREACHABLE_THRESHOLD',
      message: expect.stringMatching(/stide threshold 1\.05 is above the highest score 1 any window can reach, so the model could never alarm.*Fix: train on more normal data.*smaller --window.*another --detector/),
    });
    expect(existsSync(model)).toBe(false);
  });

  it('makes `train --from` exit 1 with the reason and write no model', async () => {
    const model = join(dir, 'cli-never.model');
    const cli = startCli(['train', '--from', novelTail(), '--model', model]);
    expect(await cli.exit()).toBe(1);
    expect(cli.stderr()).toMatch(/threshold 1\.05 is above the highest score 1 any window can reach/);
    expect(cli.stderr()).not.toMatch(/\n\s+at /);
    expect(existsSync(model)).toBe(false);
  });

  it('is refused when loaded, by Pipeline.create and by replay, with the same code', async () => {
    const d = new Stide({ frame: 20 });
    d.fit(windowStream(new Uint16Array(600).map((_, i) => (i % 6) + 1), 6));
    d.threshold = 21 / 20;
    const bytes = encodeModel(d, { filter: 'none' });
    const path = join(dir, 'crafted.model');
    writeFileSync(path, bytes);
    await expect(Pipeline.create({ model: bytes, modelName: 'crafted.model', workers: 1 })).rejects.toMatchObject({
      code: 'ERR_UNREACHABLE_THRESHOLD',
      message: expect.stringMatching(/crafted\.model holds a stide model whose threshold 1\.05 is above the highest score 1 .*could never alarm\. Fix: re-train/),
    });
    const cli = startCli(['replay', novelTail(), '--model', path]);
    expect(await cli.exit()).toBe(1);
    expect(cli.stderr()).toMatch(/could never alarm/);
    expect(cli.stdout()).toBe('');
  });

  it('is told apart from one whose threshold is the highest score itself (score >= threshold alarms)', async () => {
    const d = new Stide({ frame: 1 });
    d.fit(windowStream(new Uint16Array(600).map((_, i) => (i % 6) + 1), 6));
    d.threshold = 1;
    const p = await Pipeline.create({ model: encodeModel(d, { filter: 'none' }), workers: 1 });
    await p.close();
  });
});

describe('every detector knows the highest score a window can reach', () => {
  for (const m of fittedModels()) {
    it(`${m.factory.name}: a finite bound, above every score and the fitted threshold`, () => {
      const { detector: d } = modelFromBytes(m.bytes, m.factory.name);
      const max = highestScore(d);
      expect(Number.isFinite(max)).toBe(true);
      const scores = d.score(probeWindows(d.windowSize));
      for (const s of scores) expect(s).toBeLessThanOrEqual(max);
      expect(d.threshold).toBeLessThanOrEqual(max);
    });
  }
});
