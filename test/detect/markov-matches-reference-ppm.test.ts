import { describe, expect, it } from 'vitest';
import { MARKOV_ALPHABET, Markov } from '../../src/detect/markov.js';
import type { WindowSet } from '../../src/window/window-set.js';
import { windowAt } from '../../src/window/window-set.js';
import { windowStreams } from '../../src/window/windows.js';
import { lcg } from './helpers/sequence-toy.js';

/**
 * PPM-C without exclusion, written the plain way: every (context, next)
 * count in maps, the back-off walked order by order, probabilities
 * multiplied. The detector (precomputed windows, binary searches, bits)
 * must give the same surprisal.
 */
function referenceScores(train: WindowSet, test: WindowSet, floor: number): Float64Array {
  const w = train.size;
  const grams = new Map<string, number>(); // "k|c_{w-k}..c_w" -> count
  const ctx = new Map<string, { total: number; next: Set<number> }>(); // "k|c_{w-k}..c_{w-1}"
  for (let i = 0; i < train.count; i++) {
    const win = [...windowAt(train, i)];
    const last = win[w - 1]!;
    for (let k = 0; k < w; k++) {
      const context = win.slice(w - 1 - k, w - 1).join(',');
      const g = `${k}|${context}>${last}`;
      grams.set(g, (grams.get(g) ?? 0) + 1);
      const c = ctx.get(`${k}|${context}`) ?? { total: 0, next: new Set<number>() };
      c.total++;
      c.next.add(last);
      ctx.set(`${k}|${context}`, c);
    }
  }
  const out = new Float64Array(test.count);
  for (let i = 0; i < test.count; i++) {
    const win = [...windowAt(test, i)];
    const last = win[w - 1]!;
    let p = 1;
    let hit = false;
    for (let k = w - 1; k >= 0 && !hit; k--) {
      const context = win.slice(w - 1 - k, w - 1).join(',');
      const c = ctx.get(`${k}|${context}`);
      if (!c) continue;
      const n = grams.get(`${k}|${context}>${last}`);
      const denom = c.total + c.next.size;
      if (n !== undefined) {
        p *= n / denom;
        hit = true;
      } else p *= c.next.size / denom;
    }
    if (!hit) p /= MARKOV_ALPHABET;
    out[i] = -Math.log2((1 - floor) * p + floor / MARKOV_ALPHABET);
  }
  return out;
}

/** A program with branches, loops of varying length and a vocabulary of 12 calls, so every order sees both hits and escapes. */
function program(len: number, rand: () => number): Uint16Array {
  const out: number[] = [];
  while (out.length < len) {
    const r = rand();
    if (r < 0.4) out.push(1, 2, rand() < 0.7 ? 3 : 4, 5);
    else if (r < 0.7) for (let n = 1 + Math.floor(rand() * 4); n > 0; n--) out.push(6, 7);
    else if (r < 0.9) out.push(8, rand() < 0.5 ? 9 : 10, 11);
    else out.push(Math.floor(rand() * 12));
  }
  return Uint16Array.from(out.slice(0, len));
}

describe('markov against a plain PPM-C', () => {
  for (const size of [3, 5, 8, 15]) {
    it(`gives the reference surprisal on seen, novel and random windows (window ${size})`, () => {
      const rand = lcg(100 + size);
      const train = windowStreams([0, 1, 2].map(() => ({ calls: program(800, rand), label: 0 })), size);
      const noise = Uint16Array.from({ length: 300 }, () => Math.floor(rand() * (rand() < 0.8 ? 13 : 40)));
      const test = windowStreams([{ calls: program(600, rand) }, { calls: noise }], size);
      for (const floor of [2 ** -20, 0.01]) {
        const d = new Markov({ floor });
        d.fit(train);
        const got = d.score(test);
        const want = referenceScores(train, test, floor);
        let worst = 0;
        for (let i = 0; i < test.count; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        expect(worst).toBeLessThan(1e-9);
      }
    });
  }
});
