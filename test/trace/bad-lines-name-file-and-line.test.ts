import { describe, expect, it } from 'vitest';
import { readTrace } from '../../src/trace/read-trace.js';
import { SyswardenError } from '../../src/errors.js';
import { fixture, nrs } from './helpers.js';

describe('malformed lines and unknown syscalls', () => {
  it('fail by default, naming file, line and the fix', async () => {
    const err = await readTrace(fixture('strace-malformed.txt'), { format: 'strace' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyswardenError);
    expect((err as SyswardenError).code).toBe('ERR_TRACE_MALFORMED');
    expect((err as Error).message).toMatch(/strace-malformed\.txt:3: not a strace line \(expected .*--lenient/);
    expect((err as Error).message).not.toContain('this is not strace output');
  });

  it('an unknown strace syscall names file and line', async () => {
    await expect(readTrace(fixture('strace-unknown.txt'))).rejects.toThrow(/strace-unknown\.txt:2: unknown syscall 'frobnicate'\. Fix: .*--lenient/);
  });

  it('an unknown name in a plain list names file and line', async () => {
    await expect(readTrace(fixture('plain-unknown.txt'))).rejects.toThrow(/plain-unknown\.txt:3: unknown syscall 'not_a_syscall'/);
  });

  it('are skipped and counted when lenient', async () => {
    const t = await readTrace(fixture('strace-malformed.txt'), { format: 'strace', lenient: true });
    expect([...t.threads[0]!.calls]).toEqual(nrs('read', 'close', 'write'));
    expect(t.issues.malformed).toBe(1);
    expect(t.issues.examples[0]).toMatch(/strace-malformed\.txt:3/);
    const u = await readTrace(fixture('plain-unknown.txt'), { lenient: true });
    expect(u.issues.unknownSyscall).toBe(1);
    expect([...u.threads[0]!.calls]).toEqual(nrs('read', 'close', 'write'));
  });
});
