import { describe, expect, it } from 'vitest';
import { isSyswardenError } from '../../src/errors.js';
import { sampleTraces, splitTraces, type TraceTag } from '../../src/detect/split.js';

const SEEDS = Array.from({ length: 200 }, (_, i) => i * 7919 + 1);

/** Traces as a directory listing gives them: normals first, then each kind's files in name order. */
function listing(normals: number, kinds: Record<string, number>): TraceTag[] {
  const out: TraceTag[] = [];
  for (let i = 0; i < normals; i++) out.push({ label: 0, kind: 'normal' });
  for (const kind of Object.keys(kinds).sort()) for (let i = 0; i < kinds[kind]!; i++) out.push({ label: 1, kind });
  return out;
}

const TRACES = listing(9, { adduser: 6, hydra: 5, meterpreter: 2, webshell: 1 });

describe('splitTraces', () => {
  it('gives the same split for the same seed', () => {
    expect(splitTraces(TRACES, 42)).toEqual(splitTraces(TRACES, 42));
  });

  it('gives different splits for different seeds', () => {
    const keys = new Set(SEEDS.slice(0, 20).map((s) => {
      const r = splitTraces(TRACES, s);
      return JSON.stringify([r.train, r.attackTrain]);
    }));
    expect(keys.size).toBeGreaterThan(15);
  });

  it('is disjoint and complete, with normals in train and attacks in attackTrain', () => {
    for (const seed of SEEDS) {
      const r = splitTraces(TRACES, seed);
      const all = [...r.train, ...r.test, ...r.attackTrain].sort((a, b) => a - b);
      expect(all).toEqual(TRACES.map((_, i) => i));
      for (const i of r.train) expect(TRACES[i]!.label).toBe(0);
      for (const i of r.attackTrain) expect(TRACES[i]!.label).toBe(1);
    }
  });

  it('trains on floor(n / 2) normals and tests the rest', () => {
    const r = splitTraces(TRACES, 3);
    expect(r.train).toHaveLength(4);
    expect(r.test.filter((i) => TRACES[i]!.label === 0)).toHaveLength(5);
    const two = splitTraces(listing(2, {}), 3);
    expect([two.train.length, two.test.length]).toEqual([1, 1]);
  });

  it('puts every kind with at least 2 traces on both sides, half to attackTrain, for every seed', () => {
    for (const seed of SEEDS) {
      const r = splitTraces(TRACES, seed);
      const count = (ids: number[], kind: string) => ids.filter((i) => TRACES[i]!.kind === kind && TRACES[i]!.label === 1).length;
      expect([count(r.attackTrain, 'adduser'), count(r.test, 'adduser')]).toEqual([3, 3]);
      expect([count(r.attackTrain, 'hydra'), count(r.test, 'hydra')]).toEqual([2, 3]);
      expect([count(r.attackTrain, 'meterpreter'), count(r.test, 'meterpreter')]).toEqual([1, 1]);
      expect([count(r.attackTrain, 'webshell'), count(r.test, 'webshell')]).toEqual([0, 1]);
    }
  });

  it('reports single-trace kinds as unseen, and the counts per kind', () => {
    const r = splitTraces(TRACES, 5);
    expect(r.unseenKinds).toEqual(['webshell']);
    expect(r.kinds).toEqual([
      { kind: 'adduser', train: 3, test: 3 },
      { kind: 'hydra', train: 2, test: 3 },
      { kind: 'meterpreter', train: 1, test: 1 },
      { kind: 'webshell', train: 0, test: 1 },
    ]);
    expect(r.description).toContain('train on 4 normal traces');
    expect(r.description).toContain('test on 5 normal and 8 attack traces');
    expect(r.description).toContain('adduser 3/3');
    expect(r.description).toContain('webshell');
  });

  it('does not follow file order: the first files of a kind are not what attackTrain gets', () => {
    // With name-sorted files, a split that followed the listing would give attackTrain
    // exactly the first half of each kind for every seed; a random one does so rarely.
    const traces = listing(10, { alpha: 10, beta: 10 });
    let firstHalves = 0;
    const inTrain = new Array<number>(traces.length).fill(0);
    for (const seed of SEEDS) {
      const r = splitTraces(traces, seed);
      const firstOfEach = [10, 11, 12, 13, 14, 20, 21, 22, 23, 24];
      if (JSON.stringify(r.attackTrain) === JSON.stringify(firstOfEach)) firstHalves++;
      for (const i of r.attackTrain) inTrain[i]!++;
      // Normals too: train is not simply the first half of the normal files.
      if (JSON.stringify(r.train) === JSON.stringify([0, 1, 2, 3, 4])) firstHalves++;
    }
    expect(firstHalves).toBeLessThanOrEqual(2);
    // Each attack file, first or last in its kind, lands in attackTrain about half the time.
    for (let i = 10; i < 30; i++) {
      expect(inTrain[i]! / SEEDS.length).toBeGreaterThan(0.3);
      expect(inTrain[i]! / SEEDS.length).toBeLessThan(0.7);
    }
  });

  it('decides each kind by its own members, whatever the order kinds are listed in', () => {
    const forward = listing(4, { alpha: 4, beta: 4 });
    // Same traces with the kinds listed the other way round.
    const backward = [...forward.slice(0, 4), ...forward.slice(8), ...forward.slice(4, 8)];
    const toForward = (i: number) => (i < 4 ? i : i < 8 ? i + 4 : i - 4);
    for (const seed of SEEDS.slice(0, 20)) {
      const a = splitTraces(forward, seed);
      const b = splitTraces(backward, seed);
      expect(b.attackTrain.map(toForward).sort((x, y) => x - y)).toEqual(a.attackTrain);
    }
  });

  it('refuses fewer than 2 normal traces, saying how many are needed', () => {
    for (const n of [0, 1]) {
      let err: unknown;
      try {
        splitTraces(listing(n, { alpha: 3 }), 1);
      } catch (e) {
        err = e;
      }
      expect(isSyswardenError(err) && err.code).toBe('ERR_INVALID_INPUT');
      expect((err as Error).message).toMatch(new RegExp(`at least 2 normal traces.*got ${n}`));
    }
  });

  it('rejects a bad seed, fraction, label or missing kind', () => {
    const bad: (() => unknown)[] = [
      () => splitTraces(TRACES, -1),
      () => splitTraces(TRACES, 1.5),
      () => splitTraces(TRACES, 2 ** 32),
      () => splitTraces(TRACES, 1, { normalTrain: 0 }),
      () => splitTraces(TRACES, 1, { attackTrain: 1 }),
      () => splitTraces([...TRACES, { label: 2 as 1, kind: 'x' }], 1),
      () => splitTraces([...TRACES, { label: 1, kind: '' }], 1),
    ];
    for (const f of bad) expect(f).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });

  it('honours other fractions while keeping both sides non-empty', () => {
    const r = splitTraces(listing(10, { alpha: 3 }), 9, { normalTrain: 0.8, attackTrain: 0.1 });
    expect(r.train).toHaveLength(8);
    expect(r.attackTrain).toHaveLength(1);
  });

  it('describes a split with no attack traces', () => {
    const r = splitTraces(listing(3, {}), 1);
    expect(r.attackTrain).toEqual([]);
    expect(r.description).toContain('no attack traces');
  });
});

