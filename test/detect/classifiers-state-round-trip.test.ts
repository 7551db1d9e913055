import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { CLASSIFIERS, toyWindows } from './helpers/toy.js';

// The model file's encoder settings: typed arrays round-trip as their own type.
const packr = new Packr({ moreTypes: true, useRecords: false });

describe('state() -> msgpack -> restore() gives identical scores', () => {
  const train = toyWindows(1500, 0.3, 3);
  const test = toyWindows(800, 0.3, 4);
  for (const { factory, options } of CLASSIFIERS) {
    it(factory.name, () => {
      const det = factory.create({ ...options, seed: 11 });
      det.fit(train);
      const before = det.score(test);
      const restored = factory.restore(packr.unpack(packr.pack(det.state())));
      expect(restored.name).toBe(factory.name);
      expect(restored.version).toBe(factory.version);
      expect(restored.windowSize).toBe(det.windowSize);
      expect(Array.from(restored.score(test))).toEqual(Array.from(before));
    });
  }
});
