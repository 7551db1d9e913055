import { SyswardenError } from '../errors.js';
import { I386_ONLY_BASE, I386_SYSCALLS, IORING_OPS, SYSCALL_NAMES } from './syscall-table.generated.js';

/**
 * Syscall numbers at or above this value are pseudo-syscalls: events strace
 * prints that are not syscalls (signal deliveries such as `--- SIGCHLD ---`).
 * Canonical syscall ids stop below 1024 (the generator checks), so the two
 * spaces cannot collide.
 */
export const PSEUDO_BASE = 1024;

/**
 * The syscall numbering a process uses. The kernel numbers syscalls per ABI:
 * a 32-bit (i386) process calls read as 3, an x86_64 one as 0.
 */
export type Abi = 'x86_64' | 'i386';
export const ABIS: readonly Abi[] = Object.freeze(['x86_64', 'i386'] as const);

/**
 * Detectors see one alphabet, the canonical ids: the x86_64 numbering, plus
 * i386-only syscalls (socketcall, _llseek, mmap2, ...) at I386_ONLY_BASE and
 * up, below PSEUDO_BASE. An i386 syscall x86_64 also has takes its x86_64
 * number (see scripts/gen-syscalls.mjs for the rule and why it is stable).
 */
export { I386_ONLY_BASE };

/** Highest x86_64 syscall number known to the table this build was generated from. */
export const MAX_SYSCALL = SYSCALL_NAMES.length - 1;

const SIGNALS = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE',
  'SIGKILL', 'SIGUSR1', 'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT',
  'SIGCHLD', 'SIGCONT', 'SIGSTOP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGXCPU',
  'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO', 'SIGPWR', 'SIGSYS',
];

/** Name of each canonical id below PSEUDO_BASE (undefined: no syscall has it). */
const canonicalNames: (string | undefined)[] = new Array<string | undefined>(PSEUDO_BASE).fill(undefined);
/** Per ABI: canonical id of each native number, and the native number of each canonical id; -1 for none. */
const toCanonical = { x86_64: new Int16Array(I386_ONLY_BASE), i386: new Int16Array(I386_SYSCALLS.length).fill(-1) };
const toNative = { x86_64: new Int16Array(PSEUDO_BASE).fill(-1), i386: new Int16Array(PSEUDO_BASE).fill(-1) };
/** Per ABI: canonical id of each syscall name, and of each signal pseudo-syscall. */
const byName = { x86_64: new Map<string, number>(), i386: new Map<string, number>() };

// x86_64 numbers are canonical ids, also those the headers do not name yet
// (a kernel newer than the headers): only the i386-only range is off limits.
for (let nr = 0; nr < I386_ONLY_BASE; nr++) {
  toCanonical.x86_64[nr] = nr;
  toNative.x86_64[nr] = nr;
}
SYSCALL_NAMES.forEach((name, nr) => {
  if (name === undefined) return;
  canonicalNames[nr] = name;
  byName.x86_64.set(name, nr);
});
I386_SYSCALLS.forEach((entry, nr) => {
  if (entry === undefined) return;
  const [name, id] = entry;
  canonicalNames[id] ??= name;
  toCanonical.i386[nr] = id;
  toNative.i386[id] = nr;
  byName.i386.set(name, id);
});
SIGNALS.forEach((sig, i) => {
  byName.x86_64.set(sig, PSEUDO_BASE + i + 1);
  byName.i386.set(sig, PSEUDO_BASE + i + 1);
});

/** True when `text` names an ABI syswarden reads. */
export function isAbi(text: string): text is Abi {
  return text === 'x86_64' || text === 'i386';
}

/** `text` as an Abi; throws an ERR_INVALID_INPUT SyswardenError naming the choices. */
export function parseAbi(text: string): Abi {
  if (isAbi(text)) return text;
  throw new SyswardenError('ERR_INVALID_INPUT', `unknown ABI '${text}'. Fix: use one of ${ABIS.join(', ')} (i386 for traces of 32-bit processes).`);
}

function table<T>(tables: Record<Abi, T>, abi: Abi): T {
  // Compared, not indexed: an untyped caller's 'constructor' must not reach Object.prototype.
  if (abi === 'x86_64') return tables.x86_64;
  if (abi === 'i386') return tables.i386;
  return parseAbi(abi) as never;
}

/**
 * Set in a live record's number when the call was a 32-bit (ia32 compat)
 * syscall (bpf/event.h SW_NR_COMPAT): the low bits are its i386 number. Such
 * a token is distinct from every x86_64 one: a 32-bit call from an x86_64
 * container is itself unusual, and i386 11 (execve) is not x86_64 11 (munmap).
 */
