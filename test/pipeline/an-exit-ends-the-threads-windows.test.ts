import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExitEvent } from '../../src/capture/proc-event.js';
import { EventBatch, NR_U16, RECORD_LAYOUT, TID_U32, U16_PER_RECORD, U32_PER_RECORD } from '../../src/capture/record.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { saveAlarmingModel } from './helpers.js';

/**
 * A tid the kernel reuses must not continue the dead thread's window. The
 * kernel cannot be made to reuse a tid on cue, so the batch is crafted: the
 * same tid makes three calls, exits (a process event, as a SIGKILL leaves
 * it: no exit call), and makes three more. Windows are 4 calls long.
 */
let dir: string;
let model: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-exit-'));
  model = join(dir, 'alarm.model');
  await saveAlarmingModel(model);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function batch(tid: number, calls: number, exitAt?: number): EventBatch {
  const buf = new ArrayBuffer(calls * RECORD_LAYOUT.size);
  const u32 = new Uint32Array(buf);
  const u16 = new Uint16Array(buf);
  for (let i = 0; i < calls; i++) {
    u32[i * U32_PER_RECORD + TID_U32] = tid;
    u16[i * U16_PER_RECORD + NR_U16] = 39; // getpid
  }
  if (exitAt === undefined) return new EventBatch(buf);
  const exit: ExitEvent = { kind: 'exit', tsNs: 0, tid, pid: tid, ppid: 1, targetId: 0, comm: 'x', at: exitAt, exitCode: 9, groupDead: true };
  return new EventBatch(buf, 0n, { events: [exit], bytes: new ArrayBuffer(0) });
}

describe("a thread's exit, as the kernel reports it", () => {
  it('ends its windows at once: the next thread with its id starts a fresh one', async () => {
    for (const workers of [1, 3]) {
      const p = await Pipeline.create({ model, workers });
      p.push(batch(777, 6)); // no exit: 6 calls make 3 windows of 4
      p.push(batch(778, 6, 3)); // exit after 3 calls: 3 + 3 calls make no window
      await p.drain();
      expect(p.stats().windows, `${workers} worker(s)`).toBe(3);
      await p.close();
    }
  });
});
