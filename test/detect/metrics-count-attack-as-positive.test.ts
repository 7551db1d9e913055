import { describe, expect, it } from 'vitest';
import { evaluateScores } from '../../src/detect/metrics.js';

describe('metrics', () => {
  it('computes attack-class precision/recall/F1 and the normal-class F1', () => {
    const scores = Float64Array.from([0.9, 0.8, 0.1, 0.7, 0.2, 0.1]);
    const labels = Uint8Array.from([1, 1, 1, 0, 0, 0]);
    const m = evaluateScores(scores, labels, 0.5);
    expect(m.confusion).toEqual({ tp: 2, fn: 1, fp: 1, tn: 2 });
    expect(m.precision).toBeCloseTo(2 / 3);
    expect(m.recall).toBeCloseTo(2 / 3);
    expect(m.f1).toBeCloseTo(2 / 3);
    expect(m.normalF1).toBeCloseTo(2 / 3);
  });

  it('reports 0, not NaN, when a class is never predicted', () => {
    const m = evaluateScores(Float64Array.from([0, 0]), Uint8Array.from([1, 0]), 0.5);
    expect(m.precision).toBe(0);
    expect(m.f1).toBe(0);
    expect(m.normalF1).toBeCloseTo(2 / 3);
  });
});
