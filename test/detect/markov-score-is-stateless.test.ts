import { describe, expect, it } from 'vitest';
import { Markov } from '../../src/detect/markov.js';
import { windowAt } from '../../src/window/window-set.js';
import { windowStreams } from '../../src/window/windows.js';
import { attackStream, lcg, normalStream, windowsOf } from './helpers/sequence-toy.js';

describe('markov scoring', () => {
  it('scores each window on its own: one by one, in reverse, or in a batch, the same', () => {
    const rand = lcg(5);
    const d = new Markov();
    d.fit(windowStreams([0, 1, 2].map(() => ({ calls: normalStream(500, rand), label: 0 })), 6));
    const test = windowStreams([{ calls: attackStream(600, rand) }, { calls: normalStream(300, rand) }], 6);
    const batch = d.score(test);
    const alone = Float64Array.from({ length: test.count }, (_, i) => d.score(windowsOf([windowAt(test, i)]))[0]!);
    expect(alone).toEqual(batch);
    const reversed = d.score(windowsOf(Array.from({ length: test.count }, (_, i) => windowAt(test, test.count - 1 - i))));
    expect(Float64Array.from(reversed).reverse()).toEqual(batch);
    expect(d.score(test)).toEqual(batch);
  });

  it('writes into the array it is given', () => {
    const d = new Markov();
    d.fit(windowStreams([{ calls: normalStream(200, lcg(1)) }], 3));
    const test = windowStreams([{ calls: normalStream(50, lcg(2)) }], 3);
    const out = new Float64Array(test.count + 2).fill(-1);
    expect(d.score(test, out)).toBe(out);
    expect(out[test.count]).toBe(-1);
    expect(out.subarray(0, test.count)).toEqual(d.score(test));
  });
});
