import { describe, expect, it } from 'vitest';
import { calibrate } from '../../src/detect/calibration.js';
import { decisionScores } from '../../src/detect/decision.js';
import { getDetector } from '../../src/detect/registry.js';
import { Prng } from '../../src/detect/lib/prng.js';
import { windowStreams } from '../../src/window/windows.js';

/**
 * Gaussian naive Bayes on syscall numbers learns a variance close to 0 at a
 * position a normal program always fills with one call, so a window a call
 * off there is hundreds of nats more likely under the attack class:
 * P(attack) rounds to exactly 1, the score's bound, on normal windows it
 * did not learn. A threshold set on such held-out windows could not be below
 * the bound, and the model could not be calibrated at all (every run on the
 * ISCC traces). Scored as -log P(normal), the same order of windows stays
 * apart in nats.
 */

/** A normal program that polls (call 1), now and then a 5 instead (`odd`: how often). */
function normalTrace(rand: Prng, len: number, odd: number): Uint16Array {
  return Uint16Array.from({ length: len }, () => (rand.float() < odd ? 5 : 1));
}

/** An attack: calls from 0 to 300. */
function attackTrace(rand: Prng, len: number): Uint16Array {
  return Uint16Array.from({ length: len }, () => Math.floor(rand.float() * 301));
}

describe('nb', () => {
  it('is calibrated where P(attack) rounds to 1 on held-out normal windows, and flags attacks and not fresh normal traces', () => {
    const rand = new Prng(3);
    const size = 4;
    const frame = 20;
    // 20 normal traces: 17 never make a 5, 3 make one now and then.
    const normal = windowStreams(Array.from({ length: 20 }, (_, s) => ({ calls: normalTrace(rand, 300, s < 3 ? 0.02 : 0), label: 0, source: s })), size);
    const attack = windowStreams(Array.from({ length: 6 }, (_, s) => ({ calls: attackTrace(rand, 300), label: 1, source: 100 + s })), size);
    const nb = getDetector('nb');
    // The premise: a model that never saw a 5 puts P(attack) at 1 to the last bit on a window holding one.
    const quiet = nb.create();
    quiet.fit(windowStreams([...Array.from({ length: 5 }, () => ({ calls: normalTrace(rand, 300, 0), label: 0 })), { calls: attackTrace(rand, 300), label: 1 }], size));
    const withFive = windowStreams([{ calls: Uint16Array.of(1, 1, 5, 1), label: 0 }], size);
    const nats = quiet.score(withFive)[0]!;
    expect(-Math.expm1(-nats)).toBe(1); // P(attack) = 1 - P(normal) = 1 - e^-score
    expect(nats).toBeGreaterThan(40);
    expect(nats).toBeLessThan(quiet.maxScore());

    const { detector, calibration } = calibrate({
      factory: nb, normal, attack, partOf: Int32Array.from(normal.source!), part: 'trace', budget: 0.05, unit: 'trace', frame, seed: 1,
    });
    expect(calibration.threshold).toBeLessThan(detector.maxScore());
    const peak = (calls: Uint16Array) => {
      const w = windowStreams([{ calls, label: 0, source: 0 }], size);
      return Math.max(...decisionScores(w, detector.score(w), calibration.frame, calibration.trim));
    };
    const fresh = Array.from({ length: 40 }, () => peak(normalTrace(rand, 300, 0)));
    const attacks = Array.from({ length: 20 }, () => peak(attackTrace(rand, 300)));
    expect(fresh.filter((p) => p >= calibration.threshold)).toEqual([]);
    expect(attacks.filter((p) => p >= calibration.threshold)).toHaveLength(attacks.length);
  });
});
