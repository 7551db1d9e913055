import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROC_LAYOUT, REC_EXIT } from '../../src/capture/proc-event.js';
import { EventBatch, RECORD_LAYOUT } from '../../src/capture/record.js';
import { decodeProcEvents } from '../../src/capture/proc-event.js';
import { readRecording, RecordingWriter } from '../../src/capture/recording.js';

// The writer is tested with crafted batches: what matters is how a batch of
// any size is cut into frames, which no live capture controls.
const dir = mkdtempSync(join(tmpdir(), 'sw-frames-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `n` records whose tid is their index in the batch, and exit events for threads 1e6+j placed before record `at[j]`. */
function crafted(n: number, at: number[]): EventBatch {
  const buf = new ArrayBuffer(RECORD_LAYOUT.size * n);
  const view = new DataView(buf);
  for (let i = 0; i < n; i++) {
    view.setUint32(i * RECORD_LAYOUT.size + RECORD_LAYOUT.tid, i, true);
    view.setUint16(i * RECORD_LAYOUT.size + RECORD_LAYOUT.nr, i % 300, true);
  }
  const proc = new ArrayBuffer(PROC_LAYOUT.size * at.length);
  const pv = new DataView(proc);
  at.forEach((pos, j) => {
    const o = j * PROC_LAYOUT.size;
    pv.setUint16(o + PROC_LAYOUT.nr, REC_EXIT, true);
    pv.setUint32(o + PROC_LAYOUT.tid, 1e6 + j, true);
    pv.setUint32(o + PROC_LAYOUT.pid, 1e6 + j, true);
    pv.setUint32(o + PROC_LAYOUT.at, pos, true);
  });
  return new EventBatch(buf, 123n, at.length > 0 ? { events: decodeProcEvents(proc).events, bytes: proc } : undefined);
}

/** What a reader gets back: every record's tid in order, every process event's thread and place among the records, each frame's size. */
async function readBack(path: string) {
  const tids: number[] = [];
  const procs: Array<{ tid: number; at: number }> = [];
  const frames: Array<{ events: number; procs: number }> = [];
  await readRecording(path, (b) => {
    for (const p of b.proc) procs.push({ tid: p.tid, at: tids.length + p.at });
    for (let i = 0; i < b.count; i++) tids.push(b.tid(i));
    frames.push({ events: b.count, procs: b.proc.length });
    expect(b.drainedNs).toBe(123n);
  });
  return { tids, procs, frames };
}

describe('recording frames', () => {
  it('cuts a large batch into bounded frames, each process event still between the same two records', async () => {
    // Process events at the start, a crowd of 70 before one record, at a
    // frame's edge, in the middle and after the last record.
    const at = [0, 0, 0, ...Array<number>(70).fill(1000), 1024, 1024, 2500, 4999, 5000, 5000];
    const out = join(dir, 'big.swrec');
    const w = RecordingWriter.create(out, { targets: [], allProcesses: true });
    w.writeBatch(crafted(5000, at));
    w.finish({} as never);
    const r = await readBack(out);
    expect(r.tids).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(r.procs).toEqual(at.map((pos, j) => ({ tid: 1e6 + j, at: pos })));
    expect(r.frames.length).toBe(5); // cut early once, before the crowd of 70
    for (const f of r.frames) {
      expect(f.events).toBeLessThanOrEqual(1024);
      expect(f.procs).toBeLessThanOrEqual(64);
    }
  });

  it('keeps a small batch as one frame, and a batch of process events only', async () => {
    const out = join(dir, 'small.swrec');
    const w = RecordingWriter.create(out, { targets: [], allProcesses: true });
    w.writeBatch(crafted(10, [0, 10]));
    w.writeBatch(crafted(0, Array<number>(130).fill(0)));
    w.finish({} as never);
    const r = await readBack(out);
    expect(r.frames).toEqual([{ events: 10, procs: 2 }, { events: 0, procs: 64 }, { events: 0, procs: 64 }, { events: 0, procs: 2 }]);
    expect(r.procs.map((p) => p.at)).toEqual([0, 10, ...Array<number>(130).fill(10)]);
  });
});
