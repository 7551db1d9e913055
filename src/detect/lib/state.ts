import type { WindowSet } from '../../window/window-set.js';

/** What every classifier's state starts with, so a state can be told apart without the model file. */
export interface TaggedState {
  name: string;
  version: number;
}

/** Reject a state saved by another model or another format version, naming both. */
export function checkState<S extends TaggedState>(state: unknown, name: string, version: number): S {
  if (typeof state !== 'object' || state === null) {
    throw new TypeError(`${name}: saved state must be an object, got ${state === null ? 'null' : typeof state}`);
  }
  const s = state as Partial<TaggedState>;
  if (s.name !== name) throw new TypeError(`${name}: saved state belongs to '${String(s.name)}', not '${name}'`);
  if (s.version !== version) {
    throw new RangeError(`${name}: saved state has version ${String(s.version)}, this build reads version ${version}; refit the model`);
  }
  return state as S;
}

/**
 * Typed arrays must come back as typed arrays (msgpackr with `moreTypes`) or
 * as plain number arrays. Raw bytes (a Buffer / Uint8Array where numbers were
 * saved) mean the state went through an encoder without typed-array support,
 * and reading them as numbers would silently give a different model.
 */
function numeric<T>(v: unknown, what: string, want: { name: string; from(a: ArrayLike<number>): T }, isWanted: (v: unknown) => v is T): T {
  if (isWanted(v)) return v;
  if (Array.isArray(v)) return want.from(v as number[]);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof Uint8Array)) return want.from(v as unknown as ArrayLike<number>);
  throw new TypeError(
    `saved state field '${what}' must be a ${want.name} or a number array, got ${v === null ? 'null' : (v as object)?.constructor?.name ?? typeof v}` +
      ' (bytes here mean the state was encoded without typed-array support, e.g. msgpackr without moreTypes)',
  );
}

export function asF64(v: unknown, what: string): Float64Array {
  return numeric(v, what, Float64Array, (x): x is Float64Array => x instanceof Float64Array);
}

export function asI32(v: unknown, what: string): Int32Array {
  return numeric(v, what, Int32Array, (x): x is Int32Array => x instanceof Int32Array);
}

export function asU16(v: unknown, what: string): Uint16Array {
  return numeric(v, what, Uint16Array, (x): x is Uint16Array => x instanceof Uint16Array);
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
