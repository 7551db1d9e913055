/**
 * Which pid is which. The kernel side records host pids (the init pid
 * namespace's numbers); /proc, pidfd_open and kill take the pids of
 * syswarden's own pid namespace. On the host the two are the same. In a
 * container or a pod without hostPID they are not: /proc/<host pid> is then
 * another process or none, so every host pid is translated through the
 * kernel (the task_ids iterator, bpf/event.h struct sw_task_ids) and every
 * process read or signalled is pinned by a pidfd the kernel says holds that
 * host pid.
 */
import { closeSync, readFileSync, readlinkSync } from 'node:fs';
import { loadAddon } from '../capture/addon.js';

/** One task's ids (bpf/event.h struct sw_task_ids). */
export interface TaskIds {
  /** Host ids (init pid namespace). */
  tid: number;
  pid: number;
  /** In syswarden's pid namespace (0: not in it). */
  ltid: number;
  lpid: number;
  /** In the task's own pid namespace (what `ps` in its container shows). */
  vtid: number;
  vpid: number;
  /** Depth of the task's own pid namespace, and of syswarden's (0: the host's). */
  level: number;
  readerLevel: number;
  /** Host pid of the process's parent. */
  ppid: number;
}

/** struct sw_task_ids's members, in order, each a u32 (test/capture/record-layout.test.ts checks them against the BTF). */
export const TASK_IDS_MEMBERS = ['tid', 'pid', 'ltid', 'lpid', 'vtid', 'vpid', 'level', 'reader_level', 'ppid'] as const;
/** u32 words per record; checked against the addon's sizeof(struct sw_task_ids). */
export const TASK_IDS_FIELDS = TASK_IDS_MEMBERS.length;

/** The task_ids iterator's filters (native/collector.h TaskIds). */
const BY_ALL = 0;
const BY_PID = 1;
const BY_PIDFD = 2;

/** The init pid namespace's inode number (the kernel's PROC_PID_INIT_INO). */
const INIT_PID_NS_INO = 0xeffffffc;

/** The task_ids iterator's records for the process with pid `localPid` in syswarden's namespace (its threads). */
export function taskIdsOfLocalPid(localPid: number): TaskIds[] {
  return taskIds(BY_PID, localPid);
}

export function decodeTaskIds(a: Uint32Array): TaskIds[] {
  const out: TaskIds[] = [];
  for (let o = 0; o + TASK_IDS_FIELDS <= a.length; o += TASK_IDS_FIELDS) {
    out.push({ tid: a[o]!, pid: a[o + 1]!, ltid: a[o + 2]!, lpid: a[o + 3]!, vtid: a[o + 4]!, vpid: a[o + 5]!, level: a[o + 6]!, readerLevel: a[o + 7]!, ppid: a[o + 8]! });
  }
  return out;
}

function taskIds(by: number, value: number): TaskIds[] {
  const addon = loadAddon();
  if (addon.taskIdsFields !== TASK_IDS_FIELDS) throw new Error(`the addon's task records have ${addon.taskIdsFields} fields, this decoder ${TASK_IDS_FIELDS}: rebuild (npm run build)`);
  return decodeTaskIds(addon.taskIds(by, value));
}

export function errCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

/** A process pinned by a pidfd that the kernel says holds host pid `hostPid`; release() it whatever happens. */
export interface PinnedProcess {
  readonly hostPid: number;
  /** Its pid in syswarden's namespace: what /proc and signals take. */
  readonly localPid: number;
  readonly fd: number;
  /** Signal 0 through the pidfd: true while it has not been reaped, so whatever was read of /proc/<localPid> since the pin was of this process. */
  alive(): boolean;
  release(): void;
}

export type PinOutcome = { ok: true; process: PinnedProcess } | { ok: false; why: 'exited' | 'outside' | 'thread' | 'error'; reason: string };

/** How long a host tid a reading did not find stays known as outside syswarden's namespace, ms. */
const OUTSIDE_MS = 10_000;
/** Most such tids remembered (a fork storm of a sibling container): past it the memory starts afresh. */
const OUTSIDE_MAX = 65_536;
/** Least time between two failed readings of every task, ms. */
const FAILED_READ_MS = 1000;

/**
 * syswarden's view of pids, probed once per process (pidView()). `host`:
 * its pid namespace is the host's, so a host pid is its own pid and nothing
 * is translated (the cost on the host is this probe alone).
 */
