import { describe, expect, it } from 'vitest';
import { windowAt } from '../../src/window/window-set.js';
import { windowStreams } from '../../src/window/windows.js';

describe('windowStreams', () => {
  it('slides with stride 1 inside each stream and never across two', () => {
    const a = Uint16Array.from([1, 2, 3, 4]);
    const b = Uint16Array.from([7, 8, 9]);
    const short = Uint16Array.from([5]);
    const set = windowStreams([{ calls: a, label: 0 }, { calls: short, label: 0 }, { calls: b, label: 1 }], 3);
    expect(set.count).toBe(3);
    expect([...Array(set.count).keys()].map((i) => [...windowAt(set, i)])).toEqual([[1, 2, 3], [2, 3, 4], [7, 8, 9]]);
    expect([...set.source!]).toEqual([0, 0, 2]);
    expect([...set.labels!]).toEqual([0, 0, 1]);
  });

  it('rejects a window size out of range', () => {
    expect(() => windowStreams([], 1)).toThrow(/window size 1 is out of range/);
  });
});
