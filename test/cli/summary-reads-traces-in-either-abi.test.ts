import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseEval } from '../../src/cli/eval.js';
import { parse as parseSummary } from '../../src/cli/summary.js';
import { syscallNumber } from '../../src/trace/syscalls.js';
import { expectFailure, runCli } from './helpers.js';

// Runs the built CLI (dist/): build first (npm run build:ts). This kernel runs
// with 32-bit emulation off, so the i386 trace is crafted, not captured.

let dir: string;
let trace: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-abi-'));
  trace = join(dir, 'i386.strace');
  writeFileSync(
    trace,
    [
      '[pid 4242] _llseek(3, 0, [0], SEEK_SET) = 0',
      '[pid 4242] socketcall(SYS_SOCKET, [2, 1, 0]) = 4',
      '[pid 4242] mmap2(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = 0xf7f00000',
      '[pid 4242] read(3, "x", 1) = 1',
      '[pid 4242] read(3, "", 1) = 0',
      '',
    ].join('\n'),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('summary --abi', () => {
  it('summarises an i386 strace trace by canonical id and i386 name', async () => {
    const r = await runCli(['summary', '--abi', 'i386', '--json', trace]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { format: string; abi: string; events: number; threads: number; syscalls: Array<{ name: string; nr: number; count: number }> };
    expect(s).toMatchObject({ format: 'strace', abi: 'i386', events: 5, threads: 1 });
    expect(s.syscalls).toEqual([
      { name: 'read', nr: syscallNumber('read'), count: 2 },
      { name: 'socketcall', nr: syscallNumber('socketcall', 'i386'), count: 1 },
      { name: '_llseek', nr: syscallNumber('_llseek', 'i386'), count: 1 },
      { name: 'mmap2', nr: syscallNumber('mmap2', 'i386'), count: 1 },
    ]);
    const table = await runCli(['summary', '--abi', 'i386', trace]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/format\s+strace, i386 syscall numbering/);
    expect(table.stdout).toMatch(/_llseek\s+1/);
  });

  it('without --abi fails on the first i386-only name and points at --abi i386', async () => {
    expectFailure(await runCli(['summary', trace]), 1, /i386\.strace:1: unknown syscall '_llseek' for x86_64 \(it is an i386 syscall: read the trace with --abi i386\)/);
    const lenient = await runCli(['summary', '--lenient', trace]);
    expect(lenient.code, lenient.stderr).toBe(0);
    expect(lenient.stdout).toMatch(/skipped\s+3 lines: 3 unknown syscalls/);
  });

  it('an unknown ABI is a usage error naming the choices', async () => {
    expectFailure(await runCli(['summary', '--abi', 'arm', trace]), 2, /unknown ABI 'arm'\. Fix: use one of x86_64, i386/);
    expect(() => parseSummary(['--abi', 'arm', trace])).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });
});

describe('eval --abi', () => {
  it('is parsed and checked like the other options', () => {
    const base = ['--normal', 'n', '--attack', 'a'];
    expect(parseEval(base)).toMatchObject({ abi: 'x86_64' });
    expect(parseEval([...base, '--abi', 'i386'])).toMatchObject({ abi: 'i386' });
    expect(() => parseEval([...base, '--abi', 'arm'])).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message: expect.stringMatching(/unknown ABI 'arm'/) }));
  });

  it('reads the traces in that numbering', async () => {
    const normal = join(dir, 'normal.strace');
    const attack = join(dir, 'attack.strace');
    writeFileSync(normal, '_llseek(3, 0, [0], SEEK_SET) = 0\nread(3, "x", 1) = 1\nmmap2(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = 0xf7f00000\nclose(3) = 0\n'.repeat(40));
    writeFileSync(attack, 'socketcall(SYS_SOCKET, [2, 1, 0]) = 4\nread(3, "x", 1) = 1\nclose(3) = 0\n'.repeat(20));
    const args = ['eval', '--normal', normal, '--attack', attack, '--window', '3', '--detector', 'stide', '--split', 'ordered'];
    const [asI386, asDefault] = await Promise.all([runCli([...args, '--abi', 'i386']), runCli(args)]);
    expect(asI386.code, asI386.stderr).toBe(0);
    expectFailure(asDefault, 1, /normal\.strace:1: unknown syscall '_llseek' for x86_64/);
  });
});
