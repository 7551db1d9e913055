import { describe, expect, it } from 'vitest';
import { MARKOV_ALPHABET, Markov } from '../../src/detect/markov.js';
import { windowStreams } from '../../src/window/windows.js';
import { lcg, normalStream } from './helpers/sequence-toy.js';

/** Sum over every possible last call of 2^-score, for windows sharing the context `ctx`. */
function mass(d: Markov, ctx: number[]): number {
  const size = ctx.length + 1;
  const data = new Uint16Array(MARKOV_ALPHABET * size);
  for (let s = 0; s < MARKOV_ALPHABET; s++) {
    data.set(ctx, s * size);
    data[s * size + size - 1] = s;
  }
  const scores = d.score({ size, count: MARKOV_ALPHABET, data });
  let sum = 0;
  for (const x of scores) sum += 2 ** -x;
  return sum;
}

describe('markov probabilities', () => {
  const rand = lcg(11);
  const d = new Markov();
  d.fit(windowStreams([0, 1, 2, 3].map(() => ({ calls: normalStream(800, rand), label: 0 })), 5));

  it('sum to between 0.99 and 1 over the alphabet after a context with one familiar continuation', () => {
    const sum = mass(d, [3, 4, 6, 1]); // 2 always follows
    expect(sum).toBeLessThanOrEqual(1 + 1e-9);
    expect(sum).toBeGreaterThanOrEqual(0.99);
  });

  it('sum to at most 1 after branching, unseen and partly seen contexts (no exclusion loses some mass)', () => {
    for (const ctx of [[4, 1, 2, 3], [6, 1, 2, 5], [9, 9, 9, 9], [6, 6, 6, 1], [1, 2, 3, 59]]) {
      const sum = mass(d, ctx);
      expect(sum).toBeLessThanOrEqual(1 + 1e-9);
      expect(sum).toBeGreaterThan(0);
    }
  });
});
