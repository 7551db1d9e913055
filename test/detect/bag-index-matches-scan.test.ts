import { describe, expect, it } from 'vitest';
import { BagIndex } from '../../src/detect/bag-index.js';
import { lcg } from './helpers/sequence-toy.js';

/** Calls of `q` that `b` lacks, counted the plain way: multiset intersection by counting. */
function missing(q: Uint16Array, b: Uint16Array): number {
  const left = new Map<number, number>();
  for (const x of b) left.set(x, (left.get(x) ?? 0) + 1);
  let common = 0;
  for (const x of q) {
    const n = left.get(x) ?? 0;
    if (n > 0) {
      common++;
      left.set(x, n - 1);
    }
  }
  return q.length - common;
}

/**
 * Distinct sorted bags of a program with a skewed vocabulary (a few calls in
 * most bags, a long tail of rare ones), and queries: normal bags with 1 to 4
 * calls replaced, and bags drawn afresh.
 */
function problem(w: number, bagCount: number, seed: number): { bags: Uint16Array; queries: Uint16Array[]; all: Uint16Array[] } {
  const rand = lcg(seed);
  const call = (): number => Math.floor(200 * rand() ** 3);
  const sorted = (a: number[]): Uint16Array => Uint16Array.from(a).sort();
  const seen = new Map<string, Uint16Array>();
  while (seen.size < bagCount) {
    const b = sorted(Array.from({ length: w }, call));
    seen.set(b.join(','), b);
  }
  const all = [...seen.values()];
  const bags = new Uint16Array(all.length * w);
  all.forEach((b, i) => bags.set(b, i * w));
  const queries: Uint16Array[] = [];
  for (let i = 0; i < 600; i++) {
    let q: number[];
    if (i % 3 === 2) q = Array.from({ length: w }, call);
    else {
      q = [...all[Math.floor(rand() * all.length)]!];
      const edits = 1 + Math.floor(rand() * Math.min(4, w));
      for (let e = 0; e < edits; e++) q[Math.floor(rand() * w)] = Math.floor(rand() < 0.5 ? call() : 200 + rand() * 50);
    }
    const s = sorted(q);
    if (!seen.has(s.join(','))) queries.push(s);
  }
  return { bags, queries, all };
}

describe('bag index', () => {
  it.each([
    [3, 300],
    [7, 3000],
    [15, 6000],
  ])('finds exactly the nearest normal bag, as a scan of every bag does (window %i, %i bags)', (w, n) => {
    const { bags, queries, all } = problem(w, n, 100 + w);
    const index = new BagIndex(bags, w);
    for (const q of queries) {
      let want = w;
      for (const b of all) want = Math.min(want, missing(q, b));
      expect(index.nearestMissing(q)).toBe(want);
    }
    expect(index.searches).toBe(queries.length);
    // Near bags are found from posting lists; only bags whose search reaches a common call scan.
    expect(index.scans).toBeLessThan(queries.length);
    if (n > 256 * 16) expect(index.scans).toBeGreaterThan(0); // the fallback is exercised too
  });

  it('caps the work of a search: an upper bound of the distance, the same every time, exact within the budget', () => {
    const w = 15;
    const { bags, queries, all } = problem(w, 6000, 115);
    const exact = new BagIndex(bags, w, Infinity);
    const want = queries.map((q) => exact.nearestMissing(q));
    const tight = new BagIndex(bags, w, 64);
    const got = queries.map((q) => tight.nearestMissing(q));
    const again = queries.map((q) => tight.nearestMissing(q));
    expect(again).toEqual(got);
    // Never nearer than the nearest, sometimes farther (the budget bites), and every search stays within it.
    got.forEach((g, i) => expect(g).toBeGreaterThanOrEqual(want[i]!));
    expect(got.some((g, i) => g > want[i]!)).toBe(true);
    expect(tight.capped).toBeGreaterThan(0);
    expect(tight.compared).toBeLessThanOrEqual(64 * 2 * queries.length); // two runs of every query
    // A budget above the most a search can need (its posting lists, then a scan of every bag): the exact answer, nothing capped.
    const roomy = new BagIndex(bags, w, 2 * all.length);
    expect(queries.map((q) => roomy.nearestMissing(q))).toEqual(want);
    expect(roomy.capped).toBe(0);
  });

  it('stops at the first normal bag one call away (no unseen bag can be nearer): one comparison, not a walk of the next list', () => {
    // The query [1 2 3] is unseen. Its rarest pair (1) is held by [1 2 4] alone, one call away;
    // pair 3 by [3 5 6]; pair 2 by 200 more bags. Proving "nearest" needs nothing past the first hit.
    const bags = [[1, 2, 4], [3, 5, 6], ...Array.from({ length: 200 }, (_, i) => [2, 10 + i, 400 + i])];
    const index = new BagIndex(Uint16Array.from(bags.flat()), 3);
    expect(index.nearestMissing(Uint16Array.of(1, 2, 3))).toBe(1);
    expect(index.compared).toBe(1);
    // Two calls away from everything: both rare lists and then pair 2's are walked, and 2 is exact.
    expect(index.nearestMissing(Uint16Array.of(2, 7, 8))).toBe(2);
  });
});
