import { SYSCALL_NAMES } from './syscall-table.generated.js';

/**
 * Syscall numbers at or above this value are pseudo-syscalls: events strace
 * prints that are not syscalls (signal deliveries such as `--- SIGCHLD ---`).
 * x86_64 numbers stop well below 1024, so the two spaces cannot collide.
 */
export const PSEUDO_BASE = 1024;

const byName = new Map<string, number>();
SYSCALL_NAMES.forEach((name, nr) => {
  if (name !== undefined) byName.set(name, nr);
});

const SIGNALS = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE',
  'SIGKILL', 'SIGUSR1', 'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT',
  'SIGCHLD', 'SIGCONT', 'SIGSTOP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGXCPU',
  'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO', 'SIGPWR', 'SIGSYS',
];
SIGNALS.forEach((sig, i) => byName.set(sig, PSEUDO_BASE + i + 1));

/** Highest x86_64 syscall number known to the table this build was generated from. */
export const MAX_SYSCALL = SYSCALL_NAMES.length - 1;

/** Name of a syscall or pseudo-syscall number; unknown numbers read `sys_<n>`. */
export function syscallName(nr: number): string {
  if (nr >= PSEUDO_BASE) {
    const sig = SIGNALS[nr - PSEUDO_BASE - 1];
    if (sig !== undefined) return sig;
  }
  return SYSCALL_NAMES[nr] ?? `sys_${nr}`;
}

/**
 * Number of a syscall name (or signal pseudo-syscall such as `SIGCHLD`), or undefined.
 * `sys_<n>` names a syscall the table lacks, so n must lie below PSEUDO_BASE:
 * anything larger would alias a signal or wrap in the 16-bit event arrays
 * (sys_99999 was read as 34463).
 */
export function syscallNumber(name: string): number | undefined {
  const nr = byName.get(name);
  if (nr !== undefined) return nr;
  const m = /^sys_(\d{1,4})$/.exec(name);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n < PSEUDO_BASE ? n : undefined;
}

/** Every known (number, name) pair, syscalls first then pseudo-syscalls. */
export function syscallEntries(): Array<[number, string]> {
  return [...byName].map(([name, nr]) => [nr, name] as [number, string]).sort((a, b) => a[0] - b[0]);
}
