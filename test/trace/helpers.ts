import { fileURLToPath } from 'node:url';
import { syscallNumber } from '../../src/trace/syscalls.js';

export const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/** Syscall numbers of names, for readable expectations. */
export const nrs = (...names: string[]): number[] =>
  names.map((n) => {
    const nr = syscallNumber(n);
    if (nr === undefined) throw new Error(`no syscall ${n}`);
    return nr;
  });
