import { expect, it } from 'vitest';
import { scoreDistinct, uniqueWindows } from '../../src/detect/lib/unique.js';

it('distinct windows carry their per-class counts and every window maps back to its distinct row', () => {
  const data = Uint16Array.from([1, 2, 3, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);
  const labels = Uint8Array.from([0, 0, 0, 1, 1]);
  const u = uniqueWindows({ size: 3, count: 5, data, labels });
  expect(u.count).toBe(2);
  expect(Array.from(u.data)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(Array.from(u.normal)).toEqual([2, 1]);
  expect(Array.from(u.attack)).toEqual([1, 1]);
  expect(Array.from(u.index)).toEqual([0, 0, 1, 0, 1]);
  const normalOnly = uniqueWindows({ size: 3, count: 5, data, labels }, 'normal');
  expect(Array.from(normalOnly.index)).toEqual([0, 0, 1, -1, -1]);
  const scores = scoreDistinct({ size: 3, count: 5, data }, undefined, (rows, n) => Float64Array.from({ length: n }, (_, i) => rows[i * 3]!));
  expect(Array.from(scores)).toEqual([1, 1, 4, 1, 4]);
});
