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
