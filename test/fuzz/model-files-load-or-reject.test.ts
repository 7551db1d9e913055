import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { statedCalibration } from '../../src/detect/calibration.js';
import { FrameDecision, MAX_FRAME } from '../../src/detect/decision.js';
import { MODEL_FORMAT, decodeModel, modelFromBytes, modelBody, sealModel, type ModelFile } from '../../src/detect/model-file.js';
import { SyswardenError } from '../../src/errors.js';
import { checkPlain } from '../../src/safe-msgpack.js';
import { decodesOrRejects, fcParams, fittedModels, mutated, probeWindows } from './helpers.js';

const packr = new Packr({ moreTypes: true, useRecords: false, largeBigIntToFloat: true });
const models = fittedModels();

/** A saved model's calibration, as a plain record to mutate. */
function calibrationOf(m: { bytes: Uint8Array }): Record<string, unknown> {
  return (packr.unpack(modelBody(m.bytes)) as Record<string, unknown>).calibration as Record<string, unknown>;
}

/** What a loaded calibration must be for the worker to decide with it: every field checked, none trusted blindly. */
function expectUsableCalibration(file: ModelFile): void {
  const c = file.calibration;
  expect(Number.isFinite(file.threshold)).toBe(true);
  expect(c.threshold).toBe(file.threshold);
  expect(Number.isInteger(c.frame) && c.frame >= 1 && c.frame <= MAX_FRAME).toBe(true);
  expect(['trace', 'hour']).toContain(c.unit);
  expect(['trace', 'time', 'segment']).toContain(c.part);
  expect(c.peaks).toBeInstanceOf(Float64Array);
  expect(c.peaks.length).toBeGreaterThan(0);
  expect(c.peaks.every(Number.isFinite)).toBe(true);
  for (const v of [c.budget, c.partHours, c.folds, c.observed, c.expected]) expect(Number.isFinite(v)).toBe(true);
  expect(typeof c.rule).toBe('string');
}

/**
 * A restored model must also score and decide: a hostile state or
 * calibration must not make score() or the frame decision hang, crash or
 * fail silently.
 */
function loadAndScore(bytes: Uint8Array): void {
  const loaded = decodesOrRejects(() => modelFromBytes(bytes, 'fuzz.model'));
  if (!loaded) return;
  checkPlain(loaded.file.meta, 'meta');
  expectUsableCalibration(loaded.file);
  const w = probeWindows(loaded.file.windowSize);
  const scores = decodesOrRejects(() => loaded.detector.score(w));
  if (scores) new FrameDecision(loaded.file.calibration.frame).decide(w, scores);
}

/** The fields of a saved model file around a given state, as encodeModel writes them. */
function fileAround(name: string, version: number, state: unknown): Record<string, unknown> {
  const calibration = statedCalibration(0.5, 4);
  return { magic: 'syswarden-model', format: MODEL_FORMAT, detector: name, detectorVersion: version, windowSize: 4, threshold: calibration.threshold, calibration, filter: 'none', createdAt: '', meta: {}, state };
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
          loadAndScore(sealModel(packr.pack(fileAround(m.factory.name, m.factory.version, state))));
        }),
        fcParams(0.25, 1 / models.length),
      );
    });
  }

  it(`calibration mutations of saved models`, () => {
    fc.assert(
      fc.property(fc.constantFrom(...models), fc.constantFrom(...models).chain((m) => mutateState(calibrationOf(m))), (m, calibration) => {
        const file = packr.unpack(modelBody(m.bytes)) as Record<string, unknown>;
        loadAndScore(sealModel(packr.pack({ ...file, calibration })));
      }),
      fcParams(0.25),
    );
  });

  it('generated msgpack values and raw bytes', () => {
    const valid = statedCalibration(0.5, 4);
    const header = fc.record({
      magic: fc.constantFrom('syswarden-model', 'x'),
      format: fc.constantFrom(MODEL_FORMAT, 2, 1, NaN),
      detector: fc.constantFrom(...models.map((m) => m.factory.name), 'toString', '__proto__', 'constructor'),
      detectorVersion: fc.constantFrom(1, 0, -1),
      windowSize: fc.constantFrom(4, 0, 1, 65, 2 ** 32, NaN),
      threshold: fc.constantFrom(0.5, NaN, Infinity, -Infinity),
      calibration: fc.oneof(fc.constant(valid), fc.record({ ...Object.fromEntries(Object.entries(valid).map(([k, v]) => [k, fc.constant(v)])), frame: fc.constantFrom(1, 4, 0, 1.5, MAX_FRAME + 1, NaN) }), fc.anything({ maxDepth: 2, withTypedArray: true })),
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

  it('refuses a damaged calibration, naming the field', () => {
    const m = models.find((x) => x.factory.name === 'stide')!;
    const file = packr.unpack(modelBody(m.bytes)) as Record<string, unknown>;
    const calibration = file.calibration as Record<string, unknown>;
    const damaged: Array<[string, unknown, RegExp]> = [
      ['a missing calibration', undefined, /it has no calibration/],
      ['a calibration that is a list', [1, 2], /it has no calibration/],
      ['a frame of 0', { ...calibration, frame: 0 }, /calibration\.frame is 0/],
      ['a fractional frame', { ...calibration, frame: 2.5 }, /calibration\.frame is 2\.5, not a whole number/],
      ['a frame beyond MAX_FRAME', { ...calibration, frame: MAX_FRAME + 1 }, /calibration\.frame is/],
      ['another threshold', { ...calibration, threshold: (file.threshold as number) / 2 }, /its calibration threshold differs from its threshold/],
      ['an unknown unit', { ...calibration, unit: 'day' }, /calibration\.unit is 'day'/],
      ['an unknown part', { ...calibration, part: 'file' }, /calibration\.part is 'file'/],
      ['no peaks', { ...calibration, peaks: new Float64Array(0) }, /calibration\.peaks is not a list of finite numbers/],
      ['a NaN peak', { ...calibration, peaks: Float64Array.of(0.1, NaN) }, /calibration\.peaks is not a list of finite numbers/],
      ['peaks that are not numbers', { ...calibration, peaks: 'high' }, /calibration\.peaks is not a list of finite numbers/],
      ['a budget of 0', { ...calibration, budget: 0 }, /calibration\.budget is 0/],
      ['a NaN budget', { ...calibration, budget: NaN }, /calibration\.budget is NaN/],
      ['an observed rate above 1', { ...calibration, observed: 2 }, /calibration\.observed is 2/],
      ['a negative expected rate', { ...calibration, expected: -1 }, /calibration\.expected is -1/],
      ['0 folds', { ...calibration, folds: 0 }, /calibration\.folds is 0/],
      ['a rule that is not a sentence', { ...calibration, rule: 42 }, /calibration\.rule is not a sentence/],
    ];
    for (const [what, value, why] of damaged) {
      const bytes = sealModel(packr.pack({ ...file, calibration: value }));
      expect(() => modelFromBytes(bytes, 'cal.model'), what).toThrow(expect.objectContaining({ code: 'ERR_NOT_A_MODEL', message: expect.stringMatching(/^cal\.model is a damaged syswarden model: /) }));
      expect(() => modelFromBytes(bytes, 'cal.model'), what).toThrow(why);
    }
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
