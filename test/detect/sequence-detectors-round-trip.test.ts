import { describe, expect, it } from 'vitest';
import { factory as stide } from '../../src/detect/stide.js';
import { factory as bosc } from '../../src/detect/bosc.js';
import { factory as ngram } from '../../src/detect/ngram.js';
import { factory as hybrid } from '../../src/detect/hybrid.js';
import { DEFAULT_FRAME } from '../../src/detect/decision.js';
import { encodeModel, modelFromBytes } from '../../src/detect/model-file.js';
import { calibrateOnToy, toyProblem } from './helpers/sequence-toy.js';

describe.each([stide, bosc, ngram, hybrid])('$name save/load', (factory) => {
  it('gives identical scores, calibration and window size after a model-file round trip', () => {
    const toy = toyProblem(5);
    const { detector: d, calibration } = calibrateOnToy(factory, toy, DEFAULT_FRAME);
    const bytes = encodeModel(d, calibration, { filter: 'harmless', meta: { note: 'toy' } });
    const { detector: back, file } = modelFromBytes(bytes, 'toy.model', { expect: factory.name });
    expect(file.filter).toBe('harmless');
    expect(file.meta).toEqual({ note: 'toy' });
    expect(back.name).toBe(factory.name);
    expect(back.windowSize).toBe(5);
    expect(file.threshold).toBe(calibration.threshold);
    expect(file.calibration).toEqual(calibration);
    expect(back.maxScore()).toBe(d.maxScore());
    for (const set of [toy.normalTest, toy.attackTest]) expect(back.score(set)).toEqual(d.score(set));
  });
});
