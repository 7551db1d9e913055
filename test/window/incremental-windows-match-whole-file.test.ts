import { describe, expect, it } from 'vitest';
import { openTrace, readTrace } from '../../src/trace/read-trace.js';
import { IncrementalWindower } from '../../src/window/incremental.js';
import { windowAt, type WindowSet } from '../../src/window/window-set.js';
import { windowStreams } from '../../src/window/windows.js';
import { fixture } from '../trace/helpers.js';

function rowsBySource(set: WindowSet): Map<number, number[][]> {
  const m = new Map<number, number[][]>();
  for (let i = 0; i < set.count; i++) {
    const s = set.source![i]!;
    m.set(s, [...(m.get(s) ?? []), [...windowAt(set, i)]]);
  }
  return m;
}

describe('IncrementalWindower', () => {
  it('pushBatch over interleaved threads gives the same windows per thread as the whole-file windower', async () => {
    for (const size of [2, 3]) {
      const whole = await readTrace(fixture('strace-threads.txt'));
      const expected = windowStreams(whole.threads.map((t) => ({ calls: t.calls })), size);
      const inc = new IncrementalWindower(size);
      for await (const b of await openTrace(fixture('strace-threads.txt'), { batchSize: 3 })) {
        inc.pushBatch(b.threads, b.calls, b.count);
        for (const t of b.ended) inc.forget(t);
      }
      expect(rowsBySource(inc.take())).toEqual(rowsBySource(expected));
      expect(inc.liveThreads).toBe(0);
    }
  });

  it('matches windowStreams on a long random interleaving', () => {
    let seed = 7;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const streams = [0, 1, 2].map(() => Uint16Array.from({ length: 500 }, () => Math.floor(rand() * 40)));
    const pos = [0, 0, 0];
    const inc = new IncrementalWindower(5);
    const tids = new Int32Array(1500);
    const calls = new Uint16Array(1500);
    let n = 0;
    while (n < 1500) {
      const t = Math.floor(rand() * 3);
      if (pos[t]! < 500) {
        tids[n] = t;
        calls[n++] = streams[t]![pos[t]!++]!;
      }
    }
    inc.pushBatch(tids.subarray(0, 700), calls.subarray(0, 700));
    const first = inc.take();
    inc.pushBatch(tids.subarray(700), calls.subarray(700));
    const second = inc.take();
    const got = rowsBySource(first);
    for (const [s, rows] of rowsBySource(second)) got.set(s, [...(got.get(s) ?? []), ...rows]);
    expect(got).toEqual(rowsBySource(windowStreams(streams.map((c) => ({ calls: c })), 5)));
  });

  it('forget() drops a thread so its next call starts a fresh window', () => {
    const inc = new IncrementalWindower(2);
    inc.push(1, 10);
    inc.forget(1);
    inc.push(1, 11);
    expect(inc.take().count).toBe(0);
    inc.push(1, 12);
    expect([...inc.take().data]).toEqual([11, 12]);
  });
});
