import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../../src/capture/collector.js';
import { recordToFile } from '../../src/capture/record-session.js';
import { readRecording, RECORDING_FORMAT, RecordingWriter } from '../../src/capture/recording.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { summarizeRecording } from '../../src/capture/summary.js';
import { EventBatch } from '../../src/capture/record.js';
import { PROC_LAYOUT, type ProcEvent } from '../../src/capture/proc-event.js';
import { Packr } from 'msgpackr';
import { cliPath as cli, runCli, runWorkload, waitFor } from './helpers.js';

let dir: string;
let cg: ScratchCgroup;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-rec-'));
  cg = createScratchCgroup(`sw-test-rec-${process.pid}`);
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await cg.remove();
});

describe('recordings', () => {
  it('round-trips a live capture: header, every batch in order, trailer with the counters', async () => {
    const out = join(dir, 'live.swrec');
    const collector = await Collector.open({ targets: [cg.spec] });
    const live: number[] = [];
    collector.on('batch', (b: EventBatch) => {
      for (let i = 0; i < b.count; i++) live.push(b.nr(i));
    });
    const rec = recordToFile(collector, out);
    await runWorkload(['--cgroup', cg.dir, 'pattern', '3000', '2']);
    await collector.close();
    const written = await rec;

    const back: number[] = [];
    const r = await readRecording(out, (b) => {
      for (let i = 0; i < b.count; i++) back.push(b.nr(i));
    });
    expect(r.truncated).toBeUndefined();
    expect(r.header.targets.map((t) => t.spec)).toEqual([cg.spec]);
    expect(r.header.kernel).toMatch(/^\d+\.\d+/);
    expect(back).toEqual(live);
    expect(written).toBe(live.length);
    expect(r.trailer!.stats.kernel.emitted).toBe(live.length);

    const s = await summarizeRecording(out);
    expect(s.events).toBe(live.length);
    expect(s.syscalls.find((x) => x.name === 'getsid')?.count).toBe(6000);
    expect(s.threads).toBeGreaterThanOrEqual(3);
  });

  it('reads a format 1 recording (576-byte process events, before vtid/vpid): every event as before, its vpid unknown (0)', async () => {
    const out = join(dir, 'v2.swrec');
    const collector = await Collector.open({ targets: [cg.spec] });
    const rec = recordToFile(collector, out);
    await runWorkload(['--cgroup', cg.dir, 'pattern', '2000', '3']);
    await collector.close();
    await rec;
    const readProcs = async (path: string) => {
      const procs: ProcEvent[] = [];
      const calls: number[] = [];
      await readRecording(path, (b) => {
        procs.push(...b.proc);
        for (let i = 0; i < b.count; i++) calls.push(b.nr(i));
      });
      return { procs, calls };
    };
    const now = await readProcs(out);
    expect(now.procs.length).toBeGreaterThan(0);

    // Rewrite the same file as format 1 wrote it: preamble and header say 1,
    // each process event is its first 572 bytes padded to 576.
    const packr = new Packr({ useRecords: false, moreTypes: false });
    const bytes = readFileSync(out);
    const parts: Buffer[] = [Buffer.from('SWREC\0', 'latin1'), Buffer.from([1, 0])];
    for (let pos = 8; pos < bytes.length; ) {
      const len = bytes.readUInt32LE(pos);
      const frame = packr.unpack(bytes.subarray(pos + 4, pos + 4 + len)) as Record<string, unknown>;
      pos += 4 + len;
      if (frame.type === 'header') frame.format = 1;
      if (frame.type === 'batch' && frame.proc instanceof Uint8Array) {
        const p = frame.proc;
        const n = p.byteLength / PROC_LAYOUT.size;
        const v1 = new Uint8Array(n * 576);
        for (let i = 0; i < n; i++) v1.set(p.subarray(i * PROC_LAYOUT.size, i * PROC_LAYOUT.size + PROC_LAYOUT.vtid), i * 576);
        frame.proc = v1;
      }
      const body = packr.pack(frame);
      const head = Buffer.alloc(4);
      head.writeUInt32LE(body.length);
      parts.push(head, body);
    }
    const old = join(dir, 'v1.swrec');
    writeFileSync(old, Buffer.concat(parts));
    const then = await readProcs(old);
    expect(then.calls).toEqual(now.calls);
    const unknownV = (e: ProcEvent) => ({ ...e, vtid: 0, vpid: 0, ...(e.kind === 'fork' ? { childVtid: 0, childVpid: 0 } : {}) });
    expect(then.procs).toEqual(now.procs.map(unknownV));
    expect(now.procs.some((e) => e.vpid !== 0)).toBe(true);
  });

  it('reads a recording cut short up to its last complete batch, with a warning', async () => {
    const out = join(dir, 'cut.swrec');
    const w = RecordingWriter.create(out, { targets: [], allProcesses: true });
    const batch = (n: number) => {
      const buf = new ArrayBuffer(16 * n);
      new Uint16Array(buf).fill(39);
      return new EventBatch(buf);
    };
    w.writeBatch(batch(10));
    w.writeBatch(batch(20));
    w.writeBatch(batch(30)); // no trailer: as if killed
    const full = statSync(out).size;
    truncateSync(out, full - 100); // and the last batch half written
    let events = 0;
    const r = await readRecording(out, (b) => {
      events += b.count;
    });
    expect(events).toBe(30);
    expect(r.truncated).toMatch(/ends inside frame 3/);

    const res = await runCli(['summary', out]);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/warning: .*incomplete/);
    expect(res.stdout).toMatch(/events\s+30 /);
  });

  it('a recorder killed with SIGKILL leaves a readable file', async () => {
    const out = join(dir, 'killed.swrec');
    const child = spawn(process.execPath, [cli, 'record', '--target', cg.spec, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(() => err.includes('recording'), 'the recorder to start', 15000);
    await runWorkload(['--cgroup', cg.dir, 'getppid', '5000']);
    await new Promise((r) => setTimeout(r, 100));
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
    const s = await summarizeRecording(out);
    expect(s.truncated).toMatch(/no trailer/);
    expect(s.syscalls.find((x) => x.name === 'getppid')?.count).toBe(5000);
  });

  it('rejects files that are not recordings with a clear message', async () => {
    // Strace text is a trace (summary reads those too), but not a recording.
    const text = join(dir, 'trace.txt');
    writeFileSync(text, 'openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3\n');
    await expect(readRecording(text, () => {})).rejects.toThrow(/is not a syswarden recording .*looks like strace output/);
    // Neither a recording nor a trace: one clear line, exit 1.
    const json = join(dir, 'data.json');
    writeFileSync(json, '{"not": "a trace"}\n');
    const res = await runCli(['summary', json]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/data\.json/);
    expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace

    const newer = join(dir, 'newer.swrec');
    writeFileSync(newer, Buffer.concat([Buffer.from('SWREC\0', 'latin1'), Buffer.from([9, 0]), Buffer.alloc(8)]));
    await expect(readRecording(newer, () => {})).rejects.toThrow(new RegExp(`format 9; this syswarden reads formats 1–${RECORDING_FORMAT}\\. Upgrade`));

    const empty = join(dir, 'empty.swrec');
    writeFileSync(empty, '');
    await expect(readRecording(empty, () => {})).rejects.toThrow(/not a syswarden recording/);
  });

  it('never overwrites an existing recording unless told to', async () => {
    const out = join(dir, 'keep.swrec');
    writeFileSync(out, 'precious');
    expect(() => RecordingWriter.create(out, { targets: [], allProcesses: true })).toThrow(/already exists.*--force/);
    expect(readFileSync(out, 'utf8')).toBe('precious');
  });
});
