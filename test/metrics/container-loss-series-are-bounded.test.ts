import { describe, expect, it } from 'vitest';
import { ContainerLosses } from '../../src/metrics/container-losses.js';

const name = (id: number) => `c${id}`;
const series = (l: ContainerLosses) => Object.fromEntries([...l.entries()].map(([k, v]) => [k, { ...v }]));

describe('per-container loss series', () => {
  it('name at most maxSeries containers, the first to lose anything; the rest add to "other"', () => {
    const l = new ContainerLosses(name, 2);
    const rows = [1, 2, 3, 4].map((id) => ({ id, kernel: id * 10, consumer: 0 }));
    l.update(rows, {}, { kernel: 100, consumer: 0, scoring: 0 });
    expect(series(l)).toEqual({
      c1: { kernel: 10, consumer: 0, scoring: 0 },
      c2: { kernel: 20, consumer: 0, scoring: 0 },
      other: { kernel: 70, consumer: 0, scoring: 0 },
      unattributed: { kernel: 0, consumer: 0, scoring: 0 },
    });
    expect(l.namedSeries).toBe(2);
    // Thousands of containers later, still two named series.
    l.update(Array.from({ length: 5000 }, (_, i) => ({ id: 10 + i, kernel: 1, consumer: 1 })), { 7: 3 }, { kernel: 5100, consumer: 5000, scoring: 3 });
    expect([...l.entries()].map(([k]) => k).sort()).toEqual(['c1', 'c2', 'other', 'unattributed']);
    expect(series(l).other).toEqual({ kernel: 5070, consumer: 5000, scoring: 3 });
  });

  it('keep what a removed target lost, count a reused id afresh, and never go down', () => {
    const l = new ContainerLosses(name, 10);
    l.update([{ id: 5, kernel: 40, consumer: 2 }], { 5: 1 }, { kernel: 40, consumer: 2, scoring: 1 });
    // Target 5 is gone from the collector's rows: its series stays.
    l.update([], { 5: 1 }, { kernel: 40, consumer: 2, scoring: 1 });
    expect(series(l).c5).toEqual({ kernel: 40, consumer: 2, scoring: 1 });
    // Id 5 again, a new target (its counts restart below the last reading): all of it is new.
    l.update([{ id: 5, kernel: 7, consumer: 0 }], { 5: 1 }, { kernel: 47, consumer: 2, scoring: 1 });
    expect(series(l).c5).toEqual({ kernel: 47, consumer: 2, scoring: 1 });
  });

  it('put what no target accounts for under "unattributed", so each stage sums to its total', () => {
    const l = new ContainerLosses(name, 10);
    l.update([{ id: 1, kernel: 5, consumer: 0 }], {}, { kernel: 5, consumer: 0, scoring: 9 });
    expect(series(l).unattributed).toEqual({ kernel: 0, consumer: 0, scoring: 9 });
    // A total read a moment before the rows (rows ahead of it) takes nothing back.
    l.update([{ id: 1, kernel: 8, consumer: 0 }], {}, { kernel: 6, consumer: 0, scoring: 9 });
    expect(series(l).unattributed!.kernel).toBe(0);
  });

  it('refuses a cap that is not a whole number from 1 to 10000', () => {
    expect(() => new ContainerLosses(name, 0)).toThrow(RangeError);
    expect(() => new ContainerLosses(name, 1.5)).toThrow(/whole number from 1 to 10000/);
  });
});
