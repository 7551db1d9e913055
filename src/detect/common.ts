import { SyswardenError } from '../errors.js';
import { selectWindows, sliceWindows } from '../window/windows.js';
import type { WindowSet } from '../window/window-set.js';

/** The windows a one-class method learns from: those labelled normal, or all when unlabelled. */
export function normalWindows(train: WindowSet): WindowSet {
  if (!train.labels) return train;
  const idx: number[] = [];
  for (let i = 0; i < train.count; i++) if (train.labels[i] === 0) idx.push(i);
  return idx.length === train.count ? train : selectWindows(train, idx);
}

/**
 * Splits normal training windows into a part to learn from and the last
 * `fraction` held back to set the threshold on. The held-back part is the
 * tail, not a random sample: windows overlap, so a random sample would sit
 * next to its own neighbours in the learnt part and look falsely familiar.
 */
export function holdOut(normal: WindowSet, fraction: number): { learn: WindowSet; held: WindowSet } {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new SyswardenError('ERR_INVALID_INPUT', `holdout fraction ${fraction} is out of range. Fix: use a number in [0, 1).`);
  }
  const cut = Math.round(normal.count * (1 - fraction));
  return { learn: sliceWindows(normal, 0, cut), held: sliceWindows(normal, cut, normal.count) };
}

export function requireWindows(name: string, set: WindowSet): void {
  if (set.count === 0) {
    throw new SyswardenError('ERR_INVALID_INPUT', `${name}: no normal training windows. Fix: give normal traces longer than the window size.`);
  }
}

export function checkFitted(name: string, windowSize: number, set: WindowSet): void {
  if (windowSize === 0) throw new SyswardenError('ERR_NOT_FITTED', `${name}: score() before fit(). Fix: fit the detector or load a model.`);
  if (set.size !== windowSize) {
    throw new SyswardenError('ERR_INVALID_INPUT', `${name}: windows of size ${set.size} given to a model fitted on size ${windowSize}. Fix: window the trace with --window ${windowSize}.`);
  }
}

/** Smallest double above x: the threshold that lets the highest normal score through. */
export function justAbove(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const buf = new Float64Array([x]);
  const bits = new BigInt64Array(buf.buffer);
  bits[0] = bits[0]! + (x > 0 ? 1n : -1n);
  return buf[0]!;
}

export function optNumber(options: Record<string, unknown> | undefined, key: string, fallback: number, min: number, max: number): number {
  const v = options?.[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new SyswardenError('ERR_INVALID_INPUT', `option ${key}=${String(v)} is out of range. Fix: use a number from ${min} to ${max}.`);
  }
  return v;
}

/**
 * Held-out scores of normal training windows, by one of two schemes:
 * - 'sources' (when the windows come from >= 3 sources, i.e. traces or
 *   threads): each source is scored by a model learnt from the other
 *   sources (leave-one-source-out; at most `maxFolds` folds, sources dealt
 *   round-robin). This measures how novel a *new normal trace* looks, which
 *   is what a deployed model meets, rather than how novel the tail of
 *   traces it has already half seen looks.
 * - 'tail' (fewer sources, or `by` = 'tail'): the last `fraction` of the
 *   windows, scored by a model of the rest. Live training uses it: there the
 *   sources are threads, and a long-lived thread (a server's main process)
 *   is one of a kind, so leaving it out makes every normal call look new.
 * Returns the highest held-out score and a sentence describing the scheme.
 */
export function heldOutMax(
  normal: WindowSet,
  fraction: number,
  maxFolds: number,
  scoreHeld: (learn: WindowSet, held: WindowSet) => Float64Array,
  by: 'sources' | 'tail' = 'sources',
): { max: number; scheme: string } {
  const sources = by === 'sources' && normal.source ? distinctSources(normal.source, normal.count) : [];
  if (sources.length >= 3) {
    const folds = Math.min(sources.length, maxFolds);
    const foldOf = new Map<number, number>();
    sources.forEach((s, i) => foldOf.set(s, i % folds));
    let max = 0;
    for (let f = 0; f < folds; f++) {
      const learnIdx: number[] = [];
      const heldIdx: number[] = [];
      for (let i = 0; i < normal.count; i++) (foldOf.get(normal.source![i]!) === f ? heldIdx : learnIdx).push(i);
      const scores = scoreHeld(selectWindows(normal, learnIdx), selectWindows(normal, heldIdx));
      for (let i = 0; i < scores.length; i++) if (scores[i]! > max) max = scores[i]!;
    }
    const how = folds === sources.length ? `leave-one-trace-out over the ${sources.length} normal training traces` : `${folds}-fold cross-validation over the ${sources.length} normal training traces`;
    return { max, scheme: how };
  }
  const { learn, held } = holdOut(normal, fraction);
  if (held.count === 0) return { max: 0, scheme: 'no held-out data' };
  const scores = scoreHeld(learn, held);
  let max = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i]! > max) max = scores[i]!;
  return { max, scheme: `the last ${Math.round(fraction * 100)}% of normal training windows scored by a model of the first ${Math.round((1 - fraction) * 100)}%` };
}

function distinctSources(source: Int32Array, count: number): number[] {
  const seen = new Set<number>();
  for (let i = 0; i < count; i++) seen.add(source[i]!);
  return [...seen];
}

/** How a one-class detector holds data back to set its threshold (see heldOutMax). */
export type HeldOut = 'sources' | 'tail';

export function optHeldOut(name: string, options: Record<string, unknown> | undefined): HeldOut {
  const v = options?.['heldOut'] ?? 'sources';
  if (v !== 'sources' && v !== 'tail') {
    throw new SyswardenError('ERR_INVALID_INPUT', `${name}: heldOut must be 'sources' or 'tail', got '${String(v)}'.`);
  }
  return v;
}
