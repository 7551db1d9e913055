import { describe, expect, it } from 'vitest';
import { factory as bosc } from '../../src/detect/bosc.js';
import { calibrate } from '../../src/detect/calibration.js';
import { factory as hybrid, Hybrid, WORK_LIMIT } from '../../src/detect/hybrid.js';
import { encodeModel, modelFromBytes } from '../../src/detect/model-file.js';
import { factory as ngram } from '../../src/detect/ngram.js';
import { sliceWindows, windowStreams } from '../../src/window/windows.js';
import { lcg } from './helpers/sequence-toy.js';

const SIZE = 9;

/**
 * A busy server: 120 request handlers over 200 calls, each step optional or
 * looping at random, so most requests are call sequences never made before
 * and most windows are bags no other window holds.
 */
function busyServer(calls: number, streams: number, seed: number): Uint16Array[] {
  const rand = lcg(seed);
  const handlers = Array.from({ length: 120 }, () =>
    Array.from({ length: 10 + Math.floor(rand() * 40) }, () => ({ call: Math.floor(200 * rand() ** 2), optional: rand() < 0.3, loop: rand() < 0.15 })),
  );
  return Array.from({ length: streams }, () => {
    const out = new Uint16Array(Math.floor(calls / streams));
    let n = 0;
    while (n < out.length) {
      for (const step of handlers[Math.floor(handlers.length * rand() ** 1.5)]!) {
        if (step.optional && rand() < 0.5) continue;
        const times = step.loop ? 1 + Math.floor(rand() * 6) : 1;
        for (let t = 0; t < times && n < out.length; t++) out[n++] = step.call;
      }
    }
    return out;
  });
}

describe('hybrid on a program whose normal windows keep making new bags', () => {
  const streams = busyServer(300_000, 40, 5);
  const train = windowStreams(streams.map((calls) => ({ calls, label: 0 })), SIZE);

  it("measures bosc's search above the limit, leaves it out, says why, and scores as its other part", () => {
    // The premise, measured directly: bosc fitted on half the streams, scoring windows of the other half.
    const half = windowStreams(streams.slice(0, 20).map((calls) => ({ calls, label: 0 })), SIZE);
    const other = windowStreams(streams.slice(20).map((calls) => ({ calls, label: 0 })), SIZE);
    const alone = bosc.create();
    alone.fit(half);
    alone.score(sliceWindows(other, 0, 20_000));
    expect(alone.workPerWindow!()).toBeGreaterThan(WORK_LIMIT);

    // Fitted through calibration, as train does: its fold models leave the same part out.
    const { detector, calibration } = calibrate({ factory: hybrid, normal: train, partOf: train.source!, part: 'trace', budget: 0.05, unit: 'trace', frame: 40, folds: 4 });
    const d = detector as Hybrid;
    expect(Object.keys(d.units)).toEqual(['ngram']);
    expect(d.summary()).toMatch(/part bosc: left out, its search cost more than \d+ comparisons per held-out normal window/);
    expect(d.summary()).toMatch(/part ngram: one unit = a score of [\d.]+/);

    // Its score is ngram's, in ngram's unit.
    const test = windowStreams(busyServer(20_000, 2, 6).map((calls) => ({ calls })), SIZE);
    const n = ngram.create();
    n.fit(train);
    const unit = 1 / d.units.ngram!;
    const want = n.score(test).map((x) => x * unit);
    expect(d.score(test)).toEqual(want);
    expect(d.maxScore()).toBe(n.maxScore() / d.units.ngram!);

    // Saved and read back, the part stays out and the scores stay the same.
    const back = modelFromBytes(encodeModel(d, calibration, { filter: 'none' }), 'test model').detector as Hybrid;
    expect(back.summary()).toBe(d.summary());
    expect(back.score(test)).toEqual(d.score(test));
  });

  it('keeps bosc where held-out windows are known bags (a quiet program), and refuses to leave out every part', () => {
    const rand = lcg(9);
    const quiet = Array.from({ length: 12 }, () => Uint16Array.from({ length: 3000 }, (_, i) => [1, 2, 3, 4][(i + (rand() < 0.05 ? 1 : 0)) % 4]!));
    const d = hybrid.create() as Hybrid;
    d.fit(windowStreams(quiet.map((calls) => ({ calls, label: 0 })), SIZE));
    expect(Object.keys(d.units).sort()).toEqual(['bosc', 'ngram']);
    expect(d.summary()).not.toMatch(/left out/);
    expect(() => hybrid.create({ left: { ngram: 'x', bosc: 'y' } })).toThrow(/some, not all/);
  });
});
