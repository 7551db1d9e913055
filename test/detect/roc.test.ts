import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSyswardenError } from '../../src/errors.js';
import { drAtFalseAlarm, operatingPoint, rocOf } from '../../src/detect/roc.js';

function thrownCode(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isSyswardenError(e) ? e.code : 'not a SyswardenError';
  }
  return undefined;
}

/** Area under the curve by trapezoids, from (0, 0) to the last point. */
function trapezoid(points: { fa: number; dr: number }[]): number {
  let area = 0;
  let fa = 0;
  let dr = 0;
  for (const p of points) {
    area += (p.fa - fa) * (p.dr + dr) / 2;
    fa = p.fa;
    dr = p.dr;
  }
  return area;
}

describe('rocOf: AUC', () => {
  it('is 1 when every attack peak is above every normal peak', () => {
    expect(rocOf([0.1, 0.2, 0.3], [0.4, 0.9]).auc).toBe(1);
  });

  it('is 0 when every attack peak is below every normal peak', () => {
    expect(rocOf([0.4, 0.9], [0.1, 0.2, 0.3]).auc).toBe(0);
  });

  it('is 0.5 when every peak is equal', () => {
    const roc = rocOf([2, 2, 2], [2, 2]);
    expect(roc.auc).toBe(0.5);
    // One threshold moves all of them together: no point in between.
    expect(roc.points).toEqual([
      { fa: 0, dr: 0, threshold: Infinity },
      { fa: 1, dr: 1, threshold: 2 },
    ]);
  });

  it('matches a mixed case counted by hand', () => {
    // Pairs (attack, normal) over normals [1, 2, 3, 3]:
    // attack 3 beats 1, 2 and ties 3, 3 -> 2 + 2 * 0.5 = 3
    // attack 4 beats all four                    -> 4
    // attack 2 beats 1 and ties 2                -> 1 + 0.5 = 1.5
    // (3 + 4 + 1.5) / (3 * 4) = 8.5 / 12 = 17 / 24
    const roc = rocOf([3, 1, 3, 2], [3, 4, 2]);
    expect(roc.auc).toBeCloseTo(17 / 24, 15);
    expect(roc.points).toEqual([
      { fa: 0, dr: 0, threshold: Infinity },
      { fa: 0, dr: 1 / 3, threshold: 4 },
      { fa: 2 / 4, dr: 2 / 3, threshold: 3 },
      { fa: 3 / 4, dr: 1, threshold: 2 },
      { fa: 1, dr: 1, threshold: 1 },
    ]);
    expect(trapezoid(roc.points)).toBeCloseTo(17 / 24, 15);
  });

  it('equals the pair count and the area under its own curve, for any peaks', () => {
    const peaks = fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(peaks, peaks, (normal, attack) => {
        let wins = 0;
        for (const a of attack) for (const n of normal) wins += a > n ? 1 : a === n ? 0.5 : 0;
        const roc = rocOf(normal, attack);
        expect(roc.auc).toBeCloseTo(wins / (normal.length * attack.length), 12);
        expect(trapezoid(roc.points)).toBeCloseTo(roc.auc!, 12);
        for (let k = 1; k < roc.points.length; k++) {
          expect(roc.points[k]!.threshold).toBeLessThan(roc.points[k - 1]!.threshold);
          expect(roc.points[k]!.fa).toBeGreaterThanOrEqual(roc.points[k - 1]!.fa);
          expect(roc.points[k]!.dr).toBeGreaterThanOrEqual(roc.points[k - 1]!.dr);
        }
        // Every point agrees with counting at its threshold.
        for (const p of roc.points) {
          const op = operatingPoint(normal, attack, p.threshold);
          expect([op.fa, op.dr]).toEqual([p.fa, p.dr]);
        }
      }),
      { seed: 1, numRuns: 300 },
    );
  });

  it('is null, with no points, when a class is empty', () => {
    expect(rocOf([], [1, 2])).toEqual({ points: [], auc: null, normals: 0, attacks: 2 });
    expect(rocOf([1], [])).toEqual({ points: [], auc: null, normals: 1, attacks: 0 });
  });

  it('accepts typed arrays and infinite peaks, leaving out an unreachable (0, 0)', () => {
    const roc = rocOf(Float64Array.from([Infinity, 0]), Float64Array.from([1, -Infinity]));
    expect(roc.auc).toBe(0.25);
    expect(roc.points[0]).toEqual({ fa: 0.5, dr: 0, threshold: Infinity });
  });

  it('rejects NaN peaks with ERR_INVALID_INPUT', () => {
    expect(thrownCode(() => rocOf([1, NaN], [2]))).toBe('ERR_INVALID_INPUT');
    expect(thrownCode(() => rocOf([1], [NaN]))).toBe('ERR_INVALID_INPUT');
    expect(() => rocOf([1, NaN], [2])).toThrow(/normal peak 1 is NaN/);
  });
});

