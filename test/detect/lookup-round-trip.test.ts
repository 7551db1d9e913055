import { describe, expect, it } from 'vitest';
import { factory as lookup } from '../../src/detect/lookup.js';
import { encodeModel, modelFromBytes } from '../../src/detect/model-file.js';
import { supervisedToyProblem } from './helpers/sequence-toy.js';

describe('lookup save/load', () => {
  it('gives identical scores, threshold, frame and window size after a model-file round trip', () => {
    const toy = supervisedToyProblem(4);
    const d = lookup.create({ frame: 32 });
    d.fit(toy.train);
    const { detector: back } = modelFromBytes(encodeModel(d, { filter: 'none' }), 'toy.model', { expect: 'lookup' });
    expect(back.name).toBe('lookup');
    expect(back.windowSize).toBe(4);
    expect(back.threshold).toBe(d.threshold);
    expect((back as typeof d & { frame: number }).frame).toBe(32);
    for (const set of [toy.normalTest, toy.attackTest]) expect(back.score(set)).toEqual(d.score(set));
  });

  it('rejects state whose rows and class marks disagree', () => {
    expect(() => lookup.restore({ windowSize: 3, frame: 4, rows: new Uint16Array(6), seen: new Uint8Array(3) })).toThrow(/lookup: the saved state is incomplete/);
  });
});
