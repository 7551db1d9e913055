import type { Packr } from './msgpack.js';
import { SyswardenError } from './errors.js';

/*
 * Model files and recordings come from disk, so their msgpack is hostile
 * until proven otherwise. msgpackr decodes far more than syswarden writes:
 * record definitions (which it compiles into reader functions with
 * `new Function`), Error/RegExp/Set/Map/Date extensions, and structured-clone
 * references that can make cycles or share one object between fields. None of
 * that is ours, so the bytes are first scanned against the subset syswarden
 * writes (nil, undefined, booleans, numbers, strings, bytes, arrays,
 * string-keyed maps, and the typed-array extension), nested at most MAX_DEPTH deep; only then
 * does msgpackr decode them, and the result is walked once more to make sure
 * every value is plain data.
 */

/** Deeper than any state syswarden writes (ada: file, state, forests, forest, array = 5). */
export const MAX_DEPTH = 32;

/** msgpackr writes `undefined` (an optional field left unset) as fixext 1 of type 0. */
const EXT_UNDEFINED = 0;
/** msgpackr's extension for typed arrays (`moreTypes`), followed by one byte naming the array type. */
const EXT_TYPED_ARRAY = 0x74;
/** Int8 .. Float64: the element types a state may use. BigInt arrays and raw ArrayBuffer/DataView codes are refused. */
const MAX_TYPED_ARRAY_CODE = 8;
const TYPED_ARRAY_SIZE = [1, 1, 1, 2, 2, 4, 4, 4, 8];

const ALLOWED_VIEWS: ReadonlySet<unknown> = new Set<unknown>([
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, Buffer,
]);

class Scan {
  pos = 0;
  constructor(
    readonly b: Uint8Array,
    readonly what: string,
  ) {}

  fail(why: string): never {
    throw new SyswardenError('ERR_MSGPACK', `${this.what}: ${why} at byte ${this.pos}`);
  }

  need(n: number): void {
    if (n > this.b.length - this.pos) this.fail(`ends early (a value needs ${n} more bytes, ${this.b.length - this.pos} are left)`);
  }

  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }

  uint(bytes: number): number {
    this.need(bytes);
    let v = 0;
    for (let i = 0; i < bytes; i++) v = v * 256 + this.b[this.pos++]!;
    return v;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** One value; `key` when it must be a map key (a string, as objects have). */
  value(depth: number, key = false): void {
    if (depth > MAX_DEPTH) this.fail(`nests deeper than ${MAX_DEPTH} levels`);
    const t = this.u8();
    if (key) {
      if (t >= 0xa0 && t <= 0xbf) return this.skip(t - 0xa0);
      if (t === 0xd9) return this.skip(this.uint(1));
      if (t === 0xda) return this.skip(this.uint(2));
      if (t === 0xdb) return this.skip(this.uint(4));
      this.pos--;
      this.fail(`has a map key of type 0x${t.toString(16)}; only string keys are allowed`);
    }
    if (t <= 0x7f || t >= 0xe0) return; // fixints
    if (t <= 0x8f) return this.map(t - 0x80, depth);
    if (t <= 0x9f) return this.array(t - 0x90, depth);
    if (t <= 0xbf) return this.skip(t - 0xa0);
    switch (t) {
      case 0xc0: // nil
      case 0xc2: // false
      case 0xc3: // true
        return;
      case 0xc4: return this.skip(this.uint(1)); // bin 8/16/32
      case 0xc5: return this.skip(this.uint(2));
      case 0xc6: return this.skip(this.uint(4));
      case 0xc7: return this.ext(this.uint(1));
      case 0xc8: return this.ext(this.uint(2));
      case 0xc9: return this.ext(this.uint(4));
      case 0xca: return this.skip(4); // float 32/64
      case 0xcb: return this.skip(8);
      case 0xcc: case 0xd0: return this.skip(1); // (u)int 8..64
      case 0xcd: case 0xd1: return this.skip(2);
      case 0xce: case 0xd2: return this.skip(4);
      case 0xcf: case 0xd3: return this.skip(8);
      case 0xd4: return this.ext(1); // fixext 1..16
      case 0xd5: return this.ext(2);
      case 0xd6: return this.ext(4);
      case 0xd7: return this.ext(8);
      case 0xd8: return this.ext(16);
      case 0xd9: return this.skip(this.uint(1)); // str 8/16/32
      case 0xda: return this.skip(this.uint(2));
      case 0xdb: return this.skip(this.uint(4));
      case 0xdc: return this.array(this.uint(2), depth);
      case 0xdd: return this.array(this.uint(4), depth);
      case 0xde: return this.map(this.uint(2), depth);
      case 0xdf: return this.map(this.uint(4), depth);
      default:
        this.pos--;
        this.fail(`has an unknown msgpack byte 0x${t.toString(16)}`);
    }
  }

  private array(n: number, depth: number): void {
    // Every element takes a byte at least: a declared length beyond the rest of the input is a lie, refused before any loop.
    if (n > this.b.length - this.pos) this.fail(`ends early or is damaged (it declares an array of ${n} elements in the ${this.b.length - this.pos} bytes left)`);
    for (let i = 0; i < n; i++) this.value(depth + 1);
  }

  private map(n: number, depth: number): void {
    if (n * 2 > this.b.length - this.pos) this.fail(`ends early or is damaged (it declares a map of ${n} entries in the ${this.b.length - this.pos} bytes left)`);
    for (let i = 0; i < n; i++) {
      this.value(depth + 1, true);
      this.value(depth + 1);
    }
  }

  private ext(len: number): void {
    const start = this.pos;
    const type = this.u8();
    if (type === EXT_UNDEFINED && len === 1) return this.skip(1);
    if (type !== EXT_TYPED_ARRAY) {
      this.pos = start;
      this.fail(`has a msgpack extension of type 0x${type.toString(16)}; only typed arrays are allowed`);
    }
    this.need(len);
    if (len < 1) this.fail('has an empty typed-array extension');
    const code = this.b[this.pos]!;
    if (code > MAX_TYPED_ARRAY_CODE) this.fail(`has a typed array of unsupported type code ${code}`);
    if ((len - 1) % TYPED_ARRAY_SIZE[code]! !== 0) this.fail(`has a typed array of ${len - 1} bytes, not a whole number of ${TYPED_ARRAY_SIZE[code]}-byte elements`);
    this.pos += len;
  }
}

