import { describe, expect, it } from 'vitest';
import { calibrate } from '../../src/detect/calibration.js';
import { decisionScores } from '../../src/detect/decision.js';
import { getDetector } from '../../src/detect/registry.js';
import { Prng } from '../../src/detect/lib/prng.js';
import { windowStreams } from '../../src/window/windows.js';

/**
 * A supervised detector's threshold is set on normal parts held out of fold
 * models, and used on the model learnt from everything. Its scores move with
 * the balance of its classes (a prior, a vote share), so a fold model that
 * learnt every attack stream but only part of the normal ones scores higher
 * than the final model: the threshold then sat above what the final model
 * gives normal and attack traces alike (measured on an ADFA-size set: naive
 * Bayes and the MLP detected nothing, raising no false alarm either). A fold
 * model leaves out as large a share of the attack windows as of the normal
 * ones, keeping the balance.
 */

/** Normal traces and attack traces that differ only in how often each of the same paths runs: every window is ambiguous. */
function trace(rand: Prng, len: number, attack: boolean): Uint16Array {
  const out: number[] = [];
  const [a, b, extra] = attack ? [0.35, 0.6, 0.4] : [0.6, 0.9, 0.2];
  while (out.length < len) {
    const r = rand.float();
    if (r < a) out.push(0, 1, 2, 3, 1);
    else if (r < b) out.push(0, 1, 4, 3, 1);
    else out.push(0, 5, 6, 1);
    if (rand.float() < extra) out.push(7);
  }
  return Uint16Array.from(out.slice(0, len));
}

describe('supervised calibration', () => {
  it("sets the final model's threshold on its own scale: fresh normal traces alarm at about the budget, attacks are caught", () => {
    const rand = new Prng(5);
    const size = 5;
    const frame = 20;
    const budget = 0.1;
    const normal = windowStreams(Array.from({ length: 40 }, (_, s) => ({ calls: trace(rand, 300, false), label: 0, source: s })), size);
    const attack = windowStreams(Array.from({ length: 10 }, (_, s) => ({ calls: trace(rand, 300, true), label: 1, source: 100 + s })), size);
    const { detector, calibration } = calibrate({
      factory: getDetector('nb'), normal, attack, partOf: Int32Array.from(normal.source!), part: 'trace', budget, unit: 'trace', frame, seed: 1,
    });
    const peak = (calls: Uint16Array) => {
      const w = windowStreams([{ calls, label: 0, source: 0 }], size);
      return Math.max(...decisionScores(w, detector.score(w), calibration.frame, calibration.trim));
    };
    const fresh = Array.from({ length: 400 }, () => peak(trace(rand, 300, false)));
    const attacks = Array.from({ length: 100 }, () => peak(trace(rand, 300, true)));
    const share = (xs: number[]) => xs.filter((p) => p >= calibration.threshold).length / xs.length;
    expect(share(fresh)).toBeLessThanOrEqual(2 * budget);
    expect(share(fresh)).toBeGreaterThanOrEqual(budget / 4);
    expect(share(attacks)).toBeGreaterThanOrEqual(0.5);
  });
});
