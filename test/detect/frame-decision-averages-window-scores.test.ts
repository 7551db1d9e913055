import { describe, expect, it } from 'vitest';
import { FrameDecision, MAX_FRAME, decisionScores } from '../../src/detect/decision.js';
import { factory as ngram } from '../../src/detect/ngram.js';
import { SyswardenError } from '../../src/errors.js';
import type { WindowSet } from '../../src/window/window-set.js';
import { sliceWindows } from '../../src/window/windows.js';
import { lcg, toyProblem } from './helpers/sequence-toy.js';

/** The frame mean at window i of one stream: its last `frame` scores summed in order, the missing ones (before the frame-th window) counted as 0. */
function frameMean(raw: ArrayLike<number>, i: number, frame: number): number {
  let s = 0;
  for (let j = Math.max(0, i - frame + 1); j <= i; j++) s += raw[j]!;
  return s / frame;
}

/** Real window scores to average: an ngram model's, on the toy program's attack run (one stream). */
function ngramScores(): { set: WindowSet; raw: Float64Array } {
  const toy = toyProblem(4);
  const d = ngram.create();
  d.fit(toy.train);
  return { set: toy.attackTest, raw: d.score(toy.attackTest) };
}

describe('the frame decision', () => {
  it('is the mean of the last L window scores of the stream, the windows before its L-th counting as 0', () => {
    const { set, raw } = ngramScores();
    const mean = decisionScores(set, raw, 3);
    expect(mean[0]).toBeCloseTo(raw[0]! / 3, 12);
    expect(mean[1]).toBeCloseTo((raw[0]! + raw[1]!) / 3, 12);
    for (let i = 0; i < set.count; i++) expect(mean[i], `window ${i}`).toBeCloseTo(frameMean(raw, i, 3), 12);
    // The injected run (calls 200..259) raises the mean well above the normal stretch before it.
    expect(mean[230]!).toBeGreaterThan(2 * mean[100]!);
    // A frame of 1 is the window score itself.
    expect(decisionScores(set, raw, 1)).toEqual(raw);
  });

  it('keeps a frame per stream: interleaved streams never see each other', () => {
    const { set, raw } = ngramScores();
    const source = Int32Array.from({ length: set.count }, (_, i) => i % 2);
    const inter = decisionScores({ ...set, source }, raw, 3);
    expect(inter[1]).toBeCloseTo(raw[1]! / 3, 12);
    expect(inter[4]).toBeCloseTo((raw[0]! + raw[2]! + raw[4]!) / 3, 12);
    expect(inter[5]).toBeCloseTo((raw[1]! + raw[3]! + raw[5]!) / 3, 12);
    // Each stream decided alone gives exactly its entries of the interleaved decision.
    for (const s of [0, 1]) {
      const own = raw.filter((_, i) => i % 2 === s);
      const alone = decisionScores({ size: set.size, count: own.length, data: new Uint16Array(own.length * set.size), source: new Int32Array(own.length) }, own, 3);
      expect(inter.filter((_, i) => i % 2 === s)).toEqual(alone);
    }
  });

  it('gives the same decisions whether windows come one by one, in batches of any size, or all at once', () => {
    const { set, raw } = ngramScores();
    const source = Int32Array.from({ length: set.count }, (_, i) => (i * 7919) % 3);
    const streams = { ...set, source };
    const frame = 5;
    const whole = decisionScores(streams, raw, frame);

    const oneByOne = new FrameDecision(frame);
    expect(Float64Array.from(raw, (s, i) => oneByOne.push(source[i]!, s))).toEqual(whole);

    const rand = lcg(3);
    const batched = new FrameDecision(frame);
    const out = new Float64Array(set.count);
    for (let from = 0; from < set.count; ) {
      const to = Math.min(set.count, from + 1 + Math.floor(rand() * 40));
      out.set(batched.decide(sliceWindows(streams, from, to), raw.subarray(from, to)), from);
      from = to;
    }
    expect(out).toEqual(whole);

    // In place, over the scores themselves, as the worker does.
    const inPlace = Float64Array.from(raw);
    new FrameDecision(frame).decide(streams, inPlace, inPlace);
    expect(inPlace).toEqual(whole);
    expect(batched.streams).toBe(3);
  });

  it('forgets an exited stream: the next window of that id starts a fresh frame, other streams keep theirs', () => {
    const f = new FrameDecision(4);
    expect(f.push(1, 1)).toBe(0.25);
    for (let i = 0; i < 3; i++) f.push(0, 1);
    expect(f.push(0, 1)).toBe(1);
    expect(f.streams).toBe(2);
    // Stream 0 was the last one pushed to: forgetting it must not leave its frame behind in a cache.
    f.forget(0);
    expect(f.streams).toBe(1);
    expect(f.push(0, 1)).toBe(0.25);
    expect(f.push(1, 1)).toBe(0.5);
    f.forget(42);
    expect(f.streams).toBe(2);
  });

  it('keeps its running sum exact: the true sum at every frame turn, within rounding between turns', () => {
    const frame = 7;
    const f = new FrameDecision(frame);
    const rand = lcg(11);
    const raw: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      // Scores of every size a detector gives, with long runs of anomalies to drift on.
      const s = i % 500 < 100 ? rand() : rand() < 0.3 ? rand() * 1e-3 : 0;
      raw.push(s);
      const m = f.push(0, s);
      if ((i + 1) % frame === 0) expect(m, `window ${i}, a frame turn`).toBe(frameMean(raw, i, frame));
      else expect(Math.abs(m - frameMean(raw, i, frame)), `window ${i}`).toBeLessThan(1e-12);
    }
  });

  it('decides exactly 0 on a frame of windows that all score 0, whatever came before (a threshold can sit just above 0)', () => {
    // The scores BOSC gives windows of 3 calls entering and leaving a run of foreign calls.
    for (const frame of [4, 5, 8, 40]) {
      for (let run = 0; run < 12; run++) {
        const f = new FrameDecision(frame);
        const scores = [1 / 3, 2 / 3, ...Array<number>(run).fill(1), 2 / 3, 1 / 3];
        for (const s of scores) f.push(0, s);
        const after: number[] = [];
        for (let i = 0; i < frame; i++) after.push(f.push(0, 0));
        expect(after.every((m) => m >= 0), `frame ${frame}, run ${run}: a negative mean ${after.find((m) => m < 0)}`).toBe(true);
        expect(after[frame - 1], `frame ${frame}, run ${run}: the mean of ${frame} zeros`).toBe(0);
      }
    }
  });

  it('refuses a frame that is not a whole number of windows from 1 to MAX_FRAME', () => {
    for (const bad of [0, -1, 1.5, NaN, MAX_FRAME + 1]) {
      expect(() => new FrameDecision(bad)).toThrow(SyswardenError);
      expect(() => new FrameDecision(bad)).toThrow(/decision frame .* is out of range\. Fix: use a whole number of windows from 1 to/);
    }
    expect(new FrameDecision(MAX_FRAME).frame).toBe(MAX_FRAME);
  });
});