describe('sampleTraces', () => {
  const kindsOf = (traces: readonly TraceTag[], keep: readonly number[]) => {
    const n = new Map<string, number>();
    for (const i of keep) n.set(traces[i]!.kind, (n.get(traces[i]!.kind) ?? 0) + 1);
    return Object.fromEntries(n);
  };

  it('keeps at most n of each class, shares the attack sample among kinds in proportion, and loses no kind', () => {
    const traces = listing(500, { adduser: 300, hydra: 90, meterpreter: 9, webshell: 1 });
    const { keep, description } = sampleTraces(traces, 40, 3);
    expect(kindsOf(traces, keep)).toEqual({ normal: 40, adduser: 29, hydra: 9, meterpreter: 1, webshell: 1 });
    expect(new Set(keep).size).toBe(keep.length);
    expect(keep).toEqual([...keep].sort((a, b) => a - b));
    expect(description).toBe('Sample (seed 3): 40 of 500 normal traces and 40 of 400 attack traces.');
  });

  it('keeps everything there is when a class is smaller than n, and is the same for the same seed only', () => {
    const traces = listing(50, { a: 5, b: 3 });
    const one = sampleTraces(traces, 20, 1);
    expect(kindsOf(traces, one.keep)).toEqual({ normal: 20, a: 5, b: 3 });
    expect(sampleTraces(traces, 20, 1).keep).toEqual(one.keep);
    expect(sampleTraces(traces, 20, 2).keep).not.toEqual(one.keep);
  });

  it('says which kinds it left out when there are more kinds than n', () => {
    const traces = listing(10, { a: 10, b: 5, c: 1 });
    const { keep, description } = sampleTraces(traces, 2, 1);
    expect(kindsOf(traces, keep)).toEqual({ normal: 2, a: 1, b: 1 });
    expect(description).toMatch(/2 of 16 attack traces; kind c left out \(more kinds than --sample\)/);
  });

  it('refuses a sample too small to split', () => {
    for (const n of [0, 1, 2.5, Number.NaN]) expect(() => sampleTraces(TRACES, n, 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });

  it('refuses a bad label or a kindless attack in its own name, not the split\'s', () => {
    for (const bad of [{ label: 2 as 1, kind: 'x' }, { label: 1 as const, kind: '' }]) {
      expect(() => sampleTraces([...TRACES, bad], 4, 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', message: expect.stringMatching(/^sampleTraces: trace|^sampleTraces: attack trace/) }));
      expect(() => splitTraces([...TRACES, bad], 1)).toThrow(expect.objectContaining({ message: expect.stringMatching(/^splitTraces: /) }));
    }
  });
});
