import type { WindowSet } from '../../../src/window/window-set.js';
import { windowStreams } from '../../../src/window/windows.js';

/** Seeded LCG: the toy data must be the same on every run. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** A "normal program": requests that run [1,2,3,4] or [1,2,5,4], then sometimes [6]. */
export function normalStream(len: number, rand: () => number): Uint16Array {
  const out: number[] = [];
  while (out.length < len) {
    out.push(1, 2, rand() < 0.5 ? 3 : 5, 4);
    if (rand() < 0.3) out.push(6);
  }
  return Uint16Array.from(out.slice(0, len));
}

/** Normal behaviour with an injected run of calls the program never makes (positions 200..260). */
export function attackStream(len: number, rand: () => number): Uint16Array {
  const s = normalStream(len, rand);
  for (let i = 200; i < 260; i++) s[i] = rand() < 0.5 ? 59 : rand() < 0.5 ? 57 : 33;
  return s;
}

export interface Toy {
  train: WindowSet;
  normalTest: WindowSet;
  attackTest: WindowSet;
}

export function toyProblem(size: number): Toy {
  const rand = lcg(42);
  const trainStreams = [0, 1, 2, 3, 4].map(() => ({ calls: normalStream(600, rand), label: 0 }));
  return {
    train: windowStreams(trainStreams, size),
    normalTest: windowStreams([{ calls: normalStream(600, rand), label: 0 }], size),
    attackTest: windowStreams([{ calls: attackStream(600, rand), label: 1 }], size),
  };
}

/** The toy with labels for supervised methods: 5 normal and 2 attack training streams, each its own source. */
export function supervisedToyProblem(size: number): Toy {
  const rand = lcg(7);
  const streams = [
    ...[0, 1, 2, 3, 4].map(() => ({ calls: normalStream(600, rand), label: 0 })),
    ...[0, 1].map(() => ({ calls: attackStream(600, rand), label: 1 })),
  ];
  return {
    train: windowStreams(streams, size),
    normalTest: windowStreams([{ calls: normalStream(600, rand), label: 0 }], size),
    attackTest: windowStreams([{ calls: attackStream(600, rand), label: 1 }], size),
  };
}

/** Positions whose score reaches the detector's threshold. */
export function alarmsOf(scores: Float64Array, threshold: number): number[] {
  return [...scores.keys()].filter((i) => scores[i]! >= threshold);
}

/** A WindowSet of the given rows (all of one size), one source per row as given (default: one stream). */
export function windowsOf(rows: readonly Uint16Array[], sources?: readonly number[]): WindowSet {
  const size = rows[0]!.length;
  const data = new Uint16Array(rows.length * size);
  rows.forEach((r, i) => data.set(r, i * size));
  return { size, count: rows.length, data, source: sources ? Int32Array.from(sources) : new Int32Array(rows.length) };
}
