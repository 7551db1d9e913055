/**
 * `syswarden eval` on a slice of the real hids-docker traces, at the
 * defaults a user gets (false-alarm budget, decision frame): thresholds on
 * the outcome, not exact numbers. The dataset comes from $SYSWARDEN_DATASET
 * (default ../shared/datasets/hids-docker beside the project); without it
 * these tests skip, with one line saying what is missing and where it comes from.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { datasetPath } from '../../src/trace/dataset.js';
import { DEFAULT_BUDGET } from '../../src/detect/calibration.js';
import { DEFAULT_FRAME } from '../../src/detect/decision.js';
import { loadTraces, runEvaluation } from '../../src/detect/evaluation.js';
import { DEFAULT_DETECTOR, getDetector } from '../../src/detect/registry.js';
import { splitTraces } from '../../src/detect/split.js';
import { formatTable } from '../../src/cli/eval.js';
import { datasetMissingForTests } from './helpers/dataset.js';

const missing = datasetMissingForTests(['wordpress/iscc/normal', 'wordpress/iscc/exec']);
const root = datasetPath();
const trace = (kind: 'normal' | 'exec', i: number) => join(root, 'wordpress/iscc', kind, `wordpress_${kind}_${i}`);
const defaults = { budget: DEFAULT_BUDGET.trace, frame: DEFAULT_FRAME };

describe.skipIf(missing !== undefined)('eval on a slice of the hids-docker dataset', () => {
  it('trace split, default detector and budget, windows 3-9, four seeds: attack traces found, false alarms within the budget on average', async () => {
    const normal = await loadTraces(Array.from({ length: 25 }, (_, i) => trace('normal', i)), 0);
    const attack = await loadTraces(Array.from({ length: 25 }, (_, i) => trace('exec', i)), 1);
    // Windows 3 to 9: where the default detects every ISCC attack trace but at seed 3, window 3 (docs/detection.md).
    const windows = [3, 5, 7, 9];
    const falseAlarms: number[] = [];
    const detected: number[] = [];
    for (const seed of [1, 2, 3, 4]) {
      const records = await runEvaluation({ normal, attack, windows, detectors: [getDetector(DEFAULT_DETECTOR)], filters: ['none'], split: 'trace', seed, ...defaults });
      const split = splitTraces([...normal, ...attack], seed);
      expect(split.train).toHaveLength(12);
      for (const r of records) {
        const where = `seed ${seed} w=${r.window}`;
        expect(r.budget, where).toBe(defaults.budget);
        // Some threshold separates the test traces perfectly (hindsight) ...
        expect(r.auc, where).toBe(1);
        // ... and the one calibrated on the 12 normal training traces alone finds nearly every attack trace: at
        // least 20 of 25 (its threshold meets the budget with 90 % confidence; at seed 3, window 3 that leaves
        // 5 of the 25 below it), and 0.95 on average (below).
        expect(r.thresholdRule, where).toMatch(/12 held-out normal traces/);
        expect(r.tracesDetected!, where).toBeGreaterThanOrEqual(0.8);
        detected.push(r.tracesDetected!);
        expect(r.firstAlarm, where).toHaveLength(25);
        falseAlarms.push(r.tracesFalseAlarm!);
      }
      expect(formatTable(records)).toMatch(new RegExp(`${DEFAULT_DETECTOR} w=3 filter=none: [\\d.e-]+ \\(.*12 held-out normal traces`));
    }
    // The budget is a rate: over the splits, the share of normal test traces that alarm stays within it.
    // (Per split it varies: at seed 1 two of the 13 test traces share a behaviour no training trace has.)
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(falseAlarms)).toBeLessThanOrEqual(defaults.budget);
    expect(mean(detected)).toBeGreaterThanOrEqual(0.95);
    // 16 evaluations, each fitting the hybrid's parts on held-out folds: a guard against a hang, not a speed claim.
  }, 900_000);

  it('ordered split on the ISCC traces: STIDE flags attack windows with high precision at window 3', async () => {
    const normal = await loadTraces(Array.from({ length: 25 }, (_, i) => trace('normal', i)), 0);
    const attack = await loadTraces(Array.from({ length: 25 }, (_, i) => trace('exec', i)), 1);
    const [r] = await runEvaluation({ normal, attack, windows: [3], detectors: [getDetector('stide')], filters: ['none'], split: 'ordered', seed: 1, ...defaults });
    expect(r!.note).toBeUndefined();
    expect(r!.threshold).not.toBeNull();
    expect(r!.precision!).toBeGreaterThan(0.9);
    // A frame alarms on more unusual windows than one displaced call makes (the trim): short bursts of attack windows do not count.
    expect(r!.recall!).toBeGreaterThan(0.15);
  });
});
