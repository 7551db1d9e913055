import { describe, expect, it } from 'vitest';
import { factory as lookup } from '../../src/detect/lookup.js';
import { encodeModel, modelFromBytes } from '../../src/detect/model-file.js';
import { calibrateOnToy, decided, supervisedToyProblem } from './helpers/sequence-toy.js';

describe('lookup save/load', () => {
  it('gives identical scores, decisions, calibration (threshold and frame) and window size after a model-file round trip', () => {
    const toy = supervisedToyProblem(4);
    const { detector: d, calibration } = calibrateOnToy(lookup, toy, 32);
    const { detector: back, file } = modelFromBytes(encodeModel(d, calibration, { filter: 'none' }), 'toy.model', { expect: 'lookup' });
    expect(back.name).toBe('lookup');
    expect(back.windowSize).toBe(4);
    expect(file.threshold).toBe(calibration.threshold);
    expect(file.calibration).toEqual(calibration);
    expect(file.calibration.frame).toBe(32);
    for (const set of [toy.normalTest, toy.attackTest]) {
      expect(back.score(set)).toEqual(d.score(set));
      expect(decided(back, set, file.calibration)).toEqual(decided(d, set, calibration));
    }
  });

  it('rejects state whose rows and class marks disagree', () => {
    expect(() => lookup.restore({ windowSize: 3, rows: new Uint16Array(6), seen: new Uint8Array(3) })).toThrow(/lookup: the saved state is incomplete/);
  });
});