export class PidView {
  /** Host tid -> ids, from the last reading of every task of syswarden's namespace. */
  private byHostTid = new Map<number, TaskIds>();
  private readAt = -Infinity;
  private readMs = 0;
  /**
   * Host tids a reading did not find (processes of other pid namespaces:
   * sibling containers), until when that stands: a fork storm there costs a
   * lookup each, not a reading of every task each tenth of the time. An
   * entry lasts OUTSIDE_MS, so a reused pid is looked up again soon.
   */
  private readonly outside = new Map<number, number>();

  private constructor(
    /** syswarden runs in the host's pid namespace. */
    readonly host: boolean,
    /** Depth of its pid namespace (0: the host's). */
    readonly level: number,
    /** Its own pid as the kernel records it. */
    readonly selfHostPid: number,
    /** How that was learnt: the namespace's inode number (the host's), else the kernel's task iterator (unknown when it cannot be loaded: pids are then never translated, so nothing is read or killed by them). */
    readonly probe: 'kernel' | 'ns-inode',
  ) {}

  static probe(): PidView {
    // The init pid namespace has a fixed inode number: on the host, that is the whole probe (no BPF load).
    if (initPidNamespace()) return new PidView(true, 0, process.pid, 'ns-inode');
    try {
      const me = taskIds(BY_PID, process.pid).find((t) => t.lpid === process.pid);
      if (me) return new PidView(me.readerLevel === 0, me.readerLevel, me.pid, 'kernel');
    } catch {
      // No BPF here (no privilege, an old kernel): not the host's namespace, and no way to translate.
    }
    return new PidView(false, -1, 0, 'ns-inode');
  }

  /** One line for the user when pids need translating (undefined on the host). */
  describe(): string | undefined {
    if (this.host) return undefined;
    const self = this.selfHostPid > 0 ? `its own pid ${process.pid} is ${this.selfHostPid} on the host` : 'its host pid is unknown';
    return (
      `syswarden runs in a pid namespace of its own (${this.level > 0 ? `depth ${this.level}` : 'not the host\'s'}; ${self}). ` +
      'Records give host pids (pid, tid) and each process\'s pid in its own container (vpid). ' +
      "Processes outside syswarden's namespace are described from kernel events only (no /proc), and --respond kill cannot reach them (freeze can). " +
      'To see and act on every process, run it in the host pid namespace (docker --pid=host, Kubernetes hostPID: true).'
    );
  }

  /**
   * The ids of host task `tid` as they were last read (read again on a miss,
   * bounded in cost), or undefined: not in syswarden's namespace, or gone.
   * Unproven: a pid may have been reused since; pin() proves.
   */
  idsOf(tid: number): TaskIds | undefined {
    if (this.host) return undefined;
    const known = this.byHostTid.get(tid);
    if (known) return known;
    const now = performance.now();
    if ((this.outside.get(tid) ?? -Infinity) > now) return undefined;
    if (this.refresh()) {
      const found = this.byHostTid.get(tid);
      if (found) return found;
      if (this.outside.size >= OUTSIDE_MAX) this.outside.clear();
      this.outside.set(tid, now + OUTSIDE_MS);
    }
    return undefined;
  }

  /** Host pids of the processes syswarden knows by these local pids (0 and invisible ones dropped). */
  hostPids(localPids: readonly number[]): number[] {
    if (this.host) return localPids.filter((p) => p > 0);
    const wanted = new Set(localPids.filter((p) => p > 0));
    if (wanted.size === 0) return [];
    // Always a fresh reading: in the last one, a local pid may name a process that has since exited and
    // whose number a new process took, under another host pid.
    this.refresh(true);
    const out: number[] = [];
    for (const t of this.byHostTid.values()) if (t.tid === t.pid && wanted.has(t.lpid)) out.push(t.pid);
    return out;
  }

