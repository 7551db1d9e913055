import { DEFAULT_BUDGET, calibrate, type Calibration } from '../../../src/detect/calibration.js';
import { decisionScores } from '../../../src/detect/decision.js';
import type { Detector, DetectorFactory } from '../../../src/detect/detector.js';
import type { WindowSet } from '../../../src/window/window-set.js';
import { selectWindows, windowStreams } from '../../../src/window/windows.js';

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

/** Positions whose score reaches the threshold. */
export function alarmsOf(scores: Float64Array, threshold: number): number[] {
  return [...scores.keys()].filter((i) => scores[i]! >= threshold);
}

function withLabel(set: WindowSet, label: number): WindowSet {
  return selectWindows(set, [...set.labels!.keys()].filter((i) => set.labels![i] === label));
}

/**
 * A detector fitted on a toy's training streams and calibrated as train and
 * eval do: each normal training stream is one held-out part (a trace), the
 * budget is the default share of normal traces, and attack streams (when
 * the toy has them) are what a supervised detector also learns from.
 */
export function calibrateOnToy(factory: DetectorFactory, toy: Toy, frame: number, options: Record<string, unknown> = {}): { detector: Detector; calibration: Calibration } {
  const normal = withLabel(toy.train, 0);
  const attack = withLabel(toy.train, 1);
  return calibrate({
    factory,
    options,
    normal,
    partOf: normal.source!,
    part: 'trace',
    ...(attack.count > 0 ? { attack } : {}),
    budget: DEFAULT_BUDGET.trace,
    unit: 'trace',
    frame,
  });
}

/** Decision scores (frame means, see decision.ts) of a window set under a calibrated detector. */
export function decided(detector: Detector, set: WindowSet, { frame, trim }: Pick<Calibration, 'frame' | 'trim'>): Float64Array {
  return decisionScores(set, detector.score(set), frame, trim);
}

/** A WindowSet of the given rows (all of one size), one source per row as given (default: one stream). */
export function windowsOf(rows: readonly Uint16Array[], sources?: readonly number[]): WindowSet {
  const size = rows[0]!.length;
  const data = new Uint16Array(rows.length * size);
  rows.forEach((r, i) => data.set(r, i * size));
  return { size, count: rows.length, data, source: sources ? Int32Array.from(sources) : new Int32Array(rows.length) };
}
