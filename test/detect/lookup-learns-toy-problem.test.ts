import { describe, expect, it } from 'vitest';
import { factory as lookup } from '../../src/detect/lookup.js';
import { decisionScores } from '../../src/detect/decision.js';
import { supervisedToyProblem, toyProblem, alarmsOf, calibrateOnToy, decided, windowsOf } from './helpers/sequence-toy.js';

describe('lookup on a toy program', () => {
  it.each([3, 4])('flags windows seen only in attack training and not the normal run (window %i)', (size) => {
    const toy = supervisedToyProblem(size);
    const frame = 16;
    const { detector: d, calibration } = calibrateOnToy(lookup, toy, frame);
    expect(d.supervised).toBe(true);
    expect(d.windowSize).toBe(size);
    // Held out: the 5 normal training traces; the attack traces train every fold.
    expect(calibration.peaks).toHaveLength(5);
    expect(calibration.rule).toMatch(/5 held-out normal traces/);
    expect(calibration.threshold).toBeLessThanOrEqual(d.maxScore());
    const normal = decided(d, toy.normalTest, calibration);
    expect(Math.max(...normal)).toBeLessThan(calibration.threshold);
    const attack = decided(d, toy.attackTest, calibration);
    const alarms = alarmsOf(attack, calibration.threshold);
    expect(alarms.length).toBeGreaterThan(40);
    // Alarms start inside the injected run (200..259) and end within one frame after it.
    expect(Math.min(...alarms)).toBeGreaterThanOrEqual(200 - size);
    expect(Math.max(...alarms)).toBeLessThan(260 + frame);
  });

  it('scores 1 for a window seen only in attack training, and the frame decision gives their share among the last L windows of each stream', () => {
    const toy = supervisedToyProblem(3);
    const d = lookup.create();
    d.fit(toy.train);
    const normalRow = toy.train.data.subarray(0, 3);
    const attackRow = Uint16Array.from([59, 59, 59]);
    const neverSeen = Uint16Array.from([300, 301, 302]);
    const rows = [normalRow, attackRow, attackRow, normalRow, normalRow, normalRow, normalRow];
    const one = windowsOf(rows);
    const scores = d.score(one);
    expect([...scores]).toEqual([0, 1, 1, 0, 0, 0, 0]);
    // A window never seen in training is not evidence of attack.
    expect([...d.score(windowsOf([neverSeen]))]).toEqual([0]);
    expect([...decisionScores(one, scores, 4)]).toEqual([0, 0.25, 0.5, 0.5, 0.5, 0.25, 0]);
    const two = windowsOf(rows, [0, 1, 0, 1, 0, 1, 0]);
    expect([...decisionScores(two, d.score(two), 4)]).toEqual([0, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]);
  });

  it('refuses training windows without attack examples, naming the fix', () => {
    expect(() => lookup.create().fit(toyProblem(3).train)).toThrow(/lookup: needs normal and attack training windows \(got no attack windows\)\. Fix:/);
  });
});
