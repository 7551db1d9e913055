import { describe, expect, it } from 'vitest';
import { CLASSIFIERS, toyWindows } from './helpers/toy.js';

describe('the same seed gives the same model', () => {
  const train = toyWindows(1500, 0.3, 6);
  const test = toyWindows(500, 0.3, 7);
  for (const { factory, options } of CLASSIFIERS) {
    it(factory.name, () => {
      const a = factory.create({ ...options, seed: 42 });
      const b = factory.create({ ...options, seed: 42 });
      a.fit(train);
      b.fit(train);
      expect(Array.from(a.score(test))).toEqual(Array.from(b.score(test)));
    });
  }
});
