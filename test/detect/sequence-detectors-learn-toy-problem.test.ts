import { describe, expect, it } from 'vitest';
import { factory as stide } from '../../src/detect/stide.js';
import { factory as bosc } from '../../src/detect/bosc.js';
import { factory as ngram } from '../../src/detect/ngram.js';
import { factory as hybrid } from '../../src/detect/hybrid.js';
import { DEFAULT_FRAME, decisionScores } from '../../src/detect/decision.js';
import { toyProblem, alarmsOf, calibrateOnToy, decided, windowsOf } from './helpers/sequence-toy.js';

describe.each([stide, bosc, ngram, hybrid])('$name on a toy program', (factory) => {
  it.each([3, 6])('flags the injected calls and not the normal run, at a threshold set on held-out training traces (window %i)', (size) => {
    const toy = toyProblem(size);
    const frame = DEFAULT_FRAME;
    const { detector: d, calibration } = calibrateOnToy(factory, toy, frame);
    expect(d.windowSize).toBe(size);
    // The threshold comes from the 5 normal training traces, each held out once.
    expect(calibration.peaks).toHaveLength(5);
    expect(calibration.folds).toBe(5);
    expect(calibration.frame).toBe(frame);
    expect(calibration.rule).toMatch(/5 held-out normal traces/);
    expect(calibration.threshold).toBeLessThanOrEqual(d.maxScore());
    const normal = decided(d, toy.normalTest, calibration);
    expect(Math.max(...normal)).toBeLessThan(calibration.threshold);
    const attack = decided(d, toy.attackTest, calibration);
    const alarms = alarmsOf(attack, calibration.threshold);
    expect(alarms.length).toBeGreaterThan(10);
    // Every alarm is caused by the injected run (positions 200..259), allowing for the window and frame reach.
    expect(Math.min(...alarms)).toBeGreaterThanOrEqual(200 - size);
    expect(Math.max(...alarms)).toBeLessThan(260 + frame);
  });
});

describe('stide through the frame decision', () => {
  it("is Forrest's locality frame: the share of mismatches among the last L windows of the same stream", () => {
    const toy = toyProblem(3);
    const d = stide.create();
    d.fit(toy.train);
    const known = toy.train.data.subarray(0, 3);
    const unknown = Uint16Array.from([59, 59, 59]);
    const rows = [known, unknown, unknown, known, known, known, known];
    const one = windowsOf(rows);
    const mismatches = d.score(one);
    expect([...mismatches]).toEqual([0, 1, 1, 0, 0, 0, 0]);
    expect([...decisionScores(one, mismatches, 4)]).toEqual([0, 0.25, 0.5, 0.5, 0.5, 0.25, 0]);
    // Interleaved streams keep separate frames.
    const two = windowsOf(rows, [0, 1, 0, 1, 0, 1, 0]);
    expect([...decisionScores(two, d.score(two), 4)]).toEqual([0, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]);
  });
});
