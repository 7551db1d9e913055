import { describe, expect, it } from 'vitest';
import { SyswardenError } from '../../src/errors.js';
import { CLASSIFIERS, toyWindows } from './helpers/toy.js';

describe('restore() rejects a state of another model or version', () => {
  const train = toyWindows(600, 0.3, 5);
  for (const { factory, options } of CLASSIFIERS) {
    it(factory.name, () => {
      const det = factory.create({ ...options, seed: 1 });
      det.fit(train);
      const state = det.state() as Record<string, unknown>;
      expect(() => factory.restore({ ...state, name: 'other' })).toThrow(/belongs to 'other'/);
      expect(() => factory.restore({ ...state, version: factory.version + 1 })).toThrow(/version/);
      expect(() => factory.restore(null)).toThrow(SyswardenError);
    });
  }
});