describe('FrameDecision with a trim', () => {
  const brute = (ring: number[], frame: number, trim: number) => {
    const full = [...Array(Math.max(0, frame - ring.length)).fill(0), ...ring.slice(-frame)].sort((a, b) => a - b);
    return full.slice(0, frame - trim).reduce((a, b) => a + b, 0) / (frame - trim);
  };

  it('is the mean of the frame less its highest `trim` scores, window by window', () => {
    let x = 12345;
    const rand = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const d = new FrameDecision(10, 3);
    const seen: number[] = [];
    for (let i = 0; i < 500; i++) {
      const v = rand() < 0.5 ? 0 : rand() * 40 - 5; // zeros, positives and a few negatives
      seen.push(v);
      expect(d.push(7, v)).toBeCloseTo(brute(seen, 10, 3), 9);
    }
  });

  it('never alarms on one displaced call: up to `trim` unusual windows in a row leave the decision at 0', () => {
    const w = 6;
    const d = new FrameDecision(40, w);
    let max = 0;
    for (let i = 0; i < 200; i++) max = Math.max(max, d.push(1, i >= 100 && i < 100 + w ? 36 : 0));
    expect(max).toBe(0);
    // One more unusual window than a displaced call can make, and the frame moves.
    const e = new FrameDecision(40, w);
    let peak = 0;
    for (let i = 0; i < 200; i++) peak = Math.max(peak, e.push(1, i >= 100 && i < 100 + w + 1 ? 36 : 0));
    expect(peak).toBeCloseTo(36 / (40 - w), 12);
  });

  it('pushAgainst decides exactly as push: the same alarms, the exact score wherever it alarms', () => {
    let x = 99;
    const rand = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (const threshold of [0.5, 2, 8]) {
      const exact = new FrameDecision(20, 4);
      const lazy = new FrameDecision(20, 4);
      for (let i = 0; i < 3000; i++) {
        const src = Math.floor(rand() * 3);
        const v = rand() < 0.7 ? 0 : rand() < 0.05 ? -1 : rand() * 30;
        const a = exact.push(src, v);
        const b = lazy.pushAgainst(src, v, threshold);
        expect(b >= threshold).toBe(a >= threshold);
        if (a >= threshold) expect(b).toBe(a);
      }
    }
  });

  it('keeps each frame sorted as it slides: the trimmed mean is bit for bit that of the frame sorted afresh', () => {
    // The sorted frame takes a few changes at a time, or is sorted afresh after many (pushAgainst skips the mean
    // far below the threshold); either way the same scores are summed in the same order as sorting the frame would.
    let x = 4242;
    const rand = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const exactMean = (ring: number[], frame: number, trim: number) => {
      const s = Float64Array.from([...Array(Math.max(0, frame - ring.length)).fill(0), ...ring.slice(-frame)]).sort();
      let sum = 0;
      for (let i = 0; i < frame - trim; i++) sum += s[i]!;
      return sum / (frame - trim);
    };
    for (const [frame, trim] of [[40, 6], [40, 15], [7, 3], [2, 1]] as const) {
      const d = new FrameDecision(frame, trim);
      const rings = new Map<number, number[]>();
      for (let i = 0; i < 20_000; i++) {
        const src = Math.floor(rand() * 4);
        const r = rand();
        // Repeated values, zeros of both signs, negatives, now and then a NaN; and runs of the same score.
        const v = r < 0.3 ? 0 : r < 0.35 ? -0 : r < 0.5 ? [1, 2.5, 3][Math.floor(rand() * 3)]! : r < 0.55 ? -rand() : r < 0.5501 ? Number.NaN : rand() * 50;
        const ring = rings.get(src) ?? [];
        ring.push(v);
        if (ring.length > frame) ring.shift();
        rings.set(src, ring);
        if (rand() < 0.002) {
          d.forget(src);
          rings.delete(src);
          continue;
        }
        // Sometimes the exact mean, sometimes only whether it reaches a threshold that many pushes stay far below.
        if (rand() < 0.6) expect(d.push(src, v)).toBe(exactMean(ring, frame, trim));
        else {
          const got = d.pushAgainst(src, v, 40);
          const want = exactMean(ring, frame, trim);
          if (want >= 40 || Number.isNaN(want)) expect(got).toBe(want);
        }
      }
    }
  });

  it('refuses a trim that leaves nothing to average', () => {
    expect(() => new FrameDecision(5, 5)).toThrow(/trim 5 is out of range for a frame of 5 windows/);
    expect(() => new FrameDecision(5, -1)).toThrow(/trim -1/);
  });
});
