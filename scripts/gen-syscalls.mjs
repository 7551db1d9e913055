#!/usr/bin/env node
// Generates src/trace/syscall-table.generated.ts from the system's
// <asm/unistd_64.h> (x86_64), <asm/unistd_32.h> (i386) and
// <linux/io_uring.h> (io_uring operations), so the tables
// always match the headers of the machine that built syswarden instead of a
// hand-typed copy. Both headers come from the same package (Debian:
// linux-libc-dev), so the i386 one is looked for beside the x86_64 one first.
// Override them with SYSWARDEN_UNISTD_H=/path/to/unistd_64.h and
// SYSWARDEN_UNISTD_32_H=/path/to/unistd_32.h and SYSWARDEN_IO_URING_H.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/**
 * Canonical ids from here up to PSEUDO_BASE belong to i386-only syscalls.
 * Below it lies the x86_64 numbering, with room to grow: x86_64 ends at 450
 * today and gains a handful of syscalls a year. A fixed base (rather than
 * "x86_64 max + 1") keeps i386-only ids put when a newer header adds x86_64
 * syscalls, so a model trained on i386 traces keeps its meaning.
 */
const I386_ONLY_BASE = 768;
/** Must equal PSEUDO_BASE in src/trace/syscalls.ts: ids from there on are signal pseudo-syscalls. */
const PSEUDO_BASE = 1024;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function fail(message) {
  console.error(`gen-syscalls: ${message}`);
  process.exit(1);
}

function findHeader(what, candidates) {
  const list = candidates.filter(Boolean);
  const found = list.find((p) => existsSync(p));
  if (!found) {
    fail(
      `no ${what} found (looked in ${list.join(', ')}).\n` +
        'Install the kernel headers for user space (Debian: apt-get install linux-libc-dev) ' +
        `or point ${{ 'unistd_64.h': 'SYSWARDEN_UNISTD_H', 'unistd_32.h': 'SYSWARDEN_UNISTD_32_H', 'io_uring.h': 'SYSWARDEN_IO_URING_H' }[what]} at the file.`,
    );
  }
  return found;
}

/** Names indexed by number; a header that defines a name or a number twice is refused. */
function parseHeader(path) {
  const names = [];
  const seen = new Set();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^#define __NR_(\w+)\s+(\d+)\s*$/.exec(line);
    if (!m) continue;
    const [, name, nr] = m;
    if (seen.has(name) || names[Number(nr)] !== undefined) fail(`${path} defines __NR_${name} or number ${nr} twice.`);
    seen.add(name);
    names[Number(nr)] = name;
  }
  return names;
}

const header64 = findHeader('unistd_64.h', [
  process.env.SYSWARDEN_UNISTD_H,
  '/usr/include/x86_64-linux-gnu/asm/unistd_64.h',
  '/usr/include/asm/unistd_64.h',
]);
const header32 = findHeader('unistd_32.h', [
  process.env.SYSWARDEN_UNISTD_32_H,
  join(dirname(header64), 'unistd_32.h'),
  '/usr/include/x86_64-linux-gnu/asm/unistd_32.h',
  '/usr/include/asm/unistd_32.h',
]);

const names = parseHeader(header64);
if (names.length < 300 || names[0] !== 'read' || names[59] !== 'execve') {
  fail(`${header64} does not look like the x86_64 syscall table.`);
}
const names32 = parseHeader(header32);
if (names32.length < 300 || names32[1] !== 'exit' || names32[11] !== 'execve') {
  fail(`${header32} does not look like the i386 syscall table.`);
}
if (names.length > I386_ONLY_BASE) {
  fail(
    `x86_64 syscall numbers now reach ${names.length - 1}, into the i386-only id range that starts at ${I386_ONLY_BASE}. ` +
      'Raising I386_ONLY_BASE renumbers the i386-only ids, so models trained on i386 traces must be retrained.',
  );
}

