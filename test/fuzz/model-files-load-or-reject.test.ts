import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeModel, modelFromBytes, modelBody, sealModel } from '../../src/detect/model-file.js';
import { SyswardenError } from '../../src/errors.js';
import { checkPlain } from '../../src/safe-msgpack.js';
import { decodesOrRejects, fcParams, fittedModels, mutated, probeWindows } from './helpers.js';

const packr = new Packr({ moreTypes: true, useRecords: false, largeBigIntToFloat: true });
const models = fittedModels();

/** A restored model must also score: a hostile state must not make score() hang, crash or fail silently. */
function loadAndScore(bytes: Uint8Array): void {
  const loaded = decodesOrRejects(() => modelFromBytes(bytes, 'fuzz.model'));
  if (!loaded) return;
  checkPlain(loaded.file.meta, 'meta');
  expect(Number.isFinite(loaded.detector.threshold)).toBe(true);
  const w = probeWindows(loaded.file.windowSize);
  decodesOrRejects(() => loaded.detector.score(w));
}

/** Values a hostile state field may hold instead of the saved one. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(NaN, Infinity, -Infinity, -1, 0, 1, 2, 3, 65, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 31), 1.5, null, undefined, '', 'nll', true),
  fc.constantFrom(new Uint16Array(0), new Uint16Array(7), new Int32Array([0, -1, 5, 2 ** 31 - 1]), new Float64Array([NaN, 1]), new Uint8Array(3), [1, 2, 70000], [NaN], [-1, 0]),
  fc.integer(),
  fc.double(),
  fc.array(fc.integer({ min: -3, max: 70000 }), { maxLength: 12 }),
  fc.int32Array({ maxLength: 12 }),
  fc.float64Array({ maxLength: 12 }),
  fc.uint16Array({ maxLength: 24 }),
  fc.object({ maxDepth: 2 }),
);

/** Structural mutation of a state: one field replaced, dropped, or one typed array resized. */
function mutateState(state: Record<string, unknown>): fc.Arbitrary<Record<string, unknown>> {
  const paths: string[][] = [];
  const walk = (o: Record<string, unknown>, at: string[]): void => {
    for (const [k, v] of Object.entries(o)) {
      paths.push([...at, k]);
      if (v && typeof v === 'object' && !ArrayBuffer.isView(v) && !Array.isArray(v)) walk(v as Record<string, unknown>, [...at, k]);
      if (Array.isArray(v) && v[0] && typeof v[0] === 'object') walk(v[0] as Record<string, unknown>, [...at, k, '0']);
    }
  };
  walk(state, []);
  return fc.tuple(fc.constantFrom(...paths), fc.oneof(hostile.map((v) => ({ op: 'set' as const, v })), fc.constant({ op: 'drop' as const, v: undefined }), fc.integer({ min: -3, max: 3 }).map((d) => ({ op: 'resize' as const, v: d })), fc.nat().map((i) => ({ op: 'poke' as const, v: i })))).map(([path, m]) => {
    const copy = structuredClone(state);
    let o = copy as Record<string, unknown>;
    for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
    const key = path[path.length - 1]!;
    const cur = o[key];
    if (m.op === 'set') o[key] = m.v;
    else if (m.op === 'drop') delete o[key];
    else if (ArrayBuffer.isView(cur) && !(cur instanceof DataView)) {
      const a = cur as unknown as Float64Array;
      if (m.op === 'resize') {
        const next = new (a.constructor as Float64ArrayConstructor)(Math.max(0, a.length + (m.v as number)));
        next.set(a.subarray(0, Math.min(a.length, next.length)));
        o[key] = next;
      } else if (a.length > 0) {
        // A value the detector never writes: a child pointing at itself, a NaN, the largest integer.
        const pick = [a.length > 1 ? (m.v as number) % a.length : 0, -1, NaN, 2 ** 31 - 1][(m.v as number) % 4]!;
        a[(m.v as number) % a.length] = pick;
      }
    }
    return copy;
  });
}

describe('model files load or are rejected', () => {
  it('every detector can be saved, loaded and scored (the mutations start from valid models)', () => {
    for (const m of models) {
      const { detector } = modelFromBytes(m.bytes, m.factory.name);
      expect(detector.score(probeWindows(4)).length).toBe(6);
    }
  });

  for (const m of models) {
    it(`byte mutations of a saved ${m.factory.name} model`, () => {
      fc.assert(fc.property(mutated(m.bytes), (bytes) => loadAndScore(bytes)), fcParams(0.25, 1 / models.length));
    });
    it(`state mutations given to ${m.factory.name} restore()`, () => {
      fc.assert(
        fc.property(mutateState(m.state), (state) => {
          const d = decodesOrRejects(() => m.factory.restore(state));
          if (d) decodesOrRejects(() => d.score(probeWindows(d.windowSize)));
          const file = { magic: 'syswarden-model', format: 1, detector: m.factory.name, detectorVersion: m.factory.version, windowSize: 4, threshold: 0.5, filter: 'none', createdAt: '', meta: {}, state };
          loadAndScore(sealModel(packr.pack(file)));
        }),
        fcParams(0.25, 1 / models.length),
      );
    });
  }

  it('generated msgpack values and raw bytes', () => {
    const header = fc.record({
      magic: fc.constantFrom('syswarden-model', 'x'),
      format: fc.constantFrom(1, 2, NaN),
      detector: fc.constantFrom(...models.map((m) => m.factory.name), 'toString', '__proto__', 'constructor'),
      detectorVersion: fc.constantFrom(1, 0, -1),
      windowSize: fc.constantFrom(4, 0, 1, 65, 2 ** 32, NaN),
      threshold: fc.constantFrom(0.5, NaN, Infinity, -Infinity),
      filter: fc.constantFrom('none', 'harmless', 'evil'),
      createdAt: fc.string(),
      meta: fc.anything({ maxDepth: 2 }),
      state: fc.oneof(fc.constantFrom(...models.map((m) => m.state)), fc.anything({ maxDepth: 3, withTypedArray: true })),
    }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(header.map((h) => new Uint8Array(sealModel(packr.pack(h)))), fc.anything({ withTypedArray: true, withMap: true, withSet: true, withDate: true, withBigInt: true }).map((v) => new Uint8Array(packr.pack(v))), fc.uint8Array({ maxLength: 200 })), (bytes) => loadAndScore(bytes)),
      fcParams(),
    );
  });
});

