import { describe, expect, it } from 'vitest';
import { AdaBoost } from '../../src/detect/ada.js';
import { MAX_DISTINCT_PER_CLASS } from '../../src/detect/lib/bounded-sample.js';
import { Prng } from '../../src/detect/lib/prng.js';
import { uniqueWindows } from '../../src/detect/lib/unique.js';
import { OneClassSvm } from '../../src/detect/ocsvm.js';
import { RandomForest, distinctForTrees, windowCodes } from '../../src/detect/rf.js';
import type { WindowSet } from '../../src/window/window-set.js';

/**
 * A fully grown tree keeps up to two nodes per distinct window it learns
 * from, and the one-class SVM a kernel row: these models learn from at most
 * MAX_DISTINCT_PER_CLASS distinct windows of a class, so their memory and
 * time have a bound whatever the data.
 */

/** `count` windows of 3 calls: `common` distinct ones occurring often, the rest each once (a long tail). */
function windows(count: number, common: number, label: 0 | 1, seed: number): { rows: number[][]; labels: number[] } {
  const rand = new Prng(seed);
  const rows: number[][] = [];
  for (let i = 0; i < count; i++) {
    rows.push(rand.float() < 0.5 ? [label, 1, rand.int(common)] : [label + 2, (i >> 8) & 0xff, i & 0xff]);
  }
  return { rows, labels: rows.map(() => label) };
}

function set(parts: Array<{ rows: number[][]; labels: number[] }>): WindowSet {
  const rows = parts.flatMap((p) => p.rows);
  return { size: 3, count: rows.length, data: Uint16Array.from(rows.flat()), labels: Uint8Array.from(parts.flatMap((p) => p.labels)) };
}

describe('tree ensembles learn from a bounded sample of distinct windows', () => {
  it('keep every window under the bound, exactly as before', () => {
    const s = set([windows(2000, 20, 0, 1), windows(500, 10, 1, 2)]);
    const { uniq, codes } = distinctForTrees(s, s.labels!, 1, 4096);
    const all = uniqueWindows(s);
    expect(uniq.count).toBe(all.count);
    expect(codes).toEqual(windowCodes(all, s.labels!));
  });

  it('sample a class above it, keeping its common windows, and leave the other class whole', () => {
    // Normal: ~5 000 distinct windows of which 20 make half the mass; attack: under the bound.
    const s = set([windows(10_000, 20, 0, 3), windows(600, 10, 1, 4)]);
    const cap = 1000;
    const { uniq, codes } = distinctForTrees(s, s.labels!, 7, cap);
    const all = uniqueWindows(s);
    const distinctOf = (u: typeof all, which: 'normal' | 'attack') => u[which].reduce((n, v) => n + (v > 0 ? 1 : 0), 0);
    expect(distinctOf(all, 'normal')).toBeGreaterThan(4000);
    expect(distinctOf(uniq, 'normal')).toBe(cap);
    expect(distinctOf(uniq, 'attack')).toBe(distinctOf(all, 'attack'));
    // The 20 common normal windows (each ~250 times) are all kept: a weighted sample.
    let commonKept = 0;
    for (let u = 0; u < uniq.count; u++) if (uniq.normal[u]! > 50) commonKept++;
    expect(commonKept).toBe(20);
    // Codes are the kept windows' own: each names a kept pair, and the counts add up.
    const mass = uniq.normal.reduce((a, b) => a + b, 0) + uniq.attack.reduce((a, b) => a + b, 0);
    expect(codes.length).toBe(mass);
    for (const c of codes) expect((c & 1 ? uniq.attack : uniq.normal)[c >> 1]!).toBeGreaterThan(0);
    // Seeded: the same sample again.
    expect(distinctForTrees(s, s.labels!, 7, cap).codes).toEqual(codes);
  });

  it('bound what a forest and AdaBoost grow on a long tail', () => {
    // Both classes' tails drawn from one space of windows: a tree splits them apart window by window,
    // so it grows about two nodes per distinct window it draws.
    const rand = new Prng(5);
    const tail = (n: number, label: 0 | 1) => ({ rows: Array.from({ length: n }, () => [2, rand.int(256), rand.int(256)]), labels: Array.from({ length: n }, () => label) });
    const s = set([windows(2000, 50, 0, 5), tail(40_000, 0), windows(2000, 10, 1, 6), tail(40_000, 1)]);
    const rf = new RandomForest({ nEstimators: 3, seed: 1 });
    rf.fit(s);
    const nodes = (rf.state().forest as { feature: Int32Array }).feature.length;
    // ~30 000 distinct windows of each class, at most 8 192 of each learnt: at most two nodes per learnt pair per tree.
    expect(nodes).toBeLessThanOrEqual(3 * 2 * 2 * 8192);
    const ada = new AdaBoost({ nEstimators: 2, baseTrees: 2, seed: 1 });
    ada.fit(s);
    // Both still tell the classes apart on what they learnt.
    const probe = set([{ rows: [[0, 1, 3]], labels: [0] }, { rows: [[1, 1, 3]], labels: [1] }]);
    // (the common windows [0, 1, x] and [1, 1, x] of each class)
    for (const d of [rf, ada]) {
      const p = d.score(probe);
      expect(p[0]!).toBeLessThan(0.5);
      expect(p[1]!).toBeGreaterThan(0.5);
    }
  });
});

it('the one-class SVM learns from a bounded, seeded sample of a long tail of normal windows', () => {
  const rand = new Prng(8);
  // 20 common windows make half the mass; the other half is a tail of ~20 000 distinct windows.
  const rows = Array.from({ length: 40_000 }, (_, i) => (i % 2 === 0 ? [1, 1, rand.int(20)] : [2 + rand.int(40), rand.int(256), rand.int(256)]));
  const s: WindowSet = { size: 3, count: rows.length, data: Uint16Array.from(rows.flat()) };
  expect(uniqueWindows(s).count).toBeGreaterThan(2 * MAX_DISTINCT_PER_CLASS);
  const fit = (seed: number) => {
    const m = new OneClassSvm({ seed });
    m.fit(s);
    return m;
  };
  const a = fit(1);
  const st = a.state();
  // Support vectors come from the sample: at most the bound of them.
  expect(st.alpha.length).toBeGreaterThan(0);
  expect(st.alpha.length).toBeLessThanOrEqual(MAX_DISTINCT_PER_CLASS);
  expect(fit(1).state().alpha).toEqual(st.alpha);
  expect(fit(2).state().alpha).not.toEqual(st.alpha);
  // What it learnt still tells the common windows from one it never met.
  const probe: WindowSet = { size: 3, count: 2, data: Uint16Array.from([1, 1, 3, 400, 400, 400]) };
  const p = a.score(probe);
  expect(p[0]!).toBeLessThan(p[1]!);
});
