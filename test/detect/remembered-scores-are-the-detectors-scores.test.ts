import { expect, it } from 'vitest';
import { detectorFactories } from '../../src/detect/registry.js';
import { ScoreMemo } from '../../src/detect/lib/score-memo.js';
import { selectWindows } from '../../src/window/windows.js';
import { CLASSIFIERS, toyWindows } from './helpers/toy.js';

// The pipeline scores through a ScoreMemo: a window's remembered score must be
// the one the detector gives it, whatever else it was scored beside. That holds
// only if every detector scores a window by that window alone (the Detector
// contract), so both are checked for every registered detector.
const fast = new Map(CLASSIFIERS.map((c) => [c.factory.name, c.options]));

for (const factory of detectorFactories()) {
  it(`${factory.name}: a window scores alike alone and in a set, and the memo gives the detector's scores`, () => {
    const train = toyWindows(1500, factory.name === 'ocsvm' || factory.name === 'iforest' ? 0 : 0.3, 7);
    const det = factory.create({ ...(fast.get(factory.name) ?? {}), seed: 1 });
    det.fit(train);
    // Live-like batches: windows seen before, novel ones, and attack-like ones, repeated.
    const test = toyWindows(600, 0.2, 8);
    const whole = det.score(test);
    const alone = Array.from({ length: 60 }, (_, i) => det.score(selectWindows(test, [i * 10]))[0]!);
    expect(alone).toEqual(Array.from({ length: 60 }, (_, i) => whole[i * 10]!));

    // 16 slots: most windows collide with another and are scored again, some are remembered.
    const memo = new ScoreMemo(det, 16);
    for (const [from, to] of [[0, 150], [100, 350], [0, 600], [0, 600], [599, 600]] as const) {
      const batch = selectWindows(test, Array.from({ length: to - from }, (_, k) => from + k));
      const out = new Float64Array(batch.count + 3);
      memo.score(batch, out);
      expect([...out.subarray(0, batch.count)], `windows ${from}..${to}`).toEqual([...whole.subarray(from, to)]);
    }
    expect(memo.found).toBeGreaterThan(0);
    expect(memo.found).toBeLessThan(memo.looked);
  });
}

it('a batch seen again is answered from memory when it fits, and scored afresh after it was displaced', () => {
  const train = toyWindows(800, 0, 3);
  const det = detectorFactories()[0]!.create();
  det.fit(train);
  const test = toyWindows(300, 0, 4);
  const memo = new ScoreMemo(det, 4096);
  const first = memo.score(test, new Float64Array(test.count));
  const looked = memo.looked;
  const found = memo.found;
  const again = memo.score(test, new Float64Array(test.count));
  expect([...again]).toEqual([...first]);
  expect(memo.looked - looked).toBe(test.count);
  // A few distinct windows share a slot (direct-mapped): the later one displaced the earlier.
  expect(memo.found - found).toBeGreaterThan(test.count * 0.95);

  // One slot, two windows in turn: each displaces the other and is scored afresh, to the same score.
  const one = new ScoreMemo(det, 1);
  const two = selectWindows(test, [0, 1, 0, 1, 0, 1]);
  expect([...one.score(two, new Float64Array(6))]).toEqual([0, 1, 0, 1, 0, 1].map((i) => first[i]!));
  expect(one.found).toBe(0);
  expect(() => new ScoreMemo(det, 1000)).toThrow(/power of two/);
});