describe('drAtFalseAlarm', () => {
  const roc = rocOf([3, 1, 3, 2], [3, 4, 2]);

  it('picks the best detection rate whose false-alarm rate is within the target', () => {
    expect(drAtFalseAlarm(roc, 0.5)).toEqual({ dr: 2 / 3, fa: 0.5, threshold: 3 });
    expect(drAtFalseAlarm(roc, 0.74)).toEqual({ dr: 2 / 3, fa: 0.5, threshold: 3 });
    expect(drAtFalseAlarm(roc, 0.75)).toEqual({ dr: 1, fa: 0.75, threshold: 2 });
    expect(drAtFalseAlarm(roc, 0)).toEqual({ dr: 1 / 3, fa: 0, threshold: 4 });
  });

  it('cannot split tied peaks to squeeze under the target', () => {
    // Two normals tie with an attack at 5: alarming on that attack costs both of them.
    const tied = rocOf([5, 5, 1, 1], [5, 2]);
    expect(drAtFalseAlarm(tied, 0.25)).toEqual({ dr: 0, fa: 0, threshold: Infinity });
    expect(drAtFalseAlarm(tied, 0.5)).toEqual({ dr: 1, fa: 0.5, threshold: 2 });
  });

  it('prefers the highest threshold among those reaching the best detection rate', () => {
    const easy = rocOf([1, 2, 3], [5]);
    expect(drAtFalseAlarm(easy, 1)).toEqual({ dr: 1, fa: 0, threshold: 5 });
  });

  it('is null when no threshold keeps false alarms within the target, or a class is empty', () => {
    expect(drAtFalseAlarm(rocOf([Infinity, 0], [1]), 0.4)).toBeNull();
    expect(drAtFalseAlarm(rocOf([], [1]), 0.1)).toBeNull();
  });

  it('rejects a target outside [0, 1]', () => {
    for (const bad of [-0.1, 1.5, NaN]) expect(thrownCode(() => drAtFalseAlarm(roc, bad))).toBe('ERR_INVALID_INPUT');
  });
});

describe('operatingPoint', () => {
  it('counts peaks at or above the threshold as alarms', () => {
    expect(operatingPoint([3, 1, 3, 2], [3, 4, 2], 3)).toEqual({ dr: 2 / 3, fa: 0.5, detected: 2, falseAlarms: 2, normals: 4, attacks: 3 });
  });

  it('gives null rates for an empty class', () => {
    expect(operatingPoint([], [1], 0)).toEqual({ dr: 1, fa: null, detected: 1, falseAlarms: 0, normals: 0, attacks: 1 });
    expect(operatingPoint([1], [], 0)).toEqual({ dr: null, fa: 1, detected: 0, falseAlarms: 1, normals: 1, attacks: 0 });
  });

  it('rejects a NaN threshold or peak', () => {
    expect(thrownCode(() => operatingPoint([1], [2], NaN))).toBe('ERR_INVALID_INPUT');
    expect(thrownCode(() => operatingPoint([1], [NaN], 0))).toBe('ERR_INVALID_INPUT');
  });
});
