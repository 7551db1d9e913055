/**
 * The reference study's protocol (Castanhel et al., SBSeg 2020) on the real
 * stand-in data: 25 ISCC normal traces + the SBSeg attack trace, sliding
 * windows, ordered split, attack-class F1. Asserts each classifier lands in
 * the band of scikit-learn's figures (±0.05, or down to half the figure where
 * it is below 0.1; never down to 0), not exact numbers.
 *
 * SYSWARDEN_STUDY=full runs the whole table (7 classifiers x windows 3..15 x
 * with/without the level-4 filter), Random Forest on the 25+25 ISCC traces and
 * the Random Forest prediction speed, and prints them (also as JSON to
 * $SYSWARDEN_STUDY_OUT when set). `node scripts/classifier-study.mjs` does that.
 */
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { DetectorFactory } from '../../src/detect/detector.js';
import type { WindowSet } from '../../src/window/window-set.js';
import { uniqueWindows } from '../../src/detect/lib/unique.js';
import { factory as rf } from '../../src/detect/rf.js';
import { factory as nb } from '../../src/detect/nb.js';
import { factory as knn } from '../../src/detect/knn.js';
import { factory as mlp } from '../../src/detect/mlp.js';
import { factory as ada } from '../../src/detect/ada.js';
import { factory as ocsvm } from '../../src/detect/ocsvm.js';
import { factory as iforest } from '../../src/detect/iforest.js';
import { STAND_IN, datasetMissing } from '../../src/trace/dataset.js';
import { evaluate, iscc, orderedSplit, standIn, type Corpus, type Result } from './helpers/study.js';
import { datasetMissingForTests } from './helpers/dataset.js';

const ALL = [rf, nb, knn, mlp, ada, ocsvm, iforest] as DetectorFactory[];
const full = process.env.SYSWARDEN_STUDY === 'full';
const NEEDS = [STAND_IN.normal, STAND_IN.attack, 'wordpress/iscc/exec'];
// The band tests skip without the dataset; the full table was asked for by name, so there it is an error.
const missing = full ? datasetMissing(NEEDS) : datasetMissingForTests(NEEDS);

/**
 * scikit-learn's attack-class F1 on this data (docs/classifiers.md,
 * scripts/results.mjs), per asserted cell. The band is the reference ± 0.05,
 * except that below 0.1 a 0.05 margin would reach 0 and pass a classifier
 * that never alarms: there the lower bound is half the reference instead.
 * Where the study reported a range over window sizes, the reference is the
 * range's low end (nb 0.02, ocsvm and iforest 0.01 – 0.03: the weakest figure
 * scikit-learn got), or, where that low end is 0, the high end at the cell
 * where the model does best (knn ≤ 0.09: small windows; mlp 0 – 0.20: large).
 */
const REFERENCE: Record<string, (w: number, filter: boolean) => number> = {
  rf: (w, filter) => (filter ? (w === 3 ? 0.25 : 0.48) : w === 3 ? 0.12 : 0.29),
  ada: (w, filter) => REFERENCE.rf!(w, filter), // "about the same as Random Forest"
  knn: () => 0.09,
  nb: () => 0.02,
  mlp: () => 0.2,
  ocsvm: () => 0.01,
  iforest: () => 0.01,
};

/** The upper bounds: the top of scikit-learn's figures + 0.05. */
const UPPER: Record<string, (w: number, filter: boolean) => number> = {
  rf: (w, filter) => REFERENCE.rf!(w, filter) + 0.05,
  ada: (w, filter) => REFERENCE.rf!(w, filter) + 0.05,
  knn: () => 0.14,
  nb: () => 0.07,
  mlp: () => 0.25,
  ocsvm: () => 0.08,
  iforest: () => 0.08,
};

function band(name: string, w: number, filter: boolean): [number, number] {
  const ref = REFERENCE[name]!(w, filter);
  return [Math.max(ref - 0.05, ref / 2), UPPER[name]!(w, filter)];
}

