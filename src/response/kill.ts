/**
 * SIGKILL one process, safe against pid reuse: the process is pinned by a
 * pidfd first (by the pid syswarden's namespace gives it, proven to be the
 * host pid asked for: src/process/pidns.ts), its cgroup is read from /proc, and a signal 0 through the
 * pidfd then proves the /proc read was of that same process (a pid is only
 * given again once its process has been reaped, and a reaped process refuses
 * the signal). The kill goes through the pidfd too, so it can only reach the
 * process that was checked.
 */
import { loadAddon } from '../capture/addon.js';
import { cgroupPathOfPid } from '../capture/cgroup.js';
import { errCode, pidView } from '../process/pidns.js';

/** Whether a cgroup path is `root` or below it. */
export function cgroupWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/** A process pinned and checked, ready to be signalled; release() it whatever happens. */
export interface CheckedProcess {
  readonly pid: number;
  kill(): { ok: true } | { ok: false; reason: string };
  release(): void;
}

export type CheckOutcome = { ok: true; process: CheckedProcess } | { ok: false; result: 'failed' | 'skipped'; reason: string };

/**
 * Pin `pid` and check that it still belongs to the cgroup `within` (or one
 * below it). Nothing is signalled yet: the caller decides (the disarmer).
 */
export function checkProcess(pid: number, within: string): CheckOutcome {
  if (!Number.isSafeInteger(pid) || pid < 2) return { ok: false, result: 'failed', reason: `pid ${pid} is not a process syswarden may kill` };
  const view = pidView();
  if (pid === view.selfHostPid) return { ok: false, result: 'failed', reason: 'that is syswarden itself' };
  // `pid` is a host pid: in a pid namespace of syswarden's own, pinned by the pid its namespace gives that same process, or refused.
  const pinned = view.pin(pid);
  if (!pinned.ok) return { ok: false, result: pinned.why === 'exited' ? 'skipped' : 'failed', reason: pinned.reason };
  const { fd, localPid, release } = pinned.process;
  const addon = loadAddon();
  try {
    let path: string;
    try {
      path = cgroupPathOfPid(localPid);
    } catch {
      release();
      return { ok: false, result: 'skipped', reason: `process ${pid} has already exited` };
    }
    // Proves the read above was of the process the pidfd holds.
    addon.pidfdSendSignal(fd, 0);
    if (!cgroupWithin(path, within)) {
      release();
      return { ok: false, result: 'failed', reason: `process ${pid} is in cgroup ${path}, not in ${within} any more: not killed (it left, or its pid was given to another process)` };
    }
  } catch (err) {
    release();
    if (errCode(err) === 'ESRCH') return { ok: false, result: 'skipped', reason: `process ${pid} has already exited` };
    return { ok: false, result: 'failed', reason: `checking process ${pid}: ${(err as Error).message}` };
  }
  return {
    ok: true,
    process: {
      pid,
      kill() {
        try {
          addon.pidfdSendSignal(fd, 9);
          return { ok: true };
        } catch (err) {
          return { ok: false, reason: errCode(err) === 'ESRCH' ? `process ${pid} exited before the signal` : `pidfd_send_signal(${pid}, SIGKILL): ${(err as Error).message}` };
        }
      },
      release,
    },
  };
}
