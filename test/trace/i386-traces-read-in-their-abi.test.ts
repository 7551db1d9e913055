import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openTrace, readTrace } from '../../src/trace/read-trace.js';
import { I386_ONLY_BASE, syscallName, syscallNumber } from '../../src/trace/syscalls.js';
import { SyswardenError } from '../../src/errors.js';
import { validRecording } from '../fuzz/helpers.js';
import { fixture, nrs } from './helpers.js';

// This kernel runs with 32-bit emulation off, so no i386 process can be
// traced here: the traces below are crafted the way strace prints a 32-bit
// process (its own syscall names and numbers).

const dir = mkdtempSync(join(tmpdir(), 'sw-i386-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const i386 = (name: string): number => {
  const id = syscallNumber(name, 'i386');
  if (id === undefined) throw new Error(`no i386 syscall ${name}`);
  return id;
};

const STRACE = file(
  'i386.strace',
  [
    '_llseek(3, 0, [0], SEEK_SET) = 0',
    'socketcall(SYS_SOCKET, [2, 1, 0]) = 4',
    'mmap2(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0xf7f1e000',
    'read(3, "\\177ELF\\1\\1\\1", 512) = 512',
    'stat64("/etc/ld.so.cache", {st_mode=S_IFREG|0644, st_size=1234, ...}) = 0',
    'syscall_0x8c(3, 0, 0, 0x1, 0) = 0', // i386 number 140: _llseek, printed by number
    'accept(4, NULL, NULL) = 5', // a socketcall subcall: no i386 syscall, but the x86_64 one
    '--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---',
    'exit_group(0) = ?',
    '+++ exited with 0 +++',
    '',
  ].join('\n'),
);

describe('an i386 strace trace', () => {
  it('read with abi i386 gives canonical ids: shared names as x86_64, i386-only names in their own range', async () => {
    const t = await readTrace(STRACE, { abi: 'i386' });
    expect(t.format).toBe('strace');
    const calls = [...t.threads[0]!.calls];
    expect(calls).toEqual([
      i386('_llseek'),
      i386('socketcall'),
      i386('mmap2'),
      ...nrs('read'),
      i386('stat64'),
      i386('_llseek'),
      ...nrs('accept', 'SIGCHLD', 'exit_group'),
    ]);
    expect(nrs('read')[0]).toBe(0); // the x86_64 number, not i386's 3
    for (const name of ['_llseek', 'socketcall', 'mmap2', 'stat64']) {
      expect(i386(name)).toBeGreaterThanOrEqual(I386_ONLY_BASE);
      expect(syscallName(i386(name))).toBe(name);
    }
    expect(t.issues.unknownSyscall).toBe(0);
  });

  it('read as x86_64 (the default) reports the i386-only lines as unknown syscalls, with a hint', async () => {
    const err = await readTrace(STRACE).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyswardenError);
    expect((err as SyswardenError).code).toBe('ERR_TRACE_UNKNOWN_SYSCALL');
    expect((err as Error).message).toMatch(/i386\.strace:1: unknown syscall '_llseek' for x86_64 \(it is an i386 syscall: read the trace with --abi i386\)/);

    const t = await readTrace(STRACE, { lenient: true });
    // _llseek, socketcall, mmap2 and stat64; syscall_0x8c is x86_64's 140 (getpriority), a valid call there.
    expect(t.issues.unknownSyscall).toBe(4);
    expect([...t.threads[0]!.calls]).toEqual(nrs('read', 'getpriority', 'accept', 'SIGCHLD', 'exit_group'));
  });

  it('streams the same canonical ids through openTrace', async () => {
    const src = await openTrace(STRACE, { abi: 'i386', batchSize: 3 });
    const calls: number[] = [];
    for await (const b of src) calls.push(...b.calls);
    expect(calls).toEqual([...(await readTrace(STRACE, { abi: 'i386' })).threads[0]!.calls]);
  });

  it('keeps unnamed i386 numbers unknown instead of guessing an id', async () => {
    const t = await readTrace(file('unnamed.strace', 'syscall_0x3e7(1) = -1 ENOSYS\nread(0, "", 1) = 0\n'), { abi: 'i386', lenient: true });
    expect(t.issues.unknownSyscall).toBe(1);
    expect([...t.threads[0]!.calls]).toEqual(nrs('read'));
  });
});

describe('a plain i386 trace', () => {
  it('reads numbers as i386 numbers and names in the i386 table', async () => {
    // i386: 3 read, 4 write, 140 _llseek, 192 mmap2, 102 socketcall, 6 close.
    const path = file('i386.plain', '3 4 140\n192 102 6\nmmap2 _llseek close\n');
    const t = await readTrace(path, { abi: 'i386' });
    expect(t.format).toBe('plain');
    expect([...t.threads[0]!.calls]).toEqual([
      ...nrs('read', 'write'),
      i386('_llseek'),
      i386('mmap2'),
      i386('socketcall'),
      ...nrs('close'),
      i386('mmap2'),
      i386('_llseek'),
      ...nrs('close'),
    ]);
  });

  it('read as x86_64 keeps the x86_64 meaning of the same numbers', async () => {
    const t = await readTrace(file('x86.plain', '3 4 140\n'));
    expect([...t.threads[0]!.calls]).toEqual(nrs('close', 'stat', 'getpriority'));
  });

  it('refuses an i386 number that names no syscall, and an unknown ABI', async () => {
    await expect(readTrace(file('hole.plain', '3\n222\n'), { abi: 'i386' })).rejects.toThrow(/hole\.plain:2: unknown syscall '222'/);
    await expect(readTrace(file('ok.plain', 'read\n'), { abi: 'arm' as never })).rejects.toThrow(/unknown ABI 'arm'/);
  });
});

describe('the ABI option elsewhere', () => {
  it('does not change how an x86_64 trace reads when given explicitly', async () => {
    const a = await readTrace(fixture('strace-threads.txt'));
    const b = await readTrace(fixture('strace-threads.txt'), { abi: 'x86_64' });
    expect(b.threads.map((t) => [...t.calls])).toEqual(a.threads.map((t) => [...t.calls]));
  });

  it('is ignored by recordings, which carry their own numbering', async () => {
    validRecording(dir);
    const path = join(dir, 'valid.swrec');
    const plain = await readTrace(path);
    const asI386 = await readTrace(path, { abi: 'i386' });
    expect(asI386.format).toBe('recording');
    expect(asI386.threads.map((t) => [...t.calls])).toEqual(plain.threads.map((t) => [...t.calls]));
  });
});
