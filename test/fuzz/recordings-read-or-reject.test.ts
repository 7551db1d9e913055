import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterAll, describe, expect, it } from 'vitest';
import { RECORDING_FORMAT, RECORDING_MAGIC, readRecording } from '../../src/capture/recording.js';
import { decodesOrRejectsAsync, fcParams, mutated, scratchDir, validRecording } from './helpers.js';

const dir = scratchDir('sw-fuzz-rec-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const valid = validRecording(dir);
const file = join(dir, 'fuzz.swrec');
const packr = new Packr({ useRecords: false, moreTypes: false, largeBigIntToFloat: true });

async function readAll(bytes: Uint8Array): Promise<void> {
  writeFileSync(file, bytes);
  let events = 0;
  const r = await decodesOrRejectsAsync(() => readRecording(file, (b) => void (events += b.count)));
  if (!r) return;
  expect(r.header.type).toBe('header');
  expect(events).toBeLessThanOrEqual(bytes.length / 16);
}

function frames(...bodies: Uint8Array[]): Buffer {
  const pre = Buffer.alloc(8);
  RECORDING_MAGIC.copy(pre);
  pre.writeUInt16LE(RECORDING_FORMAT, 6);
  return Buffer.concat([pre, ...bodies.flatMap((b) => {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return [len, Buffer.from(b)];
  })]);
}

describe('recordings read or are rejected', () => {
  it('the valid recording reads whole', async () => {
    writeFileSync(file, valid);
    let events = 0;
    const r = await readRecording(file, (b) => void (events += b.count));
    expect(events).toBe(5);
    expect(r.truncated).toBeUndefined();
  });

  it('byte mutations of a real recording', async () => {
    await fc.assert(fc.asyncProperty(mutated(valid), readAll), fcParams(0.5));
  });

  it('frames of generated msgpack after a valid header', async () => {
    const header = valid.subarray(12, 12 + Buffer.from(valid).readUInt32LE(8));
    const frame = fc.oneof(
      fc.record({ type: fc.constantFrom('batch', 'trailer', 'header', 'x'), drainedNs: fc.oneof(fc.double(), fc.constant(undefined)), events: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(null)), stats: fc.anything({ maxDepth: 2 }), gone: fc.anything({ maxDepth: 1 }), endTime: fc.double() }, { requiredKeys: [] }),
      fc.anything({ withTypedArray: true, withMap: true, withSet: true, withDate: true, withBigInt: true }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { maxLength: 4 }), fc.boolean(), async (fs, replaceHeader) => {
        const bodies = fs.map((f) => new Uint8Array(packr.pack(f)));
        await readAll(frames(replaceHeader && bodies.length > 0 ? bodies[0]! : header, ...bodies));
      }),
      fcParams(0.5),
    );
  });

  it('a frame length of 2^32-1 or 2^28+1 is refused without allocating it', async () => {
    for (const len of [0xffffffff, (1 << 28) + 1, 1 << 28]) {
      const b = Buffer.from(valid);
      b.writeUInt32LE(len, 8);
      writeFileSync(file, b);
      const before = process.memoryUsage().arrayBuffers;
      await expect(readRecording(file, () => {})).rejects.toThrow(/no valid header frame|not a syswarden recording|preamble/);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
    }
  });

  it('a batch without drainedNs, or a null frame, ends the read with a reason instead of crashing', async () => {
    const header = valid.subarray(12, 12 + Buffer.from(valid).readUInt32LE(8));
    for (const bad of [{ type: 'batch', events: new Uint8Array(16) }, null, 7, { type: 'trailer', stats: null, gone: [] }]) {
      writeFileSync(file, frames(header, packr.pack(bad)));
      const r = await readRecording(file, () => {});
      expect(r.truncated).toMatch(/unreadable/);
    }
  });
});
