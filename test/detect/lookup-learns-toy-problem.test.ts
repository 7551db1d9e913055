import { describe, expect, it } from 'vitest';
import { factory as lookup } from '../../src/detect/lookup.js';
import { supervisedToyProblem, toyProblem, alarmsOf, windowsOf } from './helpers/sequence-toy.js';

describe('lookup on a toy program', () => {
  it.each([3, 4])('flags windows seen only in attack training and not the normal run (window %i)', (size) => {
    const toy = supervisedToyProblem(size);
    const d = lookup.create({ frame: 16 });
    d.fit(toy.train);
    expect(d.supervised).toBe(true);
    expect(d.windowSize).toBe(size);
    expect(d.thresholdRule).toMatch(/^one frame step \(1\/16\) above .* leave-one-trace-out over the 5 normal training parts/);
    const normal = d.score(toy.normalTest);
    expect(Math.max(...normal)).toBeLessThan(d.threshold);
    const attack = d.score(toy.attackTest);
    const alarms = alarmsOf(attack, d.threshold);
    expect(alarms.length).toBeGreaterThan(40);
    // Alarms start inside the injected run (200..259) and end within one frame after it.
    expect(Math.min(...alarms)).toBeGreaterThanOrEqual(200 - size);
    expect(Math.max(...alarms)).toBeLessThan(260 + 16);
  });

  it('scores the share of attack-only windows among the last L windows of each stream', () => {
    const toy = supervisedToyProblem(3);
    const d = lookup.create({ frame: 4 });
    d.fit(toy.train);
    const normalRow = toy.train.data.subarray(0, 3);
    const attackRow = Uint16Array.from([59, 59, 59]);
    const rows = [normalRow, attackRow, attackRow, normalRow, normalRow, normalRow, normalRow];
    const one = d.score(windowsOf(rows));
    expect([...one]).toEqual([0, 0.25, 0.5, 0.5, 0.5, 0.25, 0]);
    const two = d.score(windowsOf(rows, [0, 1, 0, 1, 0, 1, 0]));
    expect([...two]).toEqual([0, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]);
  });

  it('refuses training windows without attack examples, naming the fix', () => {
    expect(() => lookup.create().fit(toyProblem(3).train)).toThrow(/lookup: needs normal and attack training windows \(got no attack windows\)\. Fix:/);
  });
});
