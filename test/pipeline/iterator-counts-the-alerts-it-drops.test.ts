import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertRecord } from '../../src/alert/alert.js';
import { MAX_QUEUED_ALERTS, Pipeline } from '../../src/pipeline/pipeline.js';
import { syscallNumber } from '../../src/trace/syscalls.js';
import { makeBatch, saveAlarmingModel } from './helpers.js';

let dir: string;
let model: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-iter-'));
  model = join(dir, 'toy.model');
  await saveAlarmingModel(model);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const EXIT_GROUP = syscallNumber('exit_group')!;
const THREADS = 6000;

/** Each thread makes one unseen window and exits: an alert and its incident's end, 2 records per thread. */
async function pushIncidents(p: Pipeline): Promise<void> {
  for (let first = 0; first < THREADS; first += 500) {
    const events: Array<readonly [number, number]> = [];
    for (let t = first; t < first + 500; t++) events.push([10_000 + t, 7], [10_000 + t, 8], [10_000 + t, 9], [10_000 + t, 10], [10_000 + t, EXIT_GROUP]);
    expect(p.push(makeBatch(events))).toBe(true);
    await p.drain();
  }
}

describe("the pipeline's alert iterator", () => {
  it('counts the alerts it cannot queue for a reader that is behind, and marks the gap in the stream', async () => {
    const p = await Pipeline.create({ model, workers: 1 });
    const it = p[Symbol.asyncIterator]();
    await pushIncidents(p);
    const dropped = 2 * THREADS - MAX_QUEUED_ALERTS;
    expect(p.stats().alertsDropped).toBe(dropped);
    const got: AlertRecord[] = [];
    for (let i = 0; i <= MAX_QUEUED_ALERTS; i++) got.push((await it.next()).value as AlertRecord);
    expect(got.slice(0, MAX_QUEUED_ALERTS).every((a) => a.type === 'alert' || a.type === 'incident-end')).toBe(true);
    expect(got[MAX_QUEUED_ALERTS]).toMatchObject({ type: 'alerts-lost', count: dropped, total: dropped, reason: expect.stringMatching(/fell more than 10000 behind/) });
    await p.close();
    expect((await it.next()).done).toBe(true);
  });

  it('counts nothing for a user who only listens', async () => {
    const p = await Pipeline.create({ model, workers: 1 });
    let heard = 0;
    p.on('alert', () => heard++);
    await pushIncidents(p);
    expect(heard).toBe(2 * THREADS);
    expect(p.stats().alertsDropped).toBe(0);
    await p.close();
  });
});