describe.skipIf(full || missing !== undefined)('classifiers on the stand-in data land in the band of scikit-learn\'s F1', () => {
  // Read when the first test runs: vitest collects a skipped suite's tests too.
  let corpus: Corpus | undefined;
  const splits = new Map<string, ReturnType<typeof orderedSplit>>();
  const split = (w: number, filter: boolean) => {
    const key = `${w}/${filter}`;
    if (!splits.has(key)) splits.set(key, orderedSplit((corpus ??= standIn()), w, filter));
    return splits.get(key)!;
  };
  // Not asserted, because no positive lower bound holds there (measured with
  // the current code; scikit-learn's figure for the cell is not recorded):
  // knn at window 15 with the filter, F1 0.000 (33 alarms, all on normal
  // windows; the study gives knn only as "≤ 0.09"), and mlp at window 3 with
  // the filter, F1 0.000 (the study's mlp range starts at 0).
  const cases: Array<[number, boolean, DetectorFactory[]]> = [
    [3, true, ALL.filter((f) => f !== mlp)],
    [15, true, ALL.filter((f) => f !== knn)],
    [3, false, [rf]],
  ];
  for (const [w, filter, factories] of cases) {
    for (const f of factories) {
      it(`${f.name}, window ${w}, ${filter ? 'level-4 filter' : 'no filter'}`, () => {
        const { train, test } = split(w, filter);
        const r = evaluate(f, train, test);
        const [lo, hi] = band(f.name, w, filter);
        expect(lo).toBeGreaterThan(0);
        expect(r.f1Attack).toBeGreaterThanOrEqual(lo);
        expect(r.f1Attack).toBeLessThanOrEqual(hi);
        // Small F1s (0.02) are near what random alarms would score (~0.007): at
        // least beat a guesser that alarms on as many windows.
        expect(r.f1Attack).toBeGreaterThan(r.f1Chance);
        // One-class models: scikit-learn's normal-class F1 was 0.93..0.99.
        if (!r.supervised) expect(r.f1Normal).toBeGreaterThanOrEqual(0.88);
      });
    }
  }
});

function table(corpus: Corpus, factories: DetectorFactory[], label: string): Array<Record<string, unknown>> {
  const rows: Array<Record<string, unknown>> = [];
  for (const filter of [false, true]) {
    for (let w = 3; w <= 15; w += 2) {
      const { train, test } = orderedSplit(corpus, w, filter);
      for (const f of factories) {
        const r: Result = evaluate(f, train, test);
        const row = { data: label, detector: f.name, window: w, filter, ...r, trainWindows: train.count, testWindows: test.count };
        rows.push(row);
        console.log(JSON.stringify(row));
      }
    }
  }
  return rows;
}

describe.runIf(full)('the full study table', () => {
  it('runs', () => {
    if (missing) throw new Error(missing);
    const t0 = performance.now();
    const rows = table(standIn(), ALL, 'standin');
    const tableSeconds = (performance.now() - t0) / 1000;
    const isccRows = table(iscc(), [rf], 'iscc');

    // Random Forest prediction speed (median of 5 runs after a warm-up): on the
    // test half as it comes (duplicates included, the realistic case), on its
    // distinct windows only, and on random windows (no dedup help at all).
    const { train, test } = orderedSplit(standIn(), 15, false);
    const det = rf.create();
    det.fit(train);
    const distinctTest = uniqueWindows(test);
    const n = 200_000;
    const data = new Uint16Array(n * 15);
    let s = 12345;
    for (let i = 0; i < data.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[i] = s % 300;
    }
    const rate = (set: WindowSet): number => {
      det.score(set);
      const times = [0, 1, 2, 3, 4].map(() => {
        const t = performance.now();
        det.score(set);
        return performance.now() - t;
      }).sort((a, b) => a - b);
      return set.count / (times[2]! / 1000);
    };
    const rfWindowsPerSecond = {
      testHalf: rate(test),
      distinctTestWindows: rate({ size: 15, count: distinctTest.count, data: distinctTest.data }),
      randomWindows: rate({ size: 15, count: n, data }),
    };
    const summary = { tableSeconds, rfWindowsPerSecond };
    console.log(JSON.stringify(summary));
    if (process.env.SYSWARDEN_STUDY_OUT) writeFileSync(process.env.SYSWARDEN_STUDY_OUT, JSON.stringify({ rows, isccRows, ...summary }, null, 1));
  }, 1_800_000);
});
