import { describe, expect, it } from 'vitest';
import { Markov } from '../../src/detect/markov.js';
import { windowStreams } from '../../src/window/windows.js';
import { lcg, normalStream, windowsOf } from './helpers/sequence-toy.js';

/** Five streams of the toy program: requests [1,2,3,4] or [1,2,5,4], sometimes followed by [6]. */
function trained(size: number): Markov {
  const rand = lcg(42);
  const d = new Markov();
  d.fit(windowStreams([0, 1, 2, 3, 4].map(() => ({ calls: normalStream(600, rand), label: 0 })), size));
  return d;
}

const one = (d: Markov, row: number[]): number => d.score(windowsOf([Uint16Array.from(row)]))[0]!;

describe('markov on a toy program', () => {
  it('scores a fresh normal stream under 1 bit on average, and its certain transitions near 0', () => {
    const d = trained(5);
    const fresh = d.score(windowStreams([{ calls: normalStream(600, lcg(9)) }], 5));
    const mean = fresh.reduce((a, b) => a + b, 0) / fresh.length;
    expect(mean).toBeLessThan(1);
    expect(one(d, [3, 4, 6, 1, 2])).toBeLessThan(0.1); // 2 always follows 1
    expect(one(d, [4, 1, 2, 5, 4])).toBeLessThan(0.1); // 4 always follows 5
  });

  it('scores a window ending in a never-seen call at the top of the scale, far above normal', () => {
    const d = trained(5);
    const unseen = one(d, [1, 2, 3, 4, 59]);
    expect(unseen).toBeGreaterThan(d.maxScore() - 1e-3);
    expect(unseen).toBeLessThanOrEqual(d.maxScore());
  });

  it('backs off: known calls in a new order score between normal windows and a new call', () => {
    const d = trained(5);
    const normal = one(d, [3, 4, 6, 1, 2]);
    // 3 never follows 1, but 1 and 3 are familiar: escapes from the seen contexts [6,1] and [1], then a hit at order 0.
    const reordered = one(d, [6, 6, 6, 1, 3]);
    const unseen = one(d, [6, 6, 6, 1, 59]);
    expect(reordered).toBeGreaterThan(normal + 10);
    expect(reordered).toBeLessThan(unseen - 5);
  });

  it('does not penalise an unseen context whose last transition is familiar', () => {
    // [6,6,6,1] never occurred, but 2 always follows 1: contexts never seen add no escape.
    expect(one(trained(5), [6, 6, 6, 1, 2])).toBeLessThan(0.1);
  });

  it('learns only from the windows labelled normal', () => {
    const rand = lcg(3);
    const attack = normalStream(600, rand);
    attack.fill(59, 100, 160);
    const d = new Markov();
    d.fit(windowStreams([{ calls: normalStream(600, rand), label: 0 }, { calls: attack, label: 1 }], 4));
    expect(one(d, [1, 2, 3, 59])).toBeGreaterThan(d.maxScore() - 0.1);
  });
});