/** Throws unless `bytes` is exactly one value of the msgpack subset syswarden writes. */
export function checkMsgpack(bytes: Uint8Array, what: string): void {
  const s = new Scan(bytes, what);
  s.value(0);
  if (s.pos !== bytes.length) s.fail(`has ${bytes.length - s.pos} bytes after its value`);
}

/**
 * Throws unless `v` is plain data: primitives, arrays and objects whose
 * prototype is Object.prototype (or null), and number typed arrays, each
 * object met once (so no cycle and no aliasing between fields).
 */
export function checkPlain(v: unknown, what: string): void {
  const seen = new Set<object>();
  const walk = (x: unknown, path: string, depth: number): void => {
    if (x === null || x === undefined) return;
    const t = typeof x;
    if (t === 'number' || t === 'string' || t === 'boolean') return;
    const bad = (why: string): never => {
      throw new SyswardenError('ERR_MSGPACK', `${what}: ${path} ${why}`);
    };
    if (t !== 'object') bad(`is a ${t}, not plain data`);
    const o = x as object;
    if (depth > MAX_DEPTH) bad(`nests deeper than ${MAX_DEPTH} levels`);
    if (seen.has(o)) bad('is the same object as another field (a reference or cycle)');
    seen.add(o);
    if (ArrayBuffer.isView(o)) {
      if (!ALLOWED_VIEWS.has(o.constructor)) bad(`is a ${o.constructor?.name ?? 'foreign view'}, not a number array`);
      return;
    }
    if (Array.isArray(o)) {
      if (Object.getPrototypeOf(o) !== Array.prototype) bad('is an array with a foreign prototype');
      for (let i = 0; i < o.length; i++) walk(o[i], `${path}[${i}]`, depth + 1);
      return;
    }
    const proto = Object.getPrototypeOf(o);
    if (proto !== Object.prototype && proto !== null) bad(`is a ${(o as { constructor?: { name?: string } }).constructor?.name ?? 'class instance'}, not a plain object`);
    for (const k of Object.keys(o)) walk((o as Record<string, unknown>)[k], `${path}.${k}`, depth + 1);
  };
  walk(v, '(top)', 0);
}

/** Scans, decodes with `packr`, and checks the result is plain data; every failure is a SyswardenError naming `what`. */
export function unpackPlain(packr: Packr, bytes: Uint8Array, what: string): unknown {
  checkMsgpack(bytes, what);
  let v: unknown;
  try {
    v = packr.unpack(bytes);
  } catch (e) {
    throw new SyswardenError('ERR_MSGPACK', `${what}: not valid msgpack (${(e as Error).message})`, { cause: e });
  }
  checkPlain(v, what);
  return v;
}

/** Own, enumerable property of a decoded object, never one inherited through its prototype. */
export function field(o: object, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? (o as Record<string, unknown>)[key] : undefined;
}
