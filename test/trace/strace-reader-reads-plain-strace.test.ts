import { describe, expect, it } from 'vitest';
import { readTrace } from '../../src/trace/read-trace.js';
import { PSEUDO_BASE } from '../../src/trace/syscalls.js';
import { fixture, nrs } from './helpers.js';

describe('strace reader on plain strace -p output', () => {
  it('yields one stream of syscall numbers, signals as pseudo-syscalls', async () => {
    const t = await readTrace(fixture('strace-plain.txt'));
    expect(t.format).toBe('strace');
    expect(t.threads).toHaveLength(1);
    expect([...t.threads[0]!.calls]).toEqual(nrs('accept4', 'getsockname', 'fcntl', 'read', 'stat', 'SIGCHLD', 'close'));
    expect(t.threads[0]!.calls[5]).toBe(PSEUDO_BASE + 17);
  });
});
