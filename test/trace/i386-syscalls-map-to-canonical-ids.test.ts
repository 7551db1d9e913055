import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  I386_ONLY_COUNT,
  I386_SYSCALL_TABLE_SOURCE,
  I386_SYSCALLS,
  SYSCALL_TABLE_SOURCE,
} from '../../src/trace/syscall-table.generated.js';
import {
  ABIS,
  I386_ONLY_BASE,
  MAX_SYSCALL,
  PSEUDO_BASE,
  canonicalFromNative,
  nativeFromCanonical,
  parseAbi,
  syscallEntries,
  syscallName,
  syscallNumber,
} from '../../src/trace/syscalls.js';
import { SyswardenError } from '../../src/errors.js';
import { projectRoot } from '../cli/helpers.js';

// This kernel runs with 32-bit emulation off, so no i386 process can be
// traced here: the i386 tables and decoding are tested against the header
// and with crafted traces.

/** `__NR_name nr` pairs of a unistd header, parsed independently of the generator. */
function headerDefs(path: string): Array<[string, number]> {
  return [...readFileSync(path, 'utf8').matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)].map((m) => [m[1]!, Number(m[2])]);
}

const i386 = headerDefs(I386_SYSCALL_TABLE_SOURCE);
const x86Names = new Set(headerDefs(SYSCALL_TABLE_SOURCE).map(([name]) => name));

describe('the i386 syscall table', () => {
  it('is generated from the unistd_32.h beside the x86_64 header, entry for entry', () => {
    expect(I386_SYSCALL_TABLE_SOURCE).toMatch(/unistd_32\.h$/);
    expect(i386.length).toBeGreaterThan(300);
    for (const [name, nr] of i386) {
      const id = canonicalFromNative('i386', nr);
      expect(id, name).toBeDefined();
      expect(syscallName(id!)).toBe(name);
      expect(syscallNumber(name, 'i386')).toBe(id);
      expect(nativeFromCanonical('i386', id!)).toBe(nr);
    }
    // Numbers the header does not define are no syscall.
    const defined = new Set(i386.map(([, nr]) => nr));
    for (let nr = 0; nr < I386_SYSCALLS.length + 10; nr++) if (!defined.has(nr)) expect(canonicalFromNative('i386', nr)).toBeUndefined();
  });

  it('gives a syscall x86_64 also has its x86_64 number', () => {
    const shared = i386.filter(([name]) => x86Names.has(name));
    expect(shared.length).toBeGreaterThan(200);
    for (const [name, nr] of shared) {
      expect(canonicalFromNative('i386', nr), name).toBe(syscallNumber(name));
      expect(syscallNumber(name, 'i386')).toBe(syscallNumber(name, 'x86_64'));
    }
    expect(canonicalFromNative('i386', 3)).toBe(syscallNumber('read')); // read: i386 3, x86_64 0
    expect(canonicalFromNative('i386', 11)).toBe(syscallNumber('execve'));
  });

  it('gives i386-only syscalls their own ids in header order, from I386_ONLY_BASE and below PSEUDO_BASE', () => {
    const only = i386.filter(([name]) => !x86Names.has(name)).sort((a, b) => a[1] - b[1]);
    expect(only.length).toBe(I386_ONLY_COUNT);
    expect(I386_ONLY_BASE).toBeGreaterThan(MAX_SYSCALL);
    expect(I386_ONLY_BASE + I386_ONLY_COUNT).toBeLessThanOrEqual(PSEUDO_BASE);
    only.forEach(([name, nr], k) => {
      expect(canonicalFromNative('i386', nr), name).toBe(I386_ONLY_BASE + k);
      expect(syscallNumber(name)).toBeUndefined(); // not an x86_64 name
      expect(nativeFromCanonical('x86_64', I386_ONLY_BASE + k)).toBeUndefined();
    });
    for (const name of ['socketcall', '_llseek', 'mmap2', 'waitpid', 'sigreturn', 'ipc', 'stat64', 'fcntl64']) {
      expect(syscallNumber(name, 'i386'), name).toBeGreaterThanOrEqual(I386_ONLY_BASE);
    }
    // Look-alikes stay apart: socketcall is not socket, mmap2 is not mmap.
    expect(syscallNumber('socketcall', 'i386')).not.toBe(syscallNumber('socket'));
    expect(syscallNumber('mmap2', 'i386')).not.toBe(syscallNumber('mmap'));
  });

  it('keeps canonical ids unique and below PSEUDO_BASE across both ABIs', () => {
    for (const abi of ABIS) {
      const seen = new Map<number, number>();
      for (let nr = 0; nr < 1100; nr++) {
        const id = canonicalFromNative(abi, nr);
        if (id === undefined) continue;
        expect(id).toBeLessThan(PSEUDO_BASE);
        expect(seen.get(id), `${abi} ${nr} and ${seen.get(id)} share id ${id}`).toBeUndefined();
        seen.set(id, nr);
      }
    }
    const names = syscallEntries().filter(([nr]) => nr < PSEUDO_BASE);
    expect(new Set(names.map(([, n]) => n)).size).toBe(names.length);
  });

  it('keeps x86_64 numbers as they were, up to the i386-only range', () => {
    expect(canonicalFromNative('x86_64', 0)).toBe(0);
    expect(canonicalFromNative('x86_64', MAX_SYSCALL)).toBe(MAX_SYSCALL);
    expect(canonicalFromNative('x86_64', I386_ONLY_BASE - 1)).toBe(I386_ONLY_BASE - 1); // newer than the headers
    expect(canonicalFromNative('x86_64', I386_ONLY_BASE)).toBeUndefined();
    expect(canonicalFromNative('x86_64', -1)).toBeUndefined();
    expect(canonicalFromNative('x86_64', 1.5)).toBeUndefined();
    expect(syscallNumber('SIGCHLD', 'i386')).toBe(syscallNumber('SIGCHLD'));
  });

  it('refuses an unknown ABI, naming the choices', () => {
    expect(() => parseAbi('arm')).toThrow(SyswardenError);
    expect(() => parseAbi('arm')).toThrow(/unknown ABI 'arm'.*x86_64, i386/);
    expect(() => syscallNumber('read', 'constructor' as never)).toThrow(/unknown ABI 'constructor'/);
    expect(() => canonicalFromNative('__proto__' as never, 0)).toThrow(/unknown ABI/);
  });
});

