import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Markov } from '../../src/detect/markov.js';
import { SyswardenError } from '../../src/errors.js';
import { unpackPlain } from '../../src/safe-msgpack.js';
import { windowStreams } from '../../src/window/windows.js';
import { lcg, normalStream, windowsOf } from './helpers/sequence-toy.js';

function fitted(size = 4): Markov {
  const d = new Markov();
  d.fit(windowStreams([{ calls: normalStream(300, lcg(4)), label: 0 }], size));
  return d;
}

function refused(state: unknown): SyswardenError {
  try {
    Markov.restore(state);
  } catch (e) {
    expect(e).toBeInstanceOf(SyswardenError);
    expect((e as SyswardenError).code).toBe('ERR_MODEL_STATE');
    return e as SyswardenError;
  }
  throw new Error('restore accepted a damaged state');
}

describe('markov restore', () => {
  const good = fitted().state();

  it('refuses a state that is not a map', () => {
    for (const s of [null, undefined, 7, 'markov', [good], new Uint16Array(4)]) refused(s);
  });

  it('refuses missing or mistyped fields', () => {
    const { windows, counts, ...rest } = good;
    refused({ ...rest, counts });
    refused({ ...rest, windows });
    refused({ ...good, windows: new Uint8Array(windows.buffer.slice(0)) }); // raw bytes: saved without typed-array support
    refused({ ...good, counts: ['1', '2'] });
    refused({ ...good, windows: 'abc' });
    refused({ ...good, windows: [...windows].map((x, i) => (i === 3 ? 70000 : x)) });
    refused({ ...good, windows: [...windows].map((x, i) => (i === 3 ? -1 : x)) });
  });

  it('refuses a window size outside 3..15 or not an integer', () => {
    for (const windowSize of [undefined, 0, 2, 16, 64, 3.5, '4', Number.NaN]) expect(refused({ ...good, windowSize }).message).toMatch(/windowSize/);
  });

  it('refuses a floor outside its range', () => {
    for (const floor of [undefined, 0, -1, 0.9, Number.NaN, Number.POSITIVE_INFINITY, '0.001']) expect(refused({ ...good, floor }).message).toMatch(/floor/);
  });

  it('refuses windows that are not whole rows of counts', () => {
    expect(refused({ ...good, windows: good.windows.subarray(0, good.windows.length - 1) }).message).toMatch(/not \d+ windows of 4/);
    expect(refused({ ...good, counts: good.counts.subarray(1) }).message).toMatch(/windows of 4/);
    expect(refused({ ...good, windowSize: 5 }).message).toMatch(/windows of 5/);
    refused({ ...good, windows: new Uint16Array(0), counts: new Int32Array(0) });
  });

  it('refuses zero and negative counts', () => {
    for (const bad of [0, -1, -2147483648]) {
      const counts = good.counts.slice();
      counts[counts.length - 1] = bad;
      expect(refused({ ...good, counts }).message).toMatch(/counts\[/);
    }
  });

  it('refuses a window listed twice', () => {
    const windows = good.windows.slice();
    windows.copyWithin(4, 0, 4); // row 1 := row 0
    expect(refused({ ...good, windows }).message).toMatch(/repeats/);
  });

  it('restores or refuses, never crashes or hangs, on fuzzed model bytes', () => {
    const packr = new Packr({ moreTypes: true, useRecords: false });
    const bytes = packr.pack(fitted(5).state());
    const rand = lcg(2024);
    let restored = 0;
    for (let t = 0; t < 1500; t++) {
      const b = Uint8Array.from(bytes);
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      const cut = rand() < 0.2 ? b.subarray(0, Math.floor(rand() * b.length)) : b;
      let state: unknown;
      try {
        state = unpackPlain(packr, cut, 'fuzzed');
      } catch (e) {
        expect(e).toBeInstanceOf(SyswardenError);
        continue;
      }
      let d: Markov;
      try {
        d = Markov.restore(state);
      } catch (e) {
        expect(e).toBeInstanceOf(SyswardenError);
        expect((e as SyswardenError).code).toBe('ERR_MODEL_STATE');
        continue;
      }
      restored++;
      const rows = Array.from({ length: 50 }, () => Uint16Array.from({ length: d.windowSize }, () => Math.floor(rand() * 8)));
      for (const s of d.score(windowsOf(rows))) {
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(d.maxScore());
      }
    }
    expect(restored).toBeGreaterThan(0); // some flips land in the calls or counts and make another valid model
  });
});