// Same name, same id: an i386 syscall that x86_64 also has takes its x86_64
// number. The rest take I386_ONLY_BASE + k in header (i386 number) order;
// the kernel only appends syscalls, so the ids of existing ones never move.
const x86ByName = new Map();
names.forEach((name, nr) => name !== undefined && x86ByName.set(name, nr));
const canonical = [];
let only = 0;
names32.forEach((name, nr) => {
  if (name === undefined) return;
  canonical[nr] = x86ByName.get(name) ?? I386_ONLY_BASE + only++;
});
if (I386_ONLY_BASE + only > PSEUDO_BASE) {
  fail(
    `${header32} has ${only} i386-only syscalls: ids ${I386_ONLY_BASE}..${I386_ONLY_BASE + only - 1} do not fit below ` +
      `PSEUDO_BASE (${PSEUDO_BASE}), where signal pseudo-syscalls start.`,
  );
}

// io_uring operations, from <linux/io_uring.h> (the same package): enum
// io_uring_op numbers them from 0 in order, up to IORING_OP_LAST.
const uringHeader = findHeader('io_uring.h', [
  process.env.SYSWARDEN_IO_URING_H,
  join(dirname(header64), '../../linux/io_uring.h'),
  '/usr/include/linux/io_uring.h',
]);
const uringOps = [];
{
  const text = readFileSync(uringHeader, 'utf8');
  const start = text.indexOf('enum io_uring_op {');
  if (start < 0) fail(`${uringHeader} has no enum io_uring_op.`);
  const body = text.slice(start, text.indexOf('}', start));
  for (const m of body.matchAll(/^\s*IORING_OP_(\w+)\s*(=\s*(\d+))?\s*,/gm)) {
    if (m[1] === 'LAST') break;
    if (m[3] !== undefined && Number(m[3]) !== uringOps.length) fail(`${uringHeader}: IORING_OP_${m[1]} is not numbered in order.`);
    uringOps.push(m[1].toLowerCase());
  }
  if (uringOps[0] !== 'nop' || uringOps[18] !== 'openat' || uringOps[22] !== 'read') fail(`${uringHeader} does not look like the io_uring op table.`);
}

const body = Array.from(names, (n) => (n === undefined ? 'undefined' : JSON.stringify(n))).join(',\n  ');
const body32 = Array.from(names32, (n, nr) =>
  n === undefined ? `/* ${nr} */ undefined` : `/* ${nr} */ [${JSON.stringify(n)}, ${canonical[nr]}]`,
).join(',\n  ');
const out = `// Generated by scripts/gen-syscalls.mjs from ${header64}. Do not edit.
/** x86_64 syscall names indexed by number; holes are numbers with no syscall. */
export const SYSCALL_NAMES: readonly (string | undefined)[] = [
  ${body},
];
export const SYSCALL_TABLE_SOURCE = ${JSON.stringify(header64)};

// i386, generated from ${header32}.
// Detectors see one alphabet, the canonical ids: the x86_64 numbering. An
// i386 syscall whose name x86_64 also has takes that x86_64 number; an
// i386-only name takes I386_ONLY_BASE + k, k counting the i386-only names in
// i386 number order, so its id stays put when newer headers append syscalls.
// Look-alikes (mmap2/mmap, stat64/stat, chown32/chown, socketcall/socket) are
// not merged: their arguments differ, and two i386 numbers sharing one id
// could not be told apart again.
/** Canonical ids from here to PSEUDO_BASE belong to i386-only syscalls. */
export const I386_ONLY_BASE = ${I386_ONLY_BASE};
/** How many i386-only syscalls the header lists: ids I386_ONLY_BASE .. I386_ONLY_BASE + I386_ONLY_COUNT - 1. */
export const I386_ONLY_COUNT = ${only};
/** [name, canonical id] indexed by i386 number; holes are numbers with no syscall. */
export const I386_SYSCALLS: readonly (readonly [string, number] | undefined)[] = [
  ${body32},
];
export const I386_SYSCALL_TABLE_SOURCE = ${JSON.stringify(header32)};

// io_uring operations (IORING_OP_*, lower case), indexed by opcode, from ${uringHeader}.
export const IORING_OPS: readonly string[] = ${JSON.stringify(uringOps)};
`;
const target = join(root, 'src/trace/syscall-table.generated.ts');
const previous = existsSync(target) ? readFileSync(target, 'utf8') : '';
if (previous !== out) writeFileSync(target, out);
