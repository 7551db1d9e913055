import { describe, expect, it } from 'vitest';
import { factory as ngram } from '../../src/detect/ngram.js';
import { toyProblem } from './helpers/sequence-toy.js';

describe('ngram locality frame', () => {
  it('scores the mean of the last L window scores of the same stream, each stream on its own', () => {
    const toy = toyProblem(4);
    const single = ngram.create({ frame: 1 });
    const framed = ngram.create({ frame: 3 });
    single.fit(toy.train);
    framed.fit(toy.train);
    const set = toy.attackTest;
    const raw = single.score(set);
    const mean = framed.score(set);
    for (const i of [0, 1, 2, 200, 250, 400]) {
      const from = Math.max(0, i - 2);
      const want = raw.slice(from, i + 1).reduce((a, b) => a + b, 0) / (i + 1 - from);
      expect(mean[i]).toBeCloseTo(want, 9);
    }
    // Two interleaved streams: each frame only sees its own windows.
    const source = Int32Array.from({ length: set.count }, (_, i) => i % 2);
    const inter = framed.score({ ...set, source });
    expect(inter[4]).toBeCloseTo((raw[0]! + raw[2]! + raw[4]!) / 3, 9);
  });
});
