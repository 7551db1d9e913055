import { describe, expect, it } from 'vitest';
import { factory as stide } from '../../src/detect/stide.js';
import { factory as bosc } from '../../src/detect/bosc.js';
import { factory as ngram } from '../../src/detect/ngram.js';
import { toyProblem, alarmsOf, windowsOf } from './helpers/sequence-toy.js';

describe.each([stide, bosc, ngram])('$name on a toy program', (factory) => {
  it.each([3, 6])('flags the injected calls and not the normal run (window %i)', (size) => {
    const toy = toyProblem(size);
    const d = factory.create();
    d.fit(toy.train);
    expect(d.windowSize).toBe(size);
    expect(d.thresholdRule).toMatch(/held-out normal windows: leave-one-trace-out over the 5 normal training traces/);
    const normal = d.score(toy.normalTest);
    expect(Math.max(...normal)).toBeLessThan(d.threshold);
    const attack = d.score(toy.attackTest);
    const alarms = alarmsOf(attack, d.threshold);
    expect(alarms.length).toBeGreaterThan(10);
    // Every alarm is caused by the injected run (positions 200..259), allowing for the window and frame reach.
    expect(Math.min(...alarms)).toBeGreaterThanOrEqual(200 - size);
    expect(Math.max(...alarms)).toBeLessThan(260 + 20);
  });
});

describe('stide locality frame', () => {
  it('scores the share of mismatches among the last L windows of the same stream', () => {
    const toy = toyProblem(3);
    const d = stide.create({ frame: 4 });
    d.fit(toy.train);
    const known = toy.train.data.subarray(0, 3);
    const unknown = Uint16Array.from([59, 59, 59]);
    const rows = [known, unknown, unknown, known, known, known, known];
    const one = d.score(windowsOf(rows));
    expect([...one]).toEqual([0, 0.25, 0.5, 0.5, 0.5, 0.25, 0]);
    // Interleaved streams keep separate frames.
    const two = d.score(windowsOf(rows, [0, 1, 0, 1, 0, 1, 0]));
    expect([...two]).toEqual([0, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]);
  });
});
