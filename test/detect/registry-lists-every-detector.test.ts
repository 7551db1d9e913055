import { describe, expect, it } from 'vitest';
import { DEFAULT_DETECTOR, DETECTOR_NAMES, getDetector, parseDetectorList } from '../../src/detect/registry.js';

describe('detector registry', () => {
  it('has the default first, the sequence detectors and the study classifiers', () => {
    expect(DEFAULT_DETECTOR).toBe('hybrid');
    expect(DETECTOR_NAMES).toEqual(['hybrid', 'markov', 'stide', 'bosc', 'ngram', 'lookup', 'rf', 'nb', 'knn', 'mlp', 'ada', 'ocsvm', 'iforest']);
    for (const n of DETECTOR_NAMES) expect(getDetector(n).name).toBe(n);
  });

  it("expands 'all', keeps report order and drops repeats", () => {
    expect(parseDetectorList('all').map((f) => f.name)).toEqual(DETECTOR_NAMES);
    expect(parseDetectorList(['rf,stide', 'rf']).map((f) => f.name)).toEqual(['stide', 'rf']);
  });

  it('names the known detectors when given an unknown one', () => {
    expect(() => parseDetectorList('svm')).toThrow(/unknown detector 'svm'\. Fix: use one of hybrid, markov, stide, bosc/);
  });
});