  /**
   * Pin the process that has host pid `hostPid` now: a pidfd opened by its
   * local pid, then the kernel asked which host pid that pidfd's process
   * has. A host pid with no local one (a process outside syswarden's
   * namespace) cannot be pinned.
   */
  pin(hostPid: number): PinOutcome {
    if (!Number.isSafeInteger(hostPid) || hostPid < 1) return { ok: false, why: 'error', reason: `pid ${hostPid} is not a process id` };
    let localPid = hostPid;
    if (!this.host) {
      const ids = this.idsOf(hostPid);
      if (!ids || ids.lpid === 0) {
        return { ok: false, why: 'outside', reason: `process ${hostPid} is not in syswarden's pid namespace (or has exited): syswarden cannot name it by a pid of its own` };
      }
      if (ids.pid !== hostPid) return { ok: false, why: 'thread', reason: `${hostPid} is a thread of process ${ids.pid}, not a process` };
      localPid = ids.lpid;
    }
    const addon = loadAddon();
    let fd: number;
    try {
      fd = addon.pidfdOpen(localPid);
    } catch (err) {
      if (errCode(err) === 'ESRCH') return { ok: false, why: 'exited', reason: `process ${hostPid} has already exited` };
      if (errCode(err) === 'EINVAL') return { ok: false, why: 'thread', reason: `${hostPid} is a thread, not a process (pidfd_open refused it)` };
      return { ok: false, why: 'error', reason: `pidfd_open(${localPid}): ${(err as Error).message}` };
    }
    const release = () => closeSync(fd);
    if (!this.host) {
      let holds: TaskIds | undefined;
      try {
        // No task for the pidfd: it has exited (the check below says so).
        holds = taskIds(BY_PIDFD, fd).find((t) => t.tid === t.pid);
      } catch (err) {
        release();
        if (errCode(err) === 'ESRCH' || errCode(err) === 'ENOENT') return { ok: false, why: 'exited', reason: `process ${hostPid} has already exited` };
        return { ok: false, why: 'error', reason: `asking the kernel which process pid ${localPid} is: ${(err as Error).message}` };
      }
      if (holds?.pid !== hostPid) {
        release();
        this.byHostTid.delete(hostPid);
        return { ok: false, why: 'exited', reason: `process ${hostPid} has exited (pid ${localPid} in syswarden's namespace is now host pid ${holds?.pid ?? 'none'})` };
      }
    }
    return {
      ok: true,
      process: {
        hostPid,
        localPid,
        fd,
        alive() {
          try {
            addon.pidfdSendSignal(fd, 0);
            return true;
          } catch {
            return false;
          }
        },
        release,
      },
    };
  }

  /**
   * Read something of /proc about host process `hostPid`: `read(localPid)`,
   * kept only when it is proven to be of that process. On the host this is
   * `read(hostPid)` as is (no pidfd: the cost of a table lookup stays what
   * it was). undefined: not readable (gone, outside the namespace).
   */
  readProc<T>(hostPid: number, read: (localPid: number) => T | undefined): T | undefined {
    if (this.host) return read(hostPid);
    const pinned = this.pin(hostPid);
    if (!pinned.ok) return undefined;
    try {
      const value = read(pinned.process.localPid);
      return pinned.process.alive() ? value : undefined;
    } finally {
      pinned.process.release();
    }
  }

  /**
   * Read every task of syswarden's namespace again; without `force`, at
   * most a tenth of the time (the cost measured at the last reading). A
   * reading that fails (the iterator cannot load) is throttled the same
   * way, at least FAILED_READ_MS apart: a load and its verification are
   * not repeated at every miss. Returns whether a reading was made now.
   */
  private refresh(force = false): boolean {
    const now = performance.now();
    if (!force && now - this.readAt < this.readMs * 10) return false;
    const next = new Map<number, TaskIds>();
    try {
      for (const t of taskIds(BY_ALL, 0)) next.set(t.tid, t);
    } catch {
      this.readAt = performance.now();
      this.readMs = Math.max(this.readAt - now, FAILED_READ_MS / 10);
      return false;
    }
    this.byHostTid = next;
    this.readAt = performance.now();
    this.readMs = this.readAt - now;
    return true;
  }
}

/** syswarden's pid namespace is the host's (unreadable: treated as not, the safe side). */
function initPidNamespace(): boolean {
  try {
    return readlinkSync('/proc/self/ns/pid') === `pid:[${INIT_PID_NS_INO}]`;
  } catch {
    return false;
  }
}

let view: PidView | undefined;

/** syswarden's pid view, probed on first use. */
export function pidView(): PidView {
  view ??= PidView.probe();
  return view;
}

/** A process's pid in its own (innermost) pid namespace: the last of /proc/<pid>/status's NSpid. */
export function vpidFromStatus(status: string): number | undefined {
  const ns = /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
  const last = ns && ns.length > 0 ? Number(ns[ns.length - 1]) : NaN;
  return Number.isSafeInteger(last) && last > 0 ? last : undefined;
}

/** /proc/<pid>/status, or undefined when it is gone. */
export function readStatus(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
}
