import { describe, expect, it } from 'vitest';
import { Ngram } from '../../src/detect/ngram.js';
import { selectWindows, windowStreams } from '../../src/window/windows.js';

// Ngram reuses the transitions a window shares with the window before it in
// the set when it is that window moved on by one call. Whatever its
// neighbours, a window's score must be the one it gets alone, to the bit:
// eval, replay and watch put windows in sets differently.
function stream(seed: number, n: number): Uint16Array {
  let x = seed;
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    // Mostly a cycle of six calls, sometimes a call from a wider set.
    out[i] = x % 7 === 0 ? 100 + (x >>> 20) % 40 : (i % 6) + 1;
  }
  return out;
}

describe('ngram scoring', () => {
  for (const size of [3, 4, 7, 15]) {
    for (const scoring of ['nll', 'min'] as const) {
      it(`window ${size}, ${scoring}: a window scores the same alone, slid, and beside windows of other threads`, () => {
        const d = new Ngram({ scoring });
        d.fit(windowStreams([{ calls: stream(1, 3000) }], size));
        // Two threads' windows, each thread's in order, then shuffled together.
        const set = windowStreams([{ calls: stream(2, 400) }, { calls: stream(3, 400) }], size);
        const inOrder = d.score(set);
        const order = Array.from({ length: set.count }, (_, i) => i);
        for (let i = order.length - 1; i > 0; i--) {
          const j = (i * 7919) % (i + 1);
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        const shuffled = d.score(selectWindows(set, order));
        const alone = order.map((i) => d.score(selectWindows(set, [i]))[0]!);
        const slidInOrder = order.map((i) => inOrder[i]!);
        expect([...shuffled]).toEqual(alone);
        expect(slidInOrder).toEqual(alone);
        // The sets really were of both kinds: most windows slid in order, few shuffled.
        expect(new Set(alone).size).toBeGreaterThan(3);
      });
    }
  }
});

/**
 * The counts the plain way: every transition of every window looked up by
 * its calls, ids in order of first sight. Learning reuses a slid window's
 * transitions too; the model must be the same to the last id and count.
 */
function countedPlainly(windows: { count: number; size: number; data: Uint16Array }, k: number): { rows: number[]; counts: number[] }[] {
  const tables = [k, k + 1].map(() => ({ ids: new Map<string, number>(), rows: [] as number[], counts: [] as number[] }));
  for (let i = 0; i < windows.count; i++) {
    const w = windows.data.subarray(i * windows.size, (i + 1) * windows.size);
    for (let t = k; t < windows.size; t++) {
      [w.subarray(t - k, t), w.subarray(t - k, t + 1)].forEach((seq, which) => {
        const table = tables[which]!;
        const key = seq.join(',');
        let id = table.ids.get(key);
        if (id === undefined) {
          id = table.ids.size;
          table.ids.set(key, id);
          table.rows.push(...seq);
          table.counts.push(0);
        }
        table.counts[id]!++;
      });
    }
  }
  return tables.map(({ rows, counts }) => ({ rows, counts }));
}

describe('ngram learning', () => {
  for (const size of [3, 4, 7, 15]) {
    it(`window ${size}: the model learnt from slid windows is the one every transition looked up gives (ids, counts, calls)`, () => {
      // Two threads: most windows slid from the last, one that is not (the second thread's first).
      const set = windowStreams([{ calls: stream(4, 2000) }, { calls: stream(5, 700) }], size);
      const d = new Ngram();
      d.fit(set);
      const state = d.state();
      const [contexts, grams] = countedPlainly(set, state.order);
      expect([...state.contexts]).toEqual(contexts!.rows);
      expect([...state.contextCounts]).toEqual(contexts!.counts);
      expect([...state.grams]).toEqual(grams!.rows);
      expect([...state.gramCounts]).toEqual(grams!.counts);
      // Learnt in any other order, each n-gram has the same count.
      const shuffled = new Ngram();
      shuffled.fit(selectWindows(set, Array.from({ length: set.count }, (_, i) => (i * 7919) % set.count)));
      const countOf = (s: typeof state): Map<string, number> =>
        new Map(Array.from(s.gramCounts, (c, i) => [s.grams.subarray(i * (s.order + 1), (i + 1) * (s.order + 1)).join(','), c]));
      expect(countOf(shuffled.state())).toEqual(countOf(state));
    });
  }
});
