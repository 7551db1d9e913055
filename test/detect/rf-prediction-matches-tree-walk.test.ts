import { describe, expect, it } from 'vitest';
import { RandomForest, type RandomForestState } from '../../src/detect/rf.js';
import { toyWindows } from './helpers/toy.js';

/** P(attack) by the plain definition: walk each stored tree from its root, one row at a time. */
function walk(state: RandomForestState, rows: Uint16Array, count: number): Float64Array {
  const { feature, threshold, left, right, value, roots } = state.forest;
  const d = state.windowSize;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (const root of roots) {
      let n = root;
      while (feature[n]! >= 0) n = rows[i * d + feature[n]!]! <= threshold[n]! ? left[n]! : right[n]!;
      sum += value[n]!;
    }
    out[i] = sum / roots.length;
  }
  return out;
}

describe('Random Forest prediction', () => {
  it('gives what walking each tree gives, for any row count and call values at and around every threshold', () => {
    const rf = new RandomForest({ seed: 3 });
    rf.fit(toyWindows(3000, 0.3, 1));
    const state = rf.state();
    const cuts = [...new Set(state.forest.threshold.filter((_, k) => state.forest.feature[k]! >= 0))];
    expect(cuts.length).toBeGreaterThan(10);
    // Values on both sides of every cut, the u16 extremes, and random calls.
    const pool = [0, 1, 0xfffe, 0xffff, ...cuts.flatMap((t) => [Math.floor(t), Math.ceil(t)])];
    let x = 12345;
    const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), x);
    for (const count of [0, 1, 7, 8, 9, 1003]) {
      const rows = new Uint16Array(count * state.windowSize);
      for (let i = 0; i < rows.length; i++) rows[i] = next() % 3 === 0 ? next() & 0xffff : pool[next() % pool.length]!;
      expect(Array.from(rf.probaRows(rows, count)), `${count} rows`).toEqual(Array.from(walk(state, rows, count)));
    }
  });
});
