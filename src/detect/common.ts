import { SyswardenError } from '../errors.js';
import { selectWindows } from '../window/windows.js';
import type { WindowSet } from '../window/window-set.js';

/** The indices of the windows of one class (0 normal, 1 attack; a set without labels counts as normal), or undefined when that is every window. */
export function indicesLabelled(set: WindowSet, label: 0 | 1): Int32Array | undefined {
  const labels = set.labels;
  if (!labels) return label === 0 ? undefined : new Int32Array(0);
  let n = 0;
  for (let i = 0; i < set.count; i++) if (labels[i] === label) n++;
  if (n === set.count) return undefined;
  const idx = new Int32Array(n);
  for (let i = 0, k = 0; k < n; i++) if (labels[i] === label) idx[k++] = i;
  return idx;
}

/** The windows of one class (0 normal, 1 attack); a set without labels counts as normal. */
export function windowsLabelled(set: WindowSet, label: 0 | 1): WindowSet {
  const idx = indicesLabelled(set, label);
  return idx ? selectWindows(set, idx) : set;
}

/** The windows a one-class method learns from: those labelled normal, or all when unlabelled. */
export function normalWindows(train: WindowSet): WindowSet {
  return windowsLabelled(train, 0);
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

/** Smallest double above x: the lowest threshold that a score of x does not reach. */
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
 * log(1 + e^z): at a class's log-odds z, -log P(other class), in nats. The
 * score of the classifiers whose probability rounds to 1 (nb, mlp): it
 * orders windows as P does and keeps them apart where P is 1 to the last
 * bit. Without overflow, and exactly z where e^-z is below rounding.
 */
export function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/** Two numbers for a message, with the digits it takes to tell them apart. */
export function twoNumbers(a: number, b: number): [string, string] {
  for (let digits = 4; digits < 17; digits++) {
    const x = String(Number(a.toPrecision(digits)));
    const y = String(Number(b.toPrecision(digits)));
    if (x !== y) return [x, y];
  }
  return [String(a), String(b)];
}
