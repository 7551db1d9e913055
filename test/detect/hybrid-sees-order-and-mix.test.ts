import { describe, expect, it } from 'vitest';
import { factory as bosc } from '../../src/detect/bosc.js';
import { calibrate, DEFAULT_BUDGET } from '../../src/detect/calibration.js';
import { DEFAULT_FRAME } from '../../src/detect/decision.js';
import type { DetectorFactory } from '../../src/detect/detector.js';
import { factory as hybrid, Hybrid } from '../../src/detect/hybrid.js';
import { encodeModel, modelFromBytes } from '../../src/detect/model-file.js';
import { factory as ngram } from '../../src/detect/ngram.js';
import type { WindowSet } from '../../src/window/window-set.js';
import { windowStreams } from '../../src/window/windows.js';
import { alarmsOf, calibrateOnToy, decided, lcg, type Toy } from './helpers/sequence-toy.js';

/** Windows of the mix problem: four requests of two calls. The order problem's windows are three calls. */
const SIZE = 8;
const ORDER_SIZE = 3;
/** Normal training traces: enough that the 5 % budget is set by counting, not by a tail fitted to a few. */
const TRAIN = Array.from({ length: 20 }, (_, i) => i);
/** Normal test traces: at a 5 % budget about one alarms; more than 3 of 20 would happen by chance under 2 % of the time. */
const TEST = Array.from({ length: 20 }, (_, i) => i);
const MOST_ALARMED = 3;

/**
 * Calls of the mix problem's program: requests A = [1,2] (a share `shareA`
 * of them) and B = [3,4], never three A requests in a row, except from call
 * `attackFrom` to `attackTo`, where every request is A. `rare`: the chance,
 * per request, of a short episode of rare requests [5, 6..17] instead.
 */
function mixCalls(rand: () => number, len: number, { shareA = 0.5, rare = 0, attackFrom = -1, attackTo = -1 } = {}): Uint16Array {
  const out: number[] = [];
  let run = 0;
  while (out.length < len) {
    if (rare > 0 && rand() < rare) {
      for (let e = 0; e < 2; e++) out.push(5, 6 + Math.floor(rand() * 12), ...(rand() < shareA ? [1, 2] : [3, 4]));
      run = 0;
      continue;
    }
    const attack = out.length >= attackFrom && out.length < attackTo;
    const a = attack || (run < 2 && rand() < shareA);
    out.push(...(a ? [1, 2] : [3, 4]));
    run = a ? run + 1 : 0;
  }
  return Uint16Array.from(out.slice(0, len));
}

/**
 * A program of two requests, A = [1,2] and B = [3,4], drawn at random,
 * except that it never makes three A requests in a row. Its attack makes 40
 * A requests in a row: every transition in it is one the program makes, but
 * a window of four A requests (eight calls from 1 and 2 only) is a bag no
 * normal window holds.
 */
function mixProblem(): Toy {
  const rand = lcg(11);
  const stream = (len: number, attackFrom = -1, attackTo = -1): Uint16Array => mixCalls(rand, len, { attackFrom, attackTo });
  return {
    train: windowStreams(TRAIN.map(() => ({ calls: stream(700), label: 0 })), SIZE),
    normalTest: windowStreams(TEST.map(() => ({ calls: stream(700), label: 0 })), SIZE),
    attackTest: windowStreams([{ calls: stream(700, 300, 380), label: 1 }], SIZE),
  };
}

/**
 * A program of calls 1..4 in any order, except that 1 is always followed by
 * 2. Its attack runs the same calls, 2 before 1: a 1 followed by anything
 * else is a transition the program never makes, while every three-call bag
 * of the attack (never more 1s than 2s plus one) is one the program makes.
 */
function orderProblem(): Toy {
  const rand = lcg(12);
  const stream = (len: number, attackFrom = -1, attackTo = -1): Uint16Array => {
    const out: number[] = [];
    while (out.length < len) {
      const c = 1 + Math.floor(rand() * 4);
      const attack = out.length >= attackFrom && out.length < attackTo;
      if (c === 1) out.push(...(attack ? [2, 1] : [1, 2]));
      else out.push(c);
    }
    return Uint16Array.from(out.slice(0, len));
  };
  return {
    train: windowStreams(TRAIN.map(() => ({ calls: stream(700), label: 0 })), ORDER_SIZE),
    normalTest: windowStreams(TEST.map(() => ({ calls: stream(700), label: 0 })), ORDER_SIZE),
    attackTest: windowStreams([{ calls: stream(700, 300, 380), label: 1 }], ORDER_SIZE),
  };
}

/** Threads per trace of the many-threads problem. */
const THREADS = 30;

/**
 * Normal traces of 30 threads each (source = trace * THREADS + thread) of
 * the mix problem's program, each thread with its own share of A requests
 * (most threads few, some many), and now and then a short episode of rare
 * requests [5, 6..17]: ngram's score of a thread spreads widely from one
 * thread to the next, and a trace's peak is the highest of its threads'.
 */
function manyThreadsProblem(): WindowSet {
  const rand = lcg(5);
  const thread = (): Uint16Array => mixCalls(rand, 300, { shareA: 0.05 + 0.9 * rand() ** 3, rare: 0.03 });
  const streams = Array.from({ length: 20 * THREADS }, (_, s) => ({ calls: thread(), label: 0, source: s }));
  return windowStreams(streams, SIZE);
}

