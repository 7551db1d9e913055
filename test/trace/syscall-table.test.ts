import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SYSCALL_TABLE_SOURCE } from '../../src/trace/syscall-table.generated.js';
import { MAX_SYSCALL, PSEUDO_BASE, syscallEntries, syscallName, syscallNumber } from '../../src/trace/syscalls.js';

describe('x86_64 syscall table', () => {
  it('is generated from the system header, entry for entry', () => {
    const header = readFileSync(SYSCALL_TABLE_SOURCE, 'utf8');
    const defs = [...header.matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)];
    expect(defs.length).toBeGreaterThan(300);
    for (const [, name, nr] of defs) {
      expect(syscallName(Number(nr))).toBe(name);
      expect(syscallNumber(name!)).toBe(Number(nr));
    }
    expect(MAX_SYSCALL).toBe(Math.max(...defs.map((d) => Number(d[2]))));
  });

  it('knows the numbers the kernel reports for well-known calls', () => {
    expect(syscallNumber('read')).toBe(0);
    expect(syscallNumber('execve')).toBe(59);
    expect(syscallNumber('getppid')).toBe(110);
    expect(syscallName(257)).toBe('openat');
  });

  it('names unknown numbers instead of failing, and round-trips them', () => {
    expect(syscallName(999)).toBe('sys_999');
    expect(syscallNumber('sys_999')).toBe(999);
    expect(syscallNumber('no_such_call')).toBeUndefined();
  });

  it('keeps signal pseudo-syscalls apart from real numbers', () => {
    const sigchld = syscallNumber('SIGCHLD')!;
    expect(sigchld).toBeGreaterThanOrEqual(PSEUDO_BASE);
    expect(syscallName(sigchld)).toBe('SIGCHLD');
    expect(syscallEntries().filter(([nr]) => nr >= PSEUDO_BASE).map(([, n]) => n)).toContain('SIGPIPE');
  });
});
