import { describe, expect, it } from 'vitest';
import { openTrace, readTrace } from '../../src/trace/read-trace.js';
import { fixture } from './helpers.js';

describe('openTrace', () => {
  it('streams the same events as readTrace, in small batches, with thread ends', async () => {
    const src = await openTrace(fixture('strace-threads.txt'), { batchSize: 2 });
    const perThread: number[][] = [];
    const ended: number[] = [];
    let batches = 0;
    for await (const b of src) {
      batches++;
      expect(b.count).toBeLessThanOrEqual(2);
      for (let i = 0; i < b.count; i++) (perThread[b.threads[i]!] ??= []).push(b.calls[i]!);
      ended.push(...b.ended);
    }
    const whole = await readTrace(fixture('strace-threads.txt'));
    expect(perThread).toEqual(whole.threads.map((t) => [...t.calls]));
    expect(batches).toBeGreaterThan(3);
    expect(ended.sort()).toEqual([0, 1, 2, 3]);
    expect(src.pids).toEqual([0, 101, 100, 101]);
  });
});
