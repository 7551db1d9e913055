import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { FrameDecision, windowTrim } from '../../src/detect/decision.js';
import { shortThreads } from '../../src/detect/short-threads.js';
import { runCli } from '../cli/helpers.js';

// A server that starts a thread per request makes threads of a few dozen
// calls. The frame decision leaves out each frame's w highest windows, so a
// thread with no more windows than that can never alarm, whatever it does:
// at window 15, every request thread of such a server was out of sight and
// nothing said so. Training now names them and the window that sees them.
const dir = mkdtempSync(join(tmpdir(), 'sw-short-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('the threads named are exactly those the frame decision can never let alarm', () => {
  for (const w of [3, 6, 9, 15]) {
    const frame = 40;
    const alarms = (calls: number) => {
      const d = new FrameDecision(frame, windowTrim(w, frame));
      let peak = 0;
      // Every window of the thread as unusual as a window can be.
      for (let i = 0; i < calls - w + 1; i++) peak = Math.max(peak, d.push(1, 1));
      return peak > 0;
    };
    const shortest = 2 * w;
    expect(alarms(shortest - 1), `w=${w}: ${shortest - 1} calls`).toBe(false);
    expect(alarms(shortest), `w=${w}: ${shortest} calls`).toBe(true);
    // One thread of each length, as windows at w: only the shorter is counted.
    const s = shortThreads([shortest - 1 - w + 1, shortest - w + 1], w, frame);
    expect(s?.threads, `w=${w}`).toBe(1);
    expect(s?.share).toBeCloseTo((shortest - 1) / (2 * shortest - 1), 9);
  }
  // Few short threads (under 5 % of the calls): nothing to say.
  expect(shortThreads([1, 1000], 15, 40)).toBeNull();
});

/** An strace -f trace: a long-lived listener thread and `requests` request threads of `perRequest` calls each. */
function threadPerRequestTrace(requests: number, perRequest: number): string {
  const lines: string[] = [];
  const handler = ['set_robust_list', 'rseq', 'recvfrom', 'newfstatat', 'openat', 'fstat', 'read', 'read', 'close', 'sendto', 'sendto', 'shutdown', 'close', 'madvise'];
  for (let r = 0; r < requests; r++) {
    for (const c of ['poll', 'accept4', 'getsockname', 'fcntl', 'mmap', 'mprotect', 'clone3', 'futex']) lines.push(`100 ${c}() = 0`);
    const tid = 1000 + r;
    for (let k = 0; k < perRequest - 1; k++) lines.push(`${tid} ${handler[k % handler.length]}() = 0`);
    lines.push(`${tid} exit(0) = ?`);
    lines.push(`${tid} +++ exited with 0 +++`);
  }
  const path = join(dir, `trace-${requests}-${perRequest}`);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

it('train names a thread-per-request server\'s threads at a window too long to see them, and the window that does', async () => {
  const trace = threadPerRequestTrace(300, 24);
  const long = await runCli(['train', '--from', trace, '--window', '15', '--model', join(dir, 'w15.model')], 120_000);
  expect(long.code, long.stderr).toBe(0);
  // 24 calls: 10 windows at 15, all left out of every frame; at 12 (13 windows, 12 left out) they show.
  expect(long.stderr).toMatch(/warning: 300 of 301 threads \(\d+ % of the calls learnt\) made 29 calls or fewer/);
  expect(long.stderr).toMatch(/can never alarm at window 15.*Fix: train with --window 12 or less \(there 0\.0 % of the calls are in such threads\)/);

  const short = await runCli(['train', '--from', trace, '--window', '6', '--model', join(dir, 'w6.model')], 120_000);
  expect(short.code, short.stderr).toBe(0);
  expect(short.stderr).not.toMatch(/can never alarm/);
});
