import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { makeBatch, saveAlarmingModel } from './helpers.js';

let dir: string;
let model: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-first-'));
  model = join(dir, 'alarm.model');
  await saveAlarmingModel(model);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a thread seen in a pipeline's first batch", () => {
  it('keeps its calls for the windows that end in the next batch (the idle sweep of the first batch once forgot it)', async () => {
    const p = await Pipeline.create({ model, workers: 1 });
    const tid = 4242;
    // An hour of uptime on the kernel clock: anything seen "at time 0" would look idle for an hour.
    const t0 = 3600e9;
    p.push(makeBatch([[tid, 1], [tid, 2], [tid, 3]], 0, t0));
    p.push(makeBatch([[tid, 4], [tid, 5], [tid, 6]], 0, t0 + 1e6));
    await p.drain();
    // Windows of 4 over six calls: three, two of them ending in the second batch with calls of the first.
    expect(p.stats().windows).toBe(3);
    await p.close();
  });
});
