import { SyswardenError } from '../../errors.js';
import { MAX_WINDOW, MIN_WINDOW } from '../../window/windows.js';
import type { WindowSet } from '../../window/window-set.js';

/** What every classifier's state starts with, so a state can be told apart without the model file. */
export interface TaggedState {
  name: string;
  version: number;
}

/** A saved state that cannot be restored: the model file is damaged or hostile, never a bug of the caller. */
export function badState(name: string, why: string): SyswardenError {
  return new SyswardenError('ERR_MODEL_STATE', `${name}: the saved state is damaged: ${why}. Fix: re-train the model.`);
}

/**
 * Runs a restore, turning whatever a malformed state makes it throw (an
 * option's RangeError, a TypeError) into the SyswardenError a model file's
 * reader promises, with the original as the cause.
 */
export function restoring<T>(name: string, restore: () => T): T {
  try {
    return restore();
  } catch (e) {
    if (e instanceof SyswardenError) throw e;
    throw new SyswardenError('ERR_MODEL_STATE', `${name}: the saved state is damaged: ${(e as Error).message}. Fix: re-train the model.`, { cause: e });
  }
}

/** Reject a state saved by another model or another format version, naming both. */
export function checkState<S extends TaggedState>(state: unknown, name: string, version: number): S {
  if (typeof state !== 'object' || state === null || Array.isArray(state) || ArrayBuffer.isView(state)) {
    throw badState(name, `it must be a map, got ${state === null ? 'null' : Array.isArray(state) ? 'an array' : typeof state}`);
  }
  const s = state as Partial<TaggedState>;
  if (s.name !== name) throw new SyswardenError('ERR_MODEL_STATE', `${name}: saved state belongs to '${String(s.name).slice(0, 40)}', not '${name}'. Fix: load it with its own detector.`);
  if (s.version !== version) {
    throw new SyswardenError('ERR_MODEL_STATE', `${name}: saved state has version ${String(s.version).slice(0, 40)}, this build reads version ${version}. Fix: refit the model.`);
  }
  return state as S;
}

/** A state given as a map (the sequence detectors' states carry no name or version). */
export function stateObject(name: string, state: unknown): Record<string, unknown> {
  if (typeof state !== 'object' || state === null || Array.isArray(state) || ArrayBuffer.isView(state)) {
    throw badState(name, `it must be a map, got ${state === null ? 'null' : Array.isArray(state) ? 'an array' : typeof state}`);
  }
  return state as Record<string, unknown>;
}

/** An integer field in [min, max]. */
export function stateInt(name: string, v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw badState(name, `${what} is ${String(v).slice(0, 40)}, not an integer in [${min}, ${max}]`);
  return v;
}

/** A window size the windowers accept. */
export function stateWindowSize(name: string, v: unknown): number {
  return stateInt(name, v, 'windowSize', MIN_WINDOW, MAX_WINDOW);
}

/** A finite number field in [min, max]. */
export function stateNumber(name: string, v: unknown, what: string, min = -Number.MAX_VALUE, max = Number.MAX_VALUE): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw badState(name, `${what} is ${String(v).slice(0, 40)}, not a finite number in [${min}, ${max}]`);
  return v;
}

/** Every element finite and in [min, max] (NaN fails both comparisons, so it is caught too). */
export function checkValues(name: string, a: ArrayLike<number>, what: string, min = -Number.MAX_VALUE, max = Number.MAX_VALUE): void {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (!(x >= min && x <= max)) throw badState(name, `${what}[${i}] is ${x}, not in [${min}, ${max}]`);
  }
}

export function checkLength(name: string, a: ArrayLike<number>, what: string, expected: number): void {
  if (a.length !== expected) throw badState(name, `${what} has ${a.length} elements, expected ${expected}`);
}

/**
 * Trees stored as parallel arrays (feature -1 = leaf), as the forests save
 * them. Prediction walks from a root until a leaf, so a child index that
 * points back up, or outside the arrays, would loop forever or read garbage:
 * the builders always number children after their parent, so that order is
 * required here, which makes every walk finite.
 */
