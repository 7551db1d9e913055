import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import { RecordingWriter } from '../../src/capture/recording.js';
import { EventBatch } from '../../src/capture/record.js';
import type { DetectorFactory } from '../../src/detect/detector.js';
import { DEFAULT_FRAME } from '../../src/detect/decision.js';
import { encodeModel } from '../../src/detect/model-file.js';
import { detectorFactories } from '../../src/detect/registry.js';
import { SyswardenError } from '../../src/errors.js';
import { syscallNumber } from '../../src/trace/syscalls.js';
import type { WindowSet } from '../../src/window/window-set.js';
import { calibrateOnToy, supervisedToyProblem } from '../detect/helpers/sequence-toy.js';

/**
 * Inputs per property: a few thousand in the test suite, FUZZ_RUNS (100 000
 * under `npm run fuzz`) times `fuzzShare` in a campaign. `quickShare` scales the
 * suite's count for the slower properties (those that write a file per input);
 * `fuzzShare` splits one reader's campaign over several properties (the model
 * reader's 100 000 mutations are spread over the eleven detectors).
 */
export function runs(quickShare = 1, fuzzShare = 1): number {
  const full = process.env.FUZZ_RUNS;
  if (full !== undefined) return Math.ceil(Number(full) * fuzzShare);
  return Math.max(50, Math.round(2000 * quickShare));
}

/** A fixed seed in the suite, so a failure reproduces; a fresh one per campaign (fast-check prints it on failure). */
export function fcParams(quickShare = 1, fuzzShare = 1): fc.Parameters<unknown> {
  const numRuns = runs(quickShare, fuzzShare);
  return process.env.FUZZ_RUNS !== undefined ? { numRuns, endOnFailure: true } : { numRuns, seed: 20240607 };
}

/** The property every reader keeps: it returns, or it throws a SyswardenError with a message. */
export function decodesOrRejects<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof SyswardenError)) throw e;
    expect(e.message.length).toBeGreaterThan(10);
    return undefined;
  }
}

export async function decodesOrRejectsAsync<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (e) {
    if (!(e instanceof SyswardenError)) throw e;
    expect(e.message.length).toBeGreaterThan(10);
    return undefined;
  }
}

/** Byte-level mutations of a valid input: flips, overwrites, insertions, deletions, truncation, 32-bit length bombs. */
export function mutated(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = base.length;
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(n - 1), bit: fc.nat(7) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(n - 1), byte: fc.nat(255) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(n), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(n - 1), len: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(n) }),
    fc.record({ kind: fc.constant('u32' as const), at: fc.nat(Math.max(0, n - 4)), value: fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 1 << 28, (1 << 28) + 1) }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    let b = Buffer.from(base);
    for (const e of edits) {
      const at = Math.min(e.kind === 'insert' || e.kind === 'truncate' ? e.at : e.at, Math.max(0, b.length - 1));
      if (b.length === 0) break;
      if (e.kind === 'flip') b[at] = b[at]! ^ (1 << e.bit);
      else if (e.kind === 'set') b[at] = e.byte;
      else if (e.kind === 'insert') b = Buffer.concat([b.subarray(0, e.at > b.length ? b.length : e.at), Buffer.from(e.bytes), b.subarray(Math.min(e.at, b.length))]);
      else if (e.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.len)]);
      else if (e.kind === 'truncate') b = b.subarray(0, Math.min(e.at, b.length));
      else if (b.length >= at + 4) {
        b = Buffer.from(b);
        b.writeUInt32LE(e.value, at);
      }
    }
    return new Uint8Array(b);
  });
}

export function scratchDir(prefix: string): string {
  return mkdtempSync(join(statSync('/dev/shm', { throwIfNoEntry: false })?.isDirectory() ? '/dev/shm' : tmpdir(), prefix));
}