describe('the table generator', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-gen-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const generate = (env: Record<string, string>) =>
    spawnSync(process.execPath, [join(projectRoot, 'scripts/gen-syscalls.mjs')], { env: { ...process.env, ...env }, encoding: 'utf8' });

  // Only failing runs: they stop before writing, so the real generated table is never touched.
  it('fails loudly when the i386-only syscalls would not fit below PSEUDO_BASE', () => {
    const header = join(dir, 'unistd_32.h');
    const extra = Array.from({ length: PSEUDO_BASE }, (_, i) => `#define __NR_only_i386_${i} ${2000 + i}`).join('\n');
    writeFileSync(header, `${readFileSync(I386_SYSCALL_TABLE_SOURCE, 'utf8')}\n${extra}\n`);
    const r = generate({ SYSWARDEN_UNISTD_32_H: header });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/i386-only syscalls: ids .* do not fit below PSEUDO_BASE \(1024\)/);
  });

  it('fails loudly when x86_64 numbers reach the i386-only range', () => {
    const header = join(dir, 'unistd_64.h');
    writeFileSync(header, `${readFileSync(SYSCALL_TABLE_SOURCE, 'utf8')}\n#define __NR_far_future ${I386_ONLY_BASE}\n`);
    const r = generate({ SYSWARDEN_UNISTD_H: header, SYSWARDEN_UNISTD_32_H: I386_SYSCALL_TABLE_SOURCE });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/reach 768, into the i386-only id range/);
  });
});