export function checkTrees(name: string, windowSize: number, t: { feature: Int32Array; left: Int32Array; right: Int32Array; roots: Int32Array; thresholds: Float64Array }): void {
  const n = t.feature.length;
  if (n === 0 || t.roots.length === 0) throw badState(name, 'it holds no tree');
  checkLength(name, t.left, 'left', n);
  checkLength(name, t.right, 'right', n);
  checkLength(name, t.thresholds, 'threshold', n);
  checkValues(name, t.roots, 'roots', 0, n - 1);
  checkValues(name, t.thresholds, 'threshold');
  for (let k = 0; k < n; k++) {
    const f = t.feature[k]!;
    if (f === -1) continue;
    if (f < 0 || f >= windowSize) throw badState(name, `node ${k} splits on position ${f}, outside a window of ${windowSize}`);
    const l = t.left[k]!;
    const r = t.right[k]!;
    if (!(l > k && l < n && r > k && r < n)) throw badState(name, `node ${k} has children ${l} and ${r}, not nodes after it`);
  }
}

/**
 * Typed arrays must come back as typed arrays (msgpackr with `moreTypes`) or
 * as plain number arrays. Raw bytes (a Buffer / Uint8Array where numbers were
 * saved) mean the state went through an encoder without typed-array support,
 * and reading them as numbers would silently give a different model.
 */
function numeric<T>(v: unknown, what: string, want: { name: string; from(a: ArrayLike<number>): T }, isWanted: (v: unknown) => v is T, min: number, max: number, integer: boolean): T {
  if (isWanted(v)) return v;
  if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof Uint8Array))) {
    // A conversion would wrap or truncate silently (70000 -> 4464 in a Uint16Array): refuse values the target cannot hold.
    const a = v as ArrayLike<unknown>;
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      if (typeof x !== 'number' || (integer ? !Number.isInteger(x) : Number.isNaN(x)) || x < min || x > max) {
        throw new SyswardenError('ERR_MODEL_STATE', `saved state field '${what}[${i}]' is ${String(x).slice(0, 40)}, which a ${want.name} cannot hold. Fix: re-train the model.`);
      }
    }
    return want.from(a as ArrayLike<number>);
  }
  throw new SyswardenError(
    'ERR_MODEL_STATE',
    `saved state field '${what}' must be a ${want.name} or a number array, got ${v === null ? 'null' : (v as object)?.constructor?.name ?? typeof v}` +
      ' (bytes here mean the state was encoded without typed-array support, e.g. msgpackr without moreTypes). Fix: re-train the model.',
  );
}

export function asF64(v: unknown, what: string): Float64Array {
  return numeric(v, what, Float64Array, (x): x is Float64Array => x instanceof Float64Array, -Infinity, Infinity, false);
}

export function asI32(v: unknown, what: string): Int32Array {
  return numeric(v, what, Int32Array, (x): x is Int32Array => x instanceof Int32Array, -0x80000000, 0x7fffffff, true);
}

export function asU16(v: unknown, what: string): Uint16Array {
  return numeric(v, what, Uint16Array, (x): x is Uint16Array => x instanceof Uint16Array, 0, 0xffff, true);
}

/** Options are validated at the edge with the bad value and the accepted range in the message. */
export function checkInt(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`option ${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

export function checkNumber(name: string, v: unknown, min: number, max: number, openMin = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (openMin && v === min)) {
    throw new RangeError(`option ${name} must be a number in ${openMin ? '(' : '['}${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

export function requireLabels(name: string, set: WindowSet): Uint8Array {
  if (!set.labels) throw new TypeError(`${name} is supervised: fit() needs windows with labels`);
  return set.labels;
}

export function requireFitted(name: string, size: number, windows: WindowSet): void {
  if (size === 0) throw new Error(`${name}: score() called before fit()`);
  if (windows.size !== size) {
    throw new RangeError(`${name}: model was fitted on windows of size ${size}, got windows of size ${windows.size}`);
  }
}
