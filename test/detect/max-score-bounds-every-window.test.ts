import { describe, expect, it } from 'vitest';
import type { Detector, DetectorFactory } from '../../src/detect/detector.js';
import { statedCalibration } from '../../src/detect/calibration.js';
import { decisionScores } from '../../src/detect/decision.js';
import { encodeModel, modelFromBytes } from '../../src/detect/model-file.js';
import { DETECTOR_NAMES, getDetector } from '../../src/detect/registry.js';
import type { WindowSet } from '../../src/window/window-set.js';
import { lcg, supervisedToyProblem, windowsOf } from './helpers/sequence-toy.js';
import { toyWindows } from './helpers/toy.js';

/** Options that keep toy fits quick; the bound must not depend on them. */
const QUICK: Record<string, Record<string, unknown>> = {
  rf: { nEstimators: 10 },
  ada: { nEstimators: 3, baseTrees: 3 },
  mlp: { maxIter: 10, hiddenUnits: 16 },
  iforest: { nEstimators: 20 },
  ocsvm: { nu: 0.1 },
};

/** The registered detectors with their defaults, plus the score forms the defaults leave out. */
const CASES: Array<{ label: string; factory: DetectorFactory; options: Record<string, unknown> }> = [
  ...DETECTOR_NAMES.map((n) => ({ label: n, factory: getDetector(n), options: QUICK[n] ?? {} })),
  { label: 'ngram worst transition', factory: getDetector('ngram'), options: { scoring: 'min' } },
  { label: 'ngram order 3', factory: getDetector('ngram'), options: { order: 3 } },
  { label: 'ocsvm nu 0.5', factory: getDetector('ocsvm'), options: { nu: 0.5 } },
];

/**
 * Seeded random windows over several streams: calls from the training
 * vocabulary, calls never seen (0..400), the extremes 0 and 65535, and
 * runs of one call repeated, so decision frames fill with anomalies and
 * windows land far from every training window.
 */
function randomWindows(size: number, seed: number): WindowSet {
  const rand = lcg(seed);
  const rows: Uint16Array[] = [];
  const sources: number[] = [];
  for (let src = 0; src < 8; src++) {
    const unseenShare = src / 7;
    for (let i = 0; i < 300; i++) {
      const row = new Uint16Array(size);
      const repeated = rand() < 0.1 ? Math.floor(rand() * 65536) : -1;
      for (let j = 0; j < size; j++) {
        const r = rand();
        if (repeated >= 0) row[j] = repeated;
        else if (r < 0.02) row[j] = 65535;
        else if (r < 0.04) row[j] = 0;
        else row[j] = rand() < unseenShare ? Math.floor(rand() * 401) : 1 + Math.floor(rand() * 6);
      }
      rows.push(row);
      sources.push(src);
    }
  }
  return windowsOf(rows, sources);
}

/** Every window set a detector fitted on `train` is scored on. */
function probes(train: WindowSet, extra: WindowSet[], seed: number): WindowSet[] {
  return [train, ...extra, randomWindows(train.size, seed), randomWindows(train.size, seed + 1)];
}

/** The first score above the bound (with the relative slack of floating-point bounds), or undefined. */
function firstAbove(scores: Float64Array, max: number): { index: number; score: number } | undefined {
  const limit = max + 1e-9 * Math.max(1, Math.abs(max));
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (!(s <= limit)) return { index: i, score: s };
  }
  return undefined;
}

/**
 * No window score, and so no frame mean of them (what a threshold is
 * compared with, and what checkThresholdReachable() relies on), is above
 * maxScore().
 */
function expectBounded(d: Detector, sets: WindowSet[]): void {
  const max = d.maxScore();
  expect(Number.isFinite(max), `${d.name} maxScore() is ${max}`).toBe(true);
  for (const set of sets) {
    const scores = d.score(set);
    expect(firstAbove(scores, max), `${d.name}: a window scores above maxScore() ${max}`).toBeUndefined();
    for (const frame of [1, 5]) {
      expect(firstAbove(decisionScores(set, scores, frame), max), `${d.name}: a frame mean of ${frame} windows is above maxScore() ${max}`).toBeUndefined();
    }
  }
}

const PROBLEMS = [
  {
    name: 'the sequence toy (streams of 4-call windows)',
    make: () => {
      const toy = supervisedToyProblem(4);
      return { train: toy.train, extra: [toy.normalTest, toy.attackTest] };
    },
  },
  {
    name: 'the classifier toy (5-call windows, one stream)',
    make: () => {
      const train = toyWindows(800, 0.3, 11);
      return { train, extra: [toyWindows(400, 0.5, 12)] };
    },
  },
];

describe.each(PROBLEMS)('maxScore() on $name', ({ make }) => {
  const { train, extra } = make();
  for (const c of CASES) {
    it(`${c.label}: no window, seen in training or random, scores above it`, () => {
      const d = c.factory.create({ ...c.options, seed: 3 });
      d.fit(train);
      expectBounded(d, probes(train, extra, 1000));
    });
  }

  it('is the same bound after a model-file round trip', () => {
    for (const c of CASES) {
      const d = c.factory.create({ ...c.options, seed: 3 });
      d.fit(train);
      // The threshold is the bound itself: a model that alarms only on the most unusual windows still loads.
      const { detector: back } = modelFromBytes(encodeModel(d, statedCalibration(d.maxScore()), { filter: 'none' }), 'toy.model', { expect: c.factory.name });
      expect(back.maxScore(), c.label).toBe(d.maxScore());
    }
  });
});
