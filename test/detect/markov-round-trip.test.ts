import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Markov, factory } from '../../src/detect/markov.js';
import { unpackPlain } from '../../src/safe-msgpack.js';
import type { WindowSet } from '../../src/window/window-set.js';
import { windowStreams } from '../../src/window/windows.js';
import { attackStream, lcg, normalStream } from './helpers/sequence-toy.js';

const packr = new Packr({ moreTypes: true, useRecords: false });

function bits(a: Float64Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A test set with seen windows, unseen ones, new calls, and random calls over the whole alphabet. */
function testSet(size: number): WindowSet {
  const rand = lcg(77);
  const noise = Uint16Array.from({ length: 400 }, () => (rand() < 0.5 ? Math.floor(rand() * 8) : Math.floor(rand() * 65536)));
  return windowStreams([{ calls: normalStream(500, rand) }, { calls: attackStream(500, rand) }, { calls: noise }], size);
}

describe('markov save/load', () => {
  for (const size of [3, 7, 15]) {
    it(`scores bit for bit the same after a msgpack round trip of its state (window ${size})`, () => {
      const rand = lcg(size);
      const d = factory.create({ floor: 2 ** -24 });
      d.fit(windowStreams([0, 1, 2, 3].map(() => ({ calls: normalStream(700, rand), label: 0 })), size));
      const back = factory.restore(unpackPlain(packr, packr.pack(d.state()), 'markov state'));
      expect(back).toBeInstanceOf(Markov);
      expect(back.windowSize).toBe(size);
      expect(back.floor).toBe(2 ** -24);
      expect(back.maxScore()).toBe(d.maxScore());
      expect(back.distinctWindows).toBe(d.distinctWindows);
      const test = testSet(size);
      expect(bits(back.score(test)).equals(bits(d.score(test)))).toBe(true);
    });
  }

  it('restores from plain number arrays as well as typed arrays', () => {
    const d = new Markov();
    d.fit(windowStreams([{ calls: normalStream(400, lcg(2)) }], 4));
    const s = d.state();
    const back = Markov.restore({ ...s, windows: [...s.windows], counts: [...s.counts] });
    const test = testSet(4);
    expect(bits(back.score(test)).equals(bits(d.score(test)))).toBe(true);
  });
});