/** Records of (tid, nr, slot, ts) in the 16-byte layout. */
export function eventBatch(events: Array<{ tid: number; nr: number }>, drainedNs = 123n): EventBatch {
  const buf = new ArrayBuffer(events.length * 16);
  const dv = new DataView(buf);
  events.forEach((e, i) => {
    dv.setBigUint64(i * 16, BigInt(1_000_000 + i), true);
    dv.setUint32(i * 16 + 8, e.tid, true);
    dv.setUint16(i * 16 + 12, e.nr, true);
    dv.setUint16(i * 16 + 14, 0, true);
  });
  return new EventBatch(buf, drainedNs);
}

/** The bytes of a real, complete recording: header, two batches (one with an exit), trailer. */
export function validRecording(dir: string): Uint8Array {
  const path = join(dir, 'valid.swrec');
  const w = RecordingWriter.create(path, { targets: [{ slot: 0, spec: 'pid:1', kind: 'pid', cgroupPath: '/x', cgroupId: '42', container: { id: 'abc', name: 'web' } }], allProcesses: false });
  const read = syscallNumber('read')!;
  const exit = syscallNumber('exit')!;
  w.writeBatch(eventBatch([{ tid: 7, nr: read }, { tid: 8, nr: 1 }, { tid: 7, nr: 2 }]));
  w.writeBatch(eventBatch([{ tid: 7, nr: exit }, { tid: 9, nr: 0 }]));
  w.finish({ attach: 'tp_btf', kernel: { matched: 5, emitted: 5, dropped: 0 }, user: { batches: 2, events: 5, droppedBatches: 0, droppedEvents: 0 } }, [0]);
  return new Uint8Array(readFileSync(path));
}

/** Options that keep toy fits quick. */
const QUICK: Record<string, Record<string, unknown>> = {
  rf: { nEstimators: 5 },
  ada: { nEstimators: 3, baseTrees: 3 },
  mlp: { maxIter: 5, hiddenUnits: 8 },
  iforest: { nEstimators: 10 },
  ocsvm: { nu: 0.1 },
};

export interface FittedModel {
  factory: DetectorFactory;
  state: Record<string, unknown>;
  bytes: Uint8Array;
}

let fitted: FittedModel[] | undefined;

/**
 * One fitted and calibrated model of every registered detector, on the toy
 * problem (threshold set on its held-out normal traces, as train does), with
 * its state and its saved bytes.
 */
export function fittedModels(): FittedModel[] {
  if (fitted) return fitted;
  const toy = supervisedToyProblem(4);
  fitted = detectorFactories().map((factory) => {
    const { detector: d, calibration } = calibrateOnToy(factory, toy, DEFAULT_FRAME, { ...QUICK[factory.name], seed: 1 });
    return { factory, state: d.state() as Record<string, unknown>, bytes: new Uint8Array(encodeModel(d, calibration, { filter: 'none' })) };
  });
  return fitted;
}

/** A few windows of `size` calls to score a restored model on: it must finish and give numbers. */
export function probeWindows(size: number): WindowSet {
  const count = 6;
  const data = new Uint16Array(count * size);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 70;
  return { size, count, data, source: Int32Array.from({ length: count }, (_, i) => i % 2) };
}

/** Real strace lines from the hids-docker dataset when present, else a few typical ones. */
export function straceCorpus(): string[] {
  const root = '/work/shared/datasets/hids-docker/wordpress';
  const lines: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (lines.length >= 2000) return;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else lines.push(...readFileSync(p, 'utf8').split('\n').slice(0, 200).filter((l) => l.length > 0));
    }
  };
  try {
    walk(root);
  } catch {
    // The dataset is optional: fall back to hand-written lines.
  }
  if (lines.length === 0) {
    lines.push(
      'read(3, "abc", 3) = 3',
      '[pid  12] 10:00:00.123456 futex(0x7f, FUTEX_WAIT, 0, NULL <unfinished ...>',
      '[pid  12] <... futex resumed>) = 0',
      '--- SIGCHLD {si_signo=SIGCHLD} ---',
      '+++ exited with 0 +++',
      '1700000000.123456 openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3',
    );
  }
  return lines;
}
