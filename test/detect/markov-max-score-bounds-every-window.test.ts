import { describe, expect, it } from 'vitest';
import { Markov } from '../../src/detect/markov.js';
import { windowStreams } from '../../src/window/windows.js';
import { lcg, normalStream, windowsOf } from './helpers/sequence-toy.js';

describe('markov maxScore()', () => {
  it('is 16 - log2(floor) bits: the surprisal of a call with probability 0 after the floor is mixed in', () => {
    expect(new Markov().maxScore()).toBe(36);
    expect(new Markov({ floor: 2 ** -10 }).maxScore()).toBe(26);
    expect(new Markov({ floor: 0.01 }).maxScore()).toBeCloseTo(16 - Math.log2(0.01), 12);
  });

  for (const size of [3, 8, 15]) {
    it(`bounds every window, and a new call after a familiar context reaches it (window ${size})`, () => {
      const rand = lcg(size);
      const d = new Markov();
      d.fit(windowStreams([0, 1, 2].map(() => ({ calls: normalStream(800, rand), label: 0 })), size));
      // Random windows: familiar calls, calls never seen, the extremes, over the whole u16 alphabet.
      const pick = (): number => {
        const r = rand();
        return r < 0.5 ? 1 + Math.floor(rand() * 6) : r < 0.6 ? (rand() < 0.5 ? 0 : 65535) : Math.floor(rand() * 65536);
      };
      const rows = Array.from({ length: 3000 }, () => Uint16Array.from({ length: size }, pick));
      const scores = d.score(windowsOf(rows));
      for (const s of scores) {
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(d.maxScore());
      }
      // A familiar context of size-1 calls, then a call never seen: every order escapes, and the
      // gap to the bound is about P·65536/(floor·ln 2) bits, P the product of the escapes:
      // a few hundredths of a bit after 3 escapes here, below rounding after 8.
      const familiar = normalStream(size - 1 + 20, lcg(1)).subarray(20, 20 + size - 1);
      const unseen = d.score(windowsOf([Uint16Array.from([...familiar, 59])]))[0]!;
      expect(d.maxScore() - unseen).toBeLessThan(size >= 8 ? 1e-9 : 0.1);
      expect(unseen).toBeLessThanOrEqual(d.maxScore());
    });
  }
});