/** Alarms on the attack trace, and how many normal test traces alarmed, for a detector calibrated on the toy's training traces. */
function run(factory: DetectorFactory, toy: Toy): { attackAlarms: number; alarmedNormal: number } {
  const { detector, calibration } = calibrateOnToy(factory, toy, DEFAULT_FRAME);
  const normal = alarmsOf(decided(detector, toy.normalTest, calibration), calibration.threshold);
  return {
    attackAlarms: alarmsOf(decided(detector, toy.attackTest, calibration), calibration.threshold).length,
    alarmedNormal: new Set(normal.map((i) => toy.normalTest.source![i])).size,
  };
}

describe('hybrid (order and mix)', () => {
  it('keeps the bag model\'s sight of a change of mix, within its false-alarm budget on normal traces', () => {
    const toy = mixProblem();
    // The premise: bosc sees the bag. (ngram sees it too, but only as unlikely, not as new: its likelihood counts frequencies.)
    const b = run(bosc, toy);
    expect(b.attackAlarms).toBeGreaterThan(0);
    expect(b.alarmedNormal).toBe(0);
    const h = run(hybrid, toy);
    expect(h.attackAlarms).toBeGreaterThan(0);
    expect(h.alarmedNormal).toBeLessThanOrEqual(MOST_ALARMED);
  });

  it('flags a change of order that the bag model cannot see, within its false-alarm budget on normal traces', () => {
    const toy = orderProblem();
    // The premise: every bag of the attack is a normal one, so bosc is blind; ngram sees the new transitions.
    expect(run(bosc, toy).attackAlarms).toBe(0);
    expect(run(ngram, toy).attackAlarms).toBeGreaterThan(0);
    const h = run(hybrid, toy);
    expect(h.attackAlarms).toBeGreaterThan(0);
    expect(h.alarmedNormal).toBeLessThanOrEqual(MOST_ALARMED);
  });

  it('measures each part in units of its own held-out normal peaks, and keeps them through a model file', () => {
    const toy = orderProblem();
    const { detector, calibration } = calibrateOnToy(hybrid, toy, DEFAULT_FRAME);
    const units = (detector as Hybrid).units;
    expect(Object.keys(units)).toEqual(['ngram', 'bosc']);
    // Every held-out three-call bag is a known one, so bosc is silent on normal data: its least frame score (one
    // window one call off in a frame) is made as loud as the most ngram can score in its units, so alone it alarms.
    const [ngramPart, boscPart] = (detector as Hybrid).state().parts;
    expect([ngramPart!.name, boscPart!.name]).toEqual(['ngram', 'bosc']);
    const least = 1 / (ORDER_SIZE * (DEFAULT_FRAME - ORDER_SIZE));
    const ngramMost = ngram.restore(ngramPart!.state).maxScore() / units.ngram!;
    expect(least / units.bosc!).toBeCloseTo(ngramMost, 9);
    expect(detector.maxScore()).toBeGreaterThanOrEqual(ngramMost);
    // ngram's unit is a measured alarm level: about the nats of a call drawn from four (a little under, as a 2
    // after a 1 is certain).
    expect(units.ngram).toBeGreaterThan(Math.log(4) * 0.5);
    expect(units.ngram).toBeLessThan(Math.log(4) * 1.5);
    const back = modelFromBytes(encodeModel(detector, calibration, { filter: 'none' }), 'toy.model', { expect: 'hybrid' }).detector as Hybrid;
    expect(back.units).toEqual(units);
    expect(back.score(toy.attackTest)).toEqual(detector.score(toy.attackTest));
  });

  it('measures units on the parts calibration holds out, so a trace of many threads is judged at one unit', () => {
    const toy = manyThreadsProblem();
    const partOf = Int32Array.from(toy.source!, (s) => Math.floor(s / THREADS));
    const { detector, calibration } = calibrate({ factory: hybrid, normal: toy, partOf, part: 'trace', budget: DEFAULT_BUDGET.trace, unit: 'trace', frame: DEFAULT_FRAME });
    // Every held-out bag is a known one: bosc is silent and made loud, so ngram's noise alone sets the threshold.
    // Its unit is its own alarm level on held-out traces at the budget the threshold is set to: about one unit.
    // (Units of held-out threads put it at 1.65: a trace peaks at the highest of its 30 threads.)
    expect(calibration.threshold).toBeGreaterThan(0.8);
    expect(calibration.threshold).toBeLessThan(1.25);
    const byThread = hybrid.create() as Hybrid;
    byThread.fit(toy);
    expect((detector as Hybrid).units.ngram).toBeGreaterThan(byThread.units.ngram! * 1.3);
  });

  it('refuses parts it cannot combine, naming the ones it can', () => {
    expect(() => hybrid.create({ parts: 'ngram' })).toThrow(/two or more different one-class sequence detectors\. Fix: join names from ngram, bosc, markov, stide/);
    expect(() => hybrid.create({ parts: 'ngram+rf' })).toThrow(/not two or more/);
    expect(() => hybrid.restore({ windowSize: SIZE, parts: [{ name: 'rf', version: 1, scale: 1, state: {} }, { name: 'bosc', version: 1, scale: 1, state: {} }] })).toThrow(
      /damaged: it names a part 'rf'/,
    );
  });
});
