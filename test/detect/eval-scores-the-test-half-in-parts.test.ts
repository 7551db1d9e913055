import { expect, it } from 'vitest';
import { DEFAULT_BUDGET } from '../../src/detect/calibration.js';
import { DEFAULT_FRAME } from '../../src/detect/decision.js';
import { runEvaluation, type EvalRecord, type LoadedTrace } from '../../src/detect/evaluation.js';
import { Prng } from '../../src/detect/lib/prng.js';
import { getDetector } from '../../src/detect/registry.js';

// eval windows and scores the traces it tests a part at a time, so that a
// large dataset's test half, its scores and its decisions are never held at
// once. A part is whole traces: every figure must be what scoring the test
// half in one piece gives, for one-class and supervised detectors, with and
// without known attack starts.

/** A thread's calls: a seeded walk over a small vocabulary (normal), with a run of calls it never makes (an attack). */
function thread(prng: Prng, length: number, attackAt?: number): Uint16Array {
  const calls = new Uint16Array(length);
  let c = 0;
  for (let i = 0; i < length; i++) {
    c = (c * 3 + 1 + prng.int(3)) % 17;
    calls[i] = attackAt !== undefined && i >= attackAt && i < attackAt + 60 ? 40 + (i % 7) : c;
  }
  return calls;
}

function traces(): { normal: LoadedTrace[]; attack: LoadedTrace[] } {
  const prng = new Prng(7);
  const normal = Array.from({ length: 14 }, (_, k): LoadedTrace => ({
    path: `/n/${k}`,
    label: 0,
    kind: 'normal',
    threads: Array.from({ length: 1 + (k % 3) }, () => thread(prng, 300 + 40 * k)),
  }));
  const attack = Array.from({ length: 8 }, (_, k): LoadedTrace => {
    const threads = [thread(prng, 400, 150 + 10 * k), thread(prng, 200)];
    const t: LoadedTrace = { path: `/a/${k % 2 === 0 ? 'webshell' : 'adduser'}/${k}`, label: 1, kind: k % 2 === 0 ? 'webshell' : 'adduser', threads };
    // Half of them say when their attack starts (a call a millisecond): an alarm before it is early.
    if (k < 4) return { ...t, attackStartNs: 140e6, times: threads.map((th) => Float64Array.from(th, (_, i) => i * 1e6)) };
    return t;
  });
  return { normal, attack };
}

const untimed = (r: EvalRecord) => ({ ...r, fitMs: 0, scoreMs: 0 });

it('gives the same figures whether the test half is scored a trace at a time or in one piece', async () => {
  const { normal, attack } = traces();
  const cfg = { normal, attack, windows: [3, 6], detectors: ['hybrid', 'stide', 'knn', 'rf'].map((d) => getDetector(d)), filters: ['none' as const], split: 'trace' as const, seed: 3, budget: DEFAULT_BUDGET.trace, frame: DEFAULT_FRAME };
  const whole = await runEvaluation({ ...cfg, testPartCalls: Number.MAX_SAFE_INTEGER });
  const byTrace = await runEvaluation({ ...cfg, testPartCalls: 1 });
  const byThree = await runEvaluation({ ...cfg, testPartCalls: 1000 });
  expect(byTrace.map(untimed)).toEqual(whole.map(untimed));
  expect(byThree.map(untimed)).toEqual(whole.map(untimed));
  // What is compared says something: the attacks are found, early alarms and delays are measured, supervised detectors ran.
  for (const r of whole) {
    expect(r.tracesDetected, `${r.detector} w=${r.window}`).not.toBeNull();
    expect(r.startsKnown, `${r.detector} w=${r.window}`).toBeGreaterThan(0);
  }
  expect(whole.find((r) => r.detector === 'stide' && r.window === 3)!.tracesDetected).toBeGreaterThan(0.5);
  expect(whole.filter((r) => r.detector === 'knn').every((r) => r.testWindows < whole.find((s) => s.detector === 'stide' && s.window === r.window)!.testWindows)).toBe(true);
});