/** msgpack by hand, for inputs the encoder would never write. */
const str = (s: string): Buffer => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s)]);
function modelWith(extra: Array<[string, Buffer]>): Buffer {
  const entries: Array<[string, Buffer]> = [['magic', str('syswarden-model')], ['format', Buffer.from([1])], ...extra];
  return Buffer.concat([Buffer.from([0x80 | entries.length]), ...entries.flatMap(([k, v]) => [str(k), v])]);
}

describe('decoding never pollutes prototypes or yields foreign objects', () => {
  it('a __proto__ key leaves Object.prototype alone', () => {
    const polluting = modelWith([['__proto__', Buffer.concat([Buffer.from([0x81]), str('polluted'), Buffer.from([1])])]]);
    expect(() => decodeModel(polluting, 'p.model')).toThrow(SyswardenError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const viaState = modelWith([['detector', str('stide')], ['state', Buffer.concat([Buffer.from([0x81]), str('__proto__'), Buffer.from([0x81]), str('polluted'), Buffer.from([1])])]]);
    expect(() => modelFromBytes(viaState, 's.model')).toThrow(SyswardenError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const decoded = new Packr({ useRecords: false }).unpack(Buffer.concat([Buffer.from([0x81]), str('__proto__'), Buffer.from([0x81]), str('polluted'), Buffer.from([1])])) as object;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
  });

  it.each([
    ['an Error (ext 0x65)', Buffer.concat([Buffer.from([0xd4, 0x65, 0x00]), Buffer.from([0x92]), str('Error'), str('x')])],
    ['a RegExp (ext 0x78)', Buffer.concat([Buffer.from([0xd4, 0x78, 0x00]), Buffer.from([0x92]), str('a+'), str('')])],
    ['a Set (ext 0x73)', Buffer.concat([Buffer.from([0xd4, 0x73, 0x00]), Buffer.from([0x90])])],
    ['a Date (ext -1)', Buffer.from([0xd6, 0xff, 0, 0, 0, 1])],
    ['a record definition (ext 0x72)', Buffer.concat([Buffer.from([0xd4, 0x72, 0x40, 0x91]), str('a'), Buffer.from([1])])],
    ['a structured-clone reference (ext 0x70)', Buffer.from([0xd6, 0x70, 0, 0, 0, 0])],
    ['a BigInt64Array', Buffer.from([0xc7, 0x09, 0x74, 9, 0, 0, 0, 0, 0, 0, 0, 0])],
    ['a DataView', Buffer.from([0xc7, 0x01, 0x74, 17])],
    ['a map with a number key', Buffer.from([0x81, 0x01, 0x01])],
    ['an array claiming 2^32-1 elements', Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x00])],
    ['a map claiming 2^32-1 entries', Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0x00])],
    ['bytes claiming 4 GiB', Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff, 0x00])],
    ['a string claiming 4 GiB', Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61])],
    ['a typed array claiming 4 GiB', Buffer.from([0xc9, 0xff, 0xff, 0xff, 0xff, 0x74, 0x04])],
    ['arrays nested 100 000 deep', Buffer.alloc(100_000, 0x91)],
  ])('refuses %s inside a model', (_what, value) => {
    const bytes = modelWith([['detector', str('stide')], ['state', value]]);
    const before = process.memoryUsage().arrayBuffers;
    expect(() => modelFromBytes(bytes, 'x.model')).toThrow(SyswardenError);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });

  it('refuses a NaN threshold, which would make the model never alarm', () => {
    const m = models.find((x) => x.factory.name === 'stide')!;
    const file = packr.unpack(modelBody(m.bytes)) as Record<string, unknown>;
    expect(() => modelFromBytes(sealModel(packr.pack({ ...file, threshold: NaN })), 'nan.model')).toThrow(/threshold is NaN, not a finite number/);
  });

  it('refuses a STIDE state whose windows are not whole, and trees whose children loop', () => {
    const stide = models.find((x) => x.factory.name === 'stide')!;
    expect(() => stide.factory.restore({ ...stide.state, normal: new Uint16Array(7) })).toThrow(/not a whole number of 4-call windows/);
    const rf = models.find((x) => x.factory.name === 'rf')!;
    const forest = structuredClone(rf.state.forest) as { left: Int32Array; feature: Int32Array };
    const inner = forest.feature.findIndex((f) => f >= 0);
    forest.left[inner] = inner;
    expect(() => rf.factory.restore({ ...rf.state, forest })).toThrow(/not nodes after it/);
    const knn = models.find((x) => x.factory.name === 'knn')!;
    expect(() => knn.factory.restore({ ...knn.state, options: { k: 1e6 } })).toThrow(/fewer than k/);
  });
});
