/**
 * The cgroup v2 freezer, as `watch --respond freeze` uses it: write 1 to a
 * cgroup's cgroup.freeze, then wait (bounded) until its cgroup.events says
 * `frozen 1`, which the kernel writes once every task of the cgroup and of
 * its descendants is stopped.
 */
import { readFileSync, writeFileSync } from 'node:fs';

/** What cgroup.freeze holds: true when someone asked for the cgroup to be frozen (not necessarily done yet). */
export function freezeRequested(dir: string): boolean {
  return readFileSync(`${dir}/cgroup.freeze`, 'utf8').trim() === '1';
}

/** Whether cgroup.events says every task is frozen. */
export function frozenNow(dir: string): boolean {
  return /^frozen 1$/m.test(readFileSync(`${dir}/cgroup.events`, 'utf8'));
}

export function writeFreeze(dir: string, frozen: boolean): void {
  writeFileSync(`${dir}/cgroup.freeze`, frozen ? '1' : '0');
}

/**
 * Resolves true as soon as the cgroup is frozen, false after `timeoutMs`
 * (a task in an uninterruptible sleep, e.g. on a hung NFS server, is frozen
 * only when it leaves it). Polls every millisecond: the freeze normally takes
 * well under one, and the wait is what the response latency is made of.
 */
export async function waitFrozen(dir: string, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (frozenNow(dir)) return true;
    if (performance.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
}
