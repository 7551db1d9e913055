/**
 * `syswarden eval` on a slice of the real hids-docker traces: thresholds on
 * the outcome, not exact numbers. The dataset comes from $SYSWARDEN_DATASET
 * (default ../shared/datasets/hids-docker beside the project); without it
 * these tests skip, with one line saying what is missing and where it comes from.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { datasetPath } from '../../src/trace/dataset.js';
import { loadTraces, runEvaluation } from '../../src/detect/evaluation.js';
import { getDetector } from '../../src/detect/registry.js';
import { formatTable } from '../../src/cli/eval.js';
import { datasetMissingForTests } from './helpers/dataset.js';

const missing = datasetMissingForTests(['wordpress/iscc/normal', 'wordpress/iscc/exec']);
const root = datasetPath();
const trace = (kind: 'normal' | 'exec', i: number) => join(root, 'wordpress/iscc', kind, `wordpress_${kind}_${i}`);

describe.skipIf(missing !== undefined)('eval on a slice of the hids-docker dataset', () => {
  it('trace split: the Markov model catches every attack trace without alarming on a normal one, thresholds from training only', async () => {
    const normal = await loadTraces(Array.from({ length: 25 }, (_, i) => trace('normal', i)), 0);
    const attack = await loadTraces([0, 5, 10, 15, 20].map((i) => trace('exec', i)), 1);
    const records = await runEvaluation({ normal, attack, windows: [9], detectors: [getDetector('ngram')], filters: ['none'], split: 'trace', seed: 1 });
    const ngram = records.find((r) => r.detector === 'ngram')!;
    expect(ngram.tracesDetected).toBe(1);
    expect(ngram.tracesFalseAlarm).toBe(0);
    expect(ngram.precision).toBeGreaterThan(0.9);
    expect(ngram.thresholdRule).toMatch(/leave-one-trace-out over the 12 normal training traces/);
    expect(ngram.firstAlarm).toHaveLength(5);
    expect(formatTable(records)).toMatch(/ngram w=9 filter=none: .*held-out normal windows/);
  });

  it('ordered split on the ISCC traces: STIDE flags attack windows with high precision at window 3', async () => {
    const normal = await loadTraces(Array.from({ length: 25 }, (_, i) => trace('normal', i)), 0);
    const attack = await loadTraces(Array.from({ length: 25 }, (_, i) => trace('exec', i)), 1);
    const [r] = await runEvaluation({ normal, attack, windows: [3], detectors: [getDetector('stide')], filters: ['none'], split: 'ordered', seed: 1 });
    expect(r!.precision!).toBeGreaterThan(0.9);
    expect(r!.recall!).toBeGreaterThan(0.3);
  });
});
