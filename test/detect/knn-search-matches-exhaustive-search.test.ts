import { expect, it } from 'vitest';
import { Knn } from '../../src/detect/knn.js';
import type { WindowSet } from '../../src/window/window-set.js';

/** A seeded generator, so a failure names the case that failed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * The definition the fast search must meet: every distinct training window's
 * distance, then tie groups from the nearest until k places are filled, the
 * group at the k-th place filling its share by class count.
 */
function exhaustive(data: Uint16Array, normal: Float64Array, attack: Float64Array, d: number, k: number, q: Uint16Array): number {
  const U = normal.length;
  const dist = new Float64Array(U);
  for (let u = 0; u < U; u++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (q[j]! - data[u * d + j]!) ** 2;
    dist[u] = s;
  }
  const groups = [...new Set(dist)].sort((a, b) => a - b);
  let filled = 0;
  let votes = 0;
  for (const g of groups) {
    if (filled >= k) break;
    let n0 = 0;
    let n1 = 0;
    for (let u = 0; u < U; u++) if (dist[u] === g) (n0 += normal[u]!), (n1 += attack[u]!);
    const take = Math.min(k - filled, n0 + n1);
    votes += (take * n1) / (n0 + n1);
    filled += take;
  }
  return votes / k;
}

/** Windows over a few syscalls with rare large numbers: many equal windows, equal norms and tied distances. */
function windows(r: () => number, n: number, d: number, labelled: boolean): WindowSet {
  const data = new Uint16Array(n * d);
  for (let i = 0; i < data.length; i++) data[i] = r() < 0.9 ? Math.floor(r() * 4) : 200 + Math.floor(r() * 250);
  const labels = labelled ? Uint8Array.from({ length: n }, () => (r() < 0.3 ? 1 : 0)) : undefined;
  return labels ? { size: d, count: n, data, labels } : { size: d, count: n, data };
}

it('scores every window as the exhaustive search does, for k from 1 to 7 and windows of 3 to 15', () => {
  let checked = 0;
  let seenAsOwnAnswer = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const r = rng(seed);
    const d = [3, 5, 8, 15][seed % 4]!;
    const k = 1 + (seed % 7);
    const train = windows(r, 400, d, true);
    const det = new Knn({ k });
    det.fit(train);
    const st = det.state();
    // Queries: training windows themselves (a hash hit) and fresh ones (a walk).
    const fresh = windows(r, 150, d, false);
    const q = new Uint16Array((150 + 150) * d);
    q.set(train.data.subarray(0, 150 * d));
    q.set(fresh.data, 150 * d);
    const scores = det.score({ size: d, count: 300, data: q });
    for (let i = 0; i < 300; i++) {
      const want = exhaustive(st.data, st.normal, st.attack, d, k, q.subarray(i * d, i * d + d));
      expect(scores[i], `seed ${seed}, query ${i}`).toBeCloseTo(want, 12);
      checked++;
      if (i < 150 && want !== 0 && want !== 1) seenAsOwnAnswer++;
    }
  }
  expect(checked).toBe(12 * 300);
  // Mixed votes happen: the comparison is not only of unanimous neighbourhoods.
  expect(seenAsOwnAnswer).toBeGreaterThan(50);
});

it('a restored model with repeated rows and fractional counts scores as the exhaustive search does', () => {
  const r = rng(99);
  const d = 4;
  const U = 60;
  const data = new Uint16Array(U * d);
  for (let u = 0; u < U; u++) for (let j = 0; j < d; j++) data[u * d + j] = u % 20 < 10 ? (u % 10) + j : Math.floor(r() * 6);
  const normal = Float64Array.from({ length: U }, () => (r() < 0.2 ? 0 : 0.25 + r() * 2));
  const attack = Float64Array.from({ length: U }, (_, u) => (normal[u] === 0 ? 0.5 : r() < 0.5 ? 0 : r()));
  const det = Knn.restore({ name: 'knn', version: 1, options: { k: 3 }, windowSize: d, data, normal, attack });
  const q = new Uint16Array(200 * d);
  q.set(data.subarray(0, 20 * d));
  for (let i = 20 * d; i < q.length; i++) q[i] = Math.floor(r() * 12);
  const scores = det.score({ size: d, count: 200, data: q });
  for (let i = 0; i < 200; i++) {
    expect(scores[i], `query ${i}`).toBeCloseTo(exhaustive(data, normal, attack, d, 3, q.subarray(i * d, i * d + d)), 12);
  }
});
