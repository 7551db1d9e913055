import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Alert } from '../../src/alert/alert.js';
import { readRecording, RecordingWriter } from '../../src/capture/recording.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { replayFile } from '../../src/pipeline/replay.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../../src/capture/collector.js';
import { EventBatch, NR_U16, RECORD_LAYOUT, TID_U32, U16_PER_RECORD, U32_PER_RECORD } from '../../src/capture/record.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { COMPAT_FLAG, syscallName, syscallNumber } from '../../src/trace/syscalls.js';
import { makeFilter } from '../../src/window/filter.js';
import { loadThreatTable, builtinThreatTablePath } from '../../src/trace/threat-levels.js';
import { IncrementalWindower } from '../../src/window/incremental.js';
import { runWorkload } from './helpers.js';

/**
 * 32-bit (ia32 compat) syscalls carry SW_NR_COMPAT in the record, so i386
 * execve (11) is never read as x86_64 munmap (11). This kernel runs with
 * 32-bit emulation off, so no real 32-bit process can be started here: the
 * decoding is tested on crafted records, and the capture side on real
 * 64-bit processes (never flagged).
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let cg: ScratchCgroup;
beforeAll(() => {
  cg = createScratchCgroup(`sw-test-compat-${process.pid}`);
});
afterAll(async () => {
  await cg.remove();
});

function crafted(tid: number, nrs: number[]): EventBatch {
  const buf = new ArrayBuffer(nrs.length * RECORD_LAYOUT.size);
  const u32 = new Uint32Array(buf);
  const u16 = new Uint16Array(buf);
  nrs.forEach((nr, i) => {
    u32[i * U32_PER_RECORD + TID_U32] = tid;
    u16[i * U16_PER_RECORD + NR_U16] = nr;
  });
  return new EventBatch(buf);
}

describe('32-bit syscalls', () => {
  it('are flagged as bpf/event.h says', () => {
    const header = readFileSync(join(root, 'bpf', 'event.h'), 'utf8');
    expect(Number(/#define SW_NR_COMPAT (0x[0-9a-f]+)/.exec(header)?.[1])).toBe(COMPAT_FLAG);
  });

  it('decode with the i386 table into tokens of their own (crafted records)', () => {
    const b = crafted(42, [59, 11, COMPAT_FLAG | 11, COMPAT_FLAG | 102, COMPAT_FLAG | 3, 0]);
    const names = Array.from({ length: b.count }, (_, i) => syscallName(b.nr(i)));
    expect(names).toEqual(['execve', 'munmap', 'i386:execve', 'i386:socketcall', 'i386:read', 'read']);
    for (const name of names) expect(syscallName(syscallNumber(name)!)).toBe(name);
    expect(syscallNumber('i386:execve')).toBe(COMPAT_FLAG | 11);
    expect(syscallNumber('i386:no_such_call')).toBeUndefined();
    // A number the table does not know still gets a name that reads back.
    expect(syscallName(COMPAT_FLAG | 999)).toBe('i386:sys_999');
    expect(syscallNumber('i386:sys_999')).toBe(COMPAT_FLAG | 999);
    // Windows keep the tokens apart: a 32-bit read is not an x86_64 read.
    const w = new IncrementalWindower(2);
    for (let i = 0; i < b.count; i++) w.push(b.tid(i), b.nr(i));
    const { windows } = w.drainTagged();
    expect(Array.from(windows.data.subarray(6, 10))).toEqual([COMPAT_FLAG | 102, COMPAT_FLAG | 3, COMPAT_FLAG | 3, 0]);
  });

  it("are dropped by the 'harmless' filter like their 64-bit twins", async () => {
    const f = makeFilter('harmless', await loadThreatTable(builtinThreatTablePath()));
    const harmless64 = Array.from({ length: 1024 }, (_, nr) => nr).filter((nr) => f.drop[nr] === 1);
    expect(harmless64.length).toBeGreaterThan(0);
    const getpid64 = syscallNumber('getpid')!;
    if (f.drop[getpid64] === 1) expect(f.drop[syscallNumber('i386:getpid')!]).toBe(1);
    // Never a dangerous one: execve stays in, in either ABI.
    expect(f.drop[syscallNumber('execve')!]).toBe(0);
    expect(f.drop[syscallNumber('i386:execve')!]).toBe(0);
  });

  it('keep their tokens in a recording and in replay alerts (crafted records written as a recording)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-compat-'));
    try {
      const rec = join(dir, 'compat.swrec');
      const w = RecordingWriter.create(rec, { targets: [{ slot: 0, spec: cg.spec, kind: 'cgroup', cgroupPath: cg.ref.path, cgroupId: cg.ref.id.toString() }], allProcesses: false });
      w.writeBatch(crafted(42, [COMPAT_FLAG | 5, COMPAT_FLAG | 3, COMPAT_FLAG | 6, COMPAT_FLAG | 11, COMPAT_FLAG | 1]));
      const names: string[] = [];
      const r = await readRecording(rec, (b) => {
        for (let i = 0; i < b.count; i++) names.push(syscallName(b.nr(i)));
      });
      expect(r.truncated).toMatch(/./); // no trailer: read up to its last batch
      expect(names).toEqual(['i386:open', 'i386:read', 'i386:close', 'i386:execve', 'i386:exit']);
      const model = join(dir, 'alarm.model');
      await saveAlarmingModel(model);
      const p = await Pipeline.create({ model, workers: 1 });
      const alerts: Alert[] = [];
      p.on('alert', (a: Alert) => alerts.push(a));
      await replayFile(p, rec);
      await p.close();
      expect(alerts.find((a) => a.type === 'alert')?.window).toEqual(['i386:open', 'i386:read', 'i386:close', 'i386:execve']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are never claimed for a 64-bit process (real capture)', async () => {
    const collector = await Collector.open({ targets: [cg.spec] });
    let flagged = 0;
    let total = 0;
    collector.on('batch', (b: EventBatch) => {
      for (let i = 0; i < b.count; i++) {
        total++;
        if (b.nr(i) & COMPAT_FLAG) flagged++;
      }
    });
    await runWorkload(['--cgroup', cg.dir, 'pattern', '500', '2']);
    await collector.close();
    expect(total).toBeGreaterThanOrEqual(3000);
    expect(flagged).toBe(0);
  });
});
