import { describe, expect, it } from 'vitest';
import { DEFAULT_BUDGET, calibrate, statedCalibration } from '../../src/detect/calibration.js';
import { decisionScores } from '../../src/detect/decision.js';
import type { Detector } from '../../src/detect/detector.js';
import { mergeModels, type MergeInput } from '../../src/detect/merge.js';
import { encodeModel, modelFromBytes } from '../../src/detect/model-file.js';
import { getDetector } from '../../src/detect/registry.js';
import { SyswardenError } from '../../src/errors.js';
import { windowStreams } from '../../src/window/windows.js';
import { lcg, normalStream, supervisedToyProblem } from './helpers/sequence-toy.js';

/** Normal streams of two "hosts": the toy program, host B's with an extra request [7, 8] now and then. */
function hostStreams(host: 'a' | 'b', seed: number, n = 6): Uint16Array[] {
  const rand = lcg(seed);
  return Array.from({ length: n }, () => {
    const s = Array.from(normalStream(600, rand));
    if (host === 'b') for (let i = 50; i < s.length; i += 97) s.splice(i, 2, 7, 8);
    return Uint16Array.from(s);
  });
}

/** A model trained as `train --from` does (one part per stream), as the bytes of its file. */
function trained(detector: string, streams: Uint16Array[], meta: Record<string, unknown> = {}, size = 6): MergeInput {
  const normal = windowStreams(streams.map((calls) => ({ calls })), size);
  const c = calibrate({ factory: getDetector(detector), normal, partOf: normal.source!, part: 'trace', budget: DEFAULT_BUDGET.trace, unit: 'trace', frame: 20 });
  const bytes = encodeModel(c.detector, c.calibration, { filter: 'none', meta, heldOut: c.heldOut() });
  const { detector: d, file } = modelFromBytes(bytes, `${detector}-${String(meta.name ?? 'model')}`);
  return { where: `${detector}-${String(meta.name ?? 'model')}.model`, file, detector: d, bytes };
}

