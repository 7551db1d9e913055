import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stide } from '../../src/detect/stide.js';
import { statedCalibration } from '../../src/detect/calibration.js';
import { saveModel } from '../../src/detect/model-file.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { windowStream } from '../../src/window/windows.js';
import { EventBatch } from '../../src/capture/record.js';
import { makeBatch } from './helpers.js';

let dir: string;
let model: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-flood-'));
  model = join(dir, 'toy.model');
  // Frame 1, threshold 1: every window not in the cycle alarms, so the flood is scored and alarms in full.
  const d = new Stide();
  d.fit(windowStream(new Uint16Array(600).map((_, i) => (i % 6) + 1), 6));
  await saveModel(model, d, statedCalibration(1, 1), { filter: 'none' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a flood beyond capacity', () => {
  it('drops whole batches, counts the loss per container, and keeps memory flat', async () => {
    const p = await Pipeline.create({ model, workers: 1, maxInFlight: 2 });
    // 64k events of two containers (slots 3 and 5), pushed far faster than one worker scores them.
    const events = Array.from({ length: 65536 }, (_, i) => [2000 + (i % 64), (i % 6) + 1] as const);
    const a = makeBatch(events, 3);
    const b = makeBatch(events, 5);
    const rssBefore = process.memoryUsage().rss;
    let accepted = 0;
    for (let i = 0; i < 400; i++) {
      if (p.push(i % 2 ? a : b)) accepted++;
      expect(p.stats().inFlight).toBeLessThanOrEqual(2);
    }
    await p.drain();
    const s = p.stats();
    const growthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    await p.close();

    expect(accepted).toBeLessThan(400);
    expect(s.droppedEvents).toBe((400 - accepted) * 65536);
    expect(s.events + s.droppedEvents).toBe(400 * 65536);
    expect(s.droppedBySlot[3]! + s.droppedBySlot[5]!).toBe(s.droppedEvents);
    expect(s.droppedBySlot[3]).toBeGreaterThan(0);
    expect(s.droppedBySlot[5]).toBeGreaterThan(0);
    // 400 MiB went through; what stays is a few batches in flight.
    expect(growthMiB).toBeLessThan(150);
  });

  it('sheds the flooding container first: a light container in the same batches keeps its events', async () => {
    const p = await Pipeline.create({ model, workers: 1, maxInFlight: 4 });
    // Each batch: 200,000 calls of container 3, then 1,000 of container 5.
    const heavy = Array.from({ length: 200000 }, (_, i) => [2000 + (i % 64), (i % 6) + 1] as const);
    const light = Array.from({ length: 1000 }, (_, i) => [9000 + (i % 4), (i % 6) + 1] as const);
    const a = makeBatch(heavy, 3);
    const b = makeBatch(light, 5);
    const both = new Uint8Array(a.buffer.byteLength + b.buffer.byteLength);
    both.set(new Uint8Array(a.buffer), 0);
    both.set(new Uint8Array(b.buffer), a.buffer.byteLength);
    const batch = new EventBatch(both.buffer);
    const pushes = 300;
    for (let i = 0; i < pushes; i++) {
      p.push(batch);
      // One batch per 2 ms, as the collector drains: some 100 M events/s, far beyond one worker.
      await new Promise((r) => setTimeout(r, 2));
    }
    await p.drain();
    const s = p.stats();
    await p.close();
    expect(s.events + s.droppedEvents).toBe(pushes * 201000);
    expect(s.droppedBySlot[3]! + (s.droppedBySlot[5] ?? 0)).toBe(s.droppedEvents);
    expect(s.droppedBySlot[3]! / (pushes * 200000), 'share of the flooding container dropped').toBeGreaterThan(0.5);
    expect((s.droppedBySlot[5] ?? 0) / (pushes * 1000), 'share of the light container dropped').toBeLessThan(0.05);
  });

  it('keeps a light container whole when its events come in batches of their own', async () => {
    // A drain often catches one container only: shares are judged over the
    // recent batches, so a batch holding only the light container is light.
    const p = await Pipeline.create({ model, workers: 1, maxInFlight: 4 });
    const heavy = makeBatch(Array.from({ length: 200000 }, (_, i) => [2000 + (i % 64), (i % 6) + 1] as const), 3);
    const light = makeBatch(Array.from({ length: 1000 }, (_, i) => [9000 + (i % 4), (i % 6) + 1] as const), 5);
    const rounds = 200;
    for (let i = 0; i < rounds; i++) {
      p.push(heavy);
      await new Promise((r) => setTimeout(r, 1));
      p.push(light);
      await new Promise((r) => setTimeout(r, 1));
    }
    await p.drain();
    const s = p.stats();
    await p.close();
    expect(s.events + s.droppedEvents).toBe(rounds * 201000);
    expect(s.droppedBySlot[3]! / (rounds * 200000), 'share of the flooding container dropped').toBeGreaterThan(0.5);
    expect((s.droppedBySlot[5] ?? 0) / (rounds * 1000), 'share of the light container dropped').toBeLessThan(0.05);
  });
});
