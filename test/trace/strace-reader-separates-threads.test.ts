import { describe, expect, it } from 'vitest';
import { readTrace } from '../../src/trace/read-trace.js';
import { fixture, nrs } from './helpers.js';

describe('strace reader with -f pid prefixes and timestamps', () => {
  it('gives each thread its own stream, counts an unfinished call once, and starts a new stream after +++ exited', async () => {
    const t = await readTrace(fixture('strace-threads.txt'));
    const streams = t.threads.map((th) => ({ pid: th.pid, calls: [...th.calls] }));
    expect(streams).toEqual([
      { pid: 0, calls: nrs('execve', 'clone') },
      { pid: 101, calls: nrs('read', 'write', 'exit_group') },
      { pid: 100, calls: nrs('wait4', 'SIGCHLD') },
      // pid 101 exited; a later line with that pid is a new thread, never joined to the old one
      { pid: 101, calls: nrs('getpid') },
    ]);
  });

  it('reads bare-number pid prefixes with -ttt timestamps', async () => {
    const t = await readTrace(fixture('strace-ttt.txt'));
    expect(t.threads.map((th) => [th.pid, [...th.calls]])).toEqual([
      [200, nrs('openat', 'read', 'close')],
      [201, nrs('futex')],
    ]);
  });
});