function refusal(f: () => unknown): SyswardenError {
  try {
    f();
  } catch (e) {
    if (e instanceof SyswardenError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe("a detector's merge learns what its inputs learnt", () => {
  for (const name of ['stide', 'bosc', 'ngram', 'markov']) {
    it(`${name}: merged from two fits, it scores every window as one fitted on both's windows`, () => {
      const a = windowStreams(hostStreams('a', 1).map((calls) => ({ calls })), 6);
      const b = windowStreams(hostStreams('b', 2).map((calls) => ({ calls })), 6);
      const f = getDetector(name);
      const fit = (...sets: (typeof a)[]): Detector => {
        const d = f.create();
        d.fit({ size: 6, count: sets.reduce((n, s) => n + s.count, 0), data: Uint16Array.from(sets.flatMap((s) => Array.from(s.data))) });
        return d;
      };
      const merged = f.merge!([fit(a), fit(b)]);
      const both = fit(a, b);
      const probe = windowStreams([...hostStreams('a', 3, 2), ...hostStreams('b', 4, 2), Uint16Array.from({ length: 300 }, (_, i) => (i * 7919) % 40)].map((calls) => ({ calls })), 6);
      expect(Array.from(merged.score(probe))).toEqual(Array.from(both.score(probe)));
      expect(merged.maxScore()).toBe(both.maxScore());
    });
  }
});

describe('model merge', () => {
  it('refuses a supervised model, naming its detector', () => {
    const toy = supervisedToyProblem(6);
    const d = getDetector('nb').create();
    d.fit(toy.train);
    const bytes = encodeModel(d, statedCalibration(0.5, 20, 6), { filter: 'none' });
    const input = (where: string): MergeInput => ({ where, bytes, ...modelFromBytes(bytes, where) });
    const e = refusal(() => mergeModels([input('a.model'), input('b.model')]));
    expect(e.message).toMatch(/a\.model holds a nb model, which cannot be merged: .*classifier/);
  });

  it('refuses a model without held-out windows (written before they were kept), naming it', () => {
    const a = trained('stide', hostStreams('a', 1), { name: 'a' });
    const d = getDetector('stide').create();
    d.fit(windowStreams(hostStreams('b', 2).map((calls) => ({ calls })), 6));
    const bytes = encodeModel(d, statedCalibration(0.5, 20, 6), { filter: 'none' });
    const old: MergeInput = { where: 'old.model', bytes, ...modelFromBytes(bytes, 'old.model') };
    expect(old.file.heldOut).toBeUndefined();
    expect(refusal(() => mergeModels([a, old])).message).toMatch(/old\.model keeps no held-out normal windows .*train it again/);
  });

  it('refuses models of different detectors, budgets or images, and names each input', () => {
    const a = trained('stide', hostStreams('a', 1), { name: 'a', imageId: `sha256:${'a'.repeat(64)}` });
    const b = trained('stide', hostStreams('b', 2), { name: 'b', imageId: `sha256:${'b'.repeat(64)}` });
    const n = trained('ngram', hostStreams('b', 2), { name: 'n' });
    expect(refusal(() => mergeModels([a, n])).message).toMatch(/differ in detector: stide-a\.model: stide, ngram-n\.model: ngram/);
    expect(refusal(() => mergeModels([a, b])).message).toMatch(/different images .* --image/);
    const r = mergeModels([a, b], { imageId: `sha256:${'c'.repeat(64)}` });
    expect(r.imageId).toBe(`sha256:${'c'.repeat(64)}`);
    expect(refusal(() => mergeModels([a]))).toMatchObject({ code: 'ERR_USAGE' });
  });

  it('keeps the inputs in the merged model, and its held-out windows, so it can be merged again', () => {
    const a = trained('hybrid', hostStreams('a', 1), { name: 'a' });
    const b = trained('hybrid', hostStreams('b', 2), { name: 'b' });
    const c = trained('hybrid', hostStreams('a', 5), { name: 'c' });
    const ab = mergeModels([a, b]);
    const abFile = modelFromBytes(ab.bytes, 'ab.model');
    expect(abFile.file.heldOut!.partWindows.length).toBe(a.file.heldOut!.partWindows.length + b.file.heldOut!.partWindows.length);
    expect(abFile.file.meta.merged).toMatchObject({ inputs: [{ file: a.where }, { file: b.where }] });
    const abc = mergeModels([{ where: 'ab.model', bytes: ab.bytes, ...abFile }, c]);
    const lineage = (modelFromBytes(abc.bytes, 'abc').file.meta.merged as { lineage: string[] }).lineage;
    expect(lineage).toHaveLength(3);
  });

  it('sets a threshold that alarms on fresh normal streams of either host as one trained on both hosts\' data does', () => {
    const a = trained('hybrid', hostStreams('a', 1), { name: 'a' });
    const b = trained('hybrid', hostStreams('b', 2), { name: 'b' });
    const joint = trained('hybrid', [...hostStreams('a', 1), ...hostStreams('b', 2)], { name: 'joint' });
    const ab = mergeModels([a, b]);
    const alarms = (bytes: Uint8Array, probes: Uint16Array[]) => {
      const { detector, file } = modelFromBytes(bytes, 'm');
      return probes.filter((calls) => {
        const set = windowStreams([{ calls }], 6);
        return decisionScores(set, detector.score(set), file.calibration.frame, file.calibration.trim).some((x) => x >= file.threshold);
      }).length;
    };
    // Fresh streams of each host, each a trace: a alone alarms on host b's; the merge as the joint model (within 2 of 20).
    const [probesA, probesB] = [hostStreams('a', 19, 20), hostStreams('b', 9, 20)];
    const n = { aOnB: alarms(a.bytes, probesB), jointOnB: alarms(joint.bytes, probesB), mergedOnB: alarms(ab.bytes, probesB), jointOnA: alarms(joint.bytes, probesA), mergedOnA: alarms(ab.bytes, probesA) };
    const what = JSON.stringify(n);
    expect(n.aOnB, what).toBeGreaterThan(10);
    expect(Math.abs(n.mergedOnB - n.jointOnB), what).toBeLessThanOrEqual(2);
    expect(Math.abs(n.mergedOnA - n.jointOnA), what).toBeLessThanOrEqual(2);
    expect(n.mergedOnB, what).toBeLessThan(n.aOnB);
  });
});
