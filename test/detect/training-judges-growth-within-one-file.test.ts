import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { trainFromFiles } from '../../src/detect/train.js';

// Whether the normal database stopped growing is judged on the last quarter
// of the windows. Trained from one file, the learning curve has a single
// point (one per file), and the judgement said the last quarter added every
// distinct window: "still growing" for any one recording, however settled.
const dir = mkdtempSync(join(tmpdir(), 'sw-growth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A plain trace of `n` calls: a loop of five calls, with one of `extra` calls after each loop once `from` calls have gone by. */
function trace(name: string, n: number, from: number, extra: number[]): string {
  const loop = [0, 1, 3, 5, 8];
  const calls: number[] = [];
  for (let i = 0; calls.length < n; i++) {
    calls.push(...loop);
    if (calls.length >= from && extra.length > 0) calls.push(extra[i % extra.length]!);
  }
  const path = join(dir, name);
  writeFileSync(path, calls.slice(0, n).join(' ') + '\n');
  return path;
}

it('one settled file: stopped growing; one whose last fifth is new: still growing, with what it added', async () => {
  const settled = await trainFromFiles({ from: [trace('settled', 80_000, Infinity, [])], model: join(dir, 'a.model'), window: 6, read: { format: 'plain' } });
  expect(settled.converged, settled.convergence).toBe(true);
  expect(settled.convergence).toMatch(/stopped growing: the last quarter of the windows added 0 of 5 distinct windows/);

  const late = await trainFromFiles({ from: [trace('late', 80_000, 64_000, [20, 21, 22, 23, 24, 25, 26])], model: join(dir, 'b.model'), window: 6, read: { format: 'plain' } });
  expect(late.converged, late.convergence).toBe(false);
  const m = /still growing: the last quarter of the windows added (\d+) of (\d+) distinct windows/.exec(late.convergence);
  expect(m, late.convergence).not.toBeNull();
  // Everything after the loop alone came in the last fifth, so in the last quarter.
  expect(Number(m![1])).toBe(Number(m![2]) - 5);
});