export const COMPAT_FLAG = 0x8000;
const COMPAT_PREFIX = 'i386:';

/**
 * Set (without COMPAT_FLAG) in a live record's number when it is an
 * operation submitted to an io_uring, not a syscall (bpf/event.h
 * SW_NR_URING): the low 8 bits are its IORING_OP_* opcode. Named
 * `io_uring:<op>` (io_uring:openat), a token of its own: a file opened
 * through a ring is not hidden from the models, and not confused with openat.
 */
export const URING_FLAG = 0x4000;
const URING_PREFIX = 'io_uring:';

function uringOpName(op: number): string {
  return IORING_OPS[op] ?? `op_${op}`;
}

/** Name of a canonical id or pseudo-syscall; i386-only ids read their i386 name, unknown ids `sys_<n>`; a live 32-bit call `i386:<name>`. */
export function syscallName(nr: number): string {
  if (nr & COMPAT_FLAG) {
    const native = nr & ~COMPAT_FLAG;
    const id = canonicalFromNative('i386', native);
    return COMPAT_PREFIX + (id !== undefined ? canonicalNames[id] ?? `sys_${native}` : `sys_${native}`);
  }
  if (nr & URING_FLAG) return URING_PREFIX + uringOpName(nr & 0xff);
  if (nr >= PSEUDO_BASE) {
    const sig = SIGNALS[nr - PSEUDO_BASE - 1];
    if (sig !== undefined) return sig;
  }
  return canonicalNames[nr] ?? `sys_${nr}`;
}

/**
 * Canonical id of a syscall name of `abi` (or of a signal pseudo-syscall such
 * as `SIGCHLD`), or undefined. `sys_<n>` is syswarden's own spelling of
 * canonical id n (see syscallName), whatever the ABI, so n must lie below
 * PSEUDO_BASE: anything larger would alias a signal or wrap in the 16-bit
 * event arrays (sys_99999 was read as 34463).
 */
export function syscallNumber(name: string, abi: Abi = 'x86_64'): number | undefined {
  if (name.startsWith(COMPAT_PREFIX)) {
    const rest = name.slice(COMPAT_PREFIX.length);
    const m = /^sys_(\d{1,4})$/.exec(rest);
    const native = m ? Number(m[1]) : nativeOf(rest);
    return native !== undefined && native < COMPAT_FLAG ? COMPAT_FLAG | native : undefined;
  }
  if (name.startsWith(URING_PREFIX)) {
    const rest = name.slice(URING_PREFIX.length);
    const m = /^op_(\d{1,3})$/.exec(rest);
    const op = m ? Number(m[1]) : IORING_OPS.indexOf(rest);
    return op >= 0 && op < 256 ? URING_FLAG | op : undefined;
  }
  const nr = table(byName, abi).get(name);
  if (nr !== undefined) return nr;
  const m = /^sys_(\d{1,4})$/.exec(name);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n < PSEUDO_BASE ? n : undefined;
}

/**
 * Canonical id of the syscall a process of `abi` made as number `nativeNr`
 * (what the kernel reports), or undefined when the number is not one. An
 * x86_64 number the headers do not name yet is still its own id; an i386
 * one cannot be placed and is undefined.
 */
export function canonicalFromNative(abi: Abi, nativeNr: number): number | undefined {
  const id = table(toCanonical, abi)[nativeNr];
  return id === undefined || id < 0 ? undefined : id;
}

/** The number a process of `abi` uses for canonical id `id`, or undefined when that ABI has no such syscall. */
export function nativeFromCanonical(abi: Abi, id: number): number | undefined {
  const nr = table(toNative, abi)[id];
  return nr === undefined || nr < 0 ? undefined : nr;
}

/** Every known (canonical id, name) pair: x86_64 syscalls, then i386-only ones, then pseudo-syscalls. */
export function syscallEntries(): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  canonicalNames.forEach((name, nr) => {
    if (name !== undefined) out.push([nr, name]);
  });
  SIGNALS.forEach((sig, i) => out.push([PSEUDO_BASE + i + 1, sig]));
  return out;
}

/** The i386 number of an i386 syscall name. */
function nativeOf(name: string): number | undefined {
  const id = byName.i386.get(name);
  return id === undefined || id >= PSEUDO_BASE ? undefined : nativeFromCanonical('i386', id);
}
