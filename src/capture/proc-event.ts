/**
 * The TypeScript decoder of `struct sw_proc_event` (bpf/event.h): exec, fork
 * and exit events from the kernel, delivered beside a batch's syscall
 * records. test/capture/record-layout.test.ts checks these offsets against
 * the BTF of the compiled BPF object.
 */
export const PROC_LAYOUT = Object.freeze({
  size: 592,
  ts_ns: 0, // u64 (head)
  tid: 8, // u32 (head)
  nr: 12, // u16 (head): the SW_REC_* tag
  slot: 14, // u16 (head): the target id
  pid: 16,
  ppid: 20,
  child_tid: 24,
  child_pid: 28,
  at: 32,
  flags: 36,
  path_len: 40,
  args_len: 42,
  comm: 44,
  path: 60,
  args: 316,
  vtid: 572,
  vpid: 576,
  child_vtid: 580,
  child_vpid: 584,
});

export const COMM_LEN = 16;
export const PATH_MAX = 256;
export const ARGS_MAX = 256;

/** Record tags (bpf/event.h SW_REC_*). */
export const REC_EXEC = 0xfff0;
export const REC_FORK = 0xfff1;
export const REC_EXIT = 0xfff2;
export const REC_ATTACH = 0xfff3;
export const REC_ESCAPE = 0xfff4;
export const REC_ADOPT = 0xfff5;
/** A target id in an attach event's `from` that names no target (bpf/event.h SW_NO_MATCH). */
export const NO_TARGET = 0xfffe;

/** sw_proc_event.flags (bpf/event.h SW_PROC_*). */
export const PROC_THREAD = 0x1;
export const PROC_GROUP_DEAD = 0x2;
export const PROC_PATH_TRUNCATED = 0x4;
export const PROC_ARGS_TRUNCATED = 0x8;

interface ProcHead {
  /** Kernel timestamp, ns (CLOCK_MONOTONIC). */
  tsNs: number;
  /** The thread the event is about (for a fork: the parent thread). */
  tid: number;
  /** Its process (tgid). */
  pid: number;
  /** The process's parent. */
  ppid: number;
  /** tid and pid as the process's own pid namespace numbers them (its container's `ps`; equal to tid and pid on the host). */
  vtid: number;
  vpid: number;
  /** The target id the event matched (as EventBatch.targetId). */
  targetId: number;
  /** The thread's name after the event (an exec sets it to the new program's). */
  comm: string;
  /** Index of the first syscall record of the batch that came after this event. */
  at: number;
}

export interface ExecEvent extends ProcHead {
  kind: 'exec';
  /** The path exec was given (bprm->filename); a relative one is made absolute with the working directory (/srv/www/cgi-bin/./search). */
  exe: string;
  /** The new program's arguments, at most ARGS_MAX bytes of them. */
  args: string[];
  exeTruncated: boolean;
  argsTruncated: boolean;
}

export interface ForkEvent extends ProcHead {
  kind: 'fork';
  childTid: number;
  childPid: number;
  /** The new task's tid and pid in its own pid namespace (1 for a clone into a new one). */
  childVtid: number;
  childVpid: number;
  /** A new thread of the same process (clone with CLONE_THREAD), not a new process. */
  thread: boolean;
}

export interface ExitEvent extends ProcHead {
  kind: 'exit';
  /** The task's exit code as the kernel holds it (status << 8 | signal). */
  exitCode: number;
  /** The last thread of its process. */
  groupDead: boolean;
}

/** A process moved between cgroups: into a target from outside it (attach), or out of its target to a cgroup no target contains (escape). */
export interface MoveEvent extends ProcHead {
  kind: 'attach' | 'escape';
  /** The process's executable, as its mount namespace names it ('' when unknown). */
  exe: string;
  exeTruncated: boolean;
  /** The cgroup it moved to, as a path in the cgroup hierarchy. */
  cgroup: string;
  /**
   * attach: the target it came from (another watched container), or
   * undefined. escape: undefined (targetId is the target it left, under
   * which it stays watched).
   */
  fromTargetId?: number;
  /** Only this thread moved (cgroup.threads), not its whole process. */
  thread: boolean;
}

export type ProcEvent = ExecEvent | ForkEvent | ExitEvent | MoveEvent;

/**
 * The kernel made a child cgroup of a parent being adopted (bpf/event.h
 * SW_REC_ADOPT): the collector's own business, never a batch's process
 * event. targetId is the id the kernel gave it, NO_TARGET when none.
 */
export interface AdoptEvent {
  tsNs: number;
  targetId: number;
  cgroupId: bigint;
  /** Its path in the cgroup v2 hierarchy, as the kernel gave it. */
  path: string;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

function cString(bytes: Uint8Array, offset: number, max: number): string {
  const view = bytes.subarray(offset, offset + max);
  const end = view.indexOf(0);
  return decoder.decode(end < 0 ? view : view.subarray(0, end));
}

/**
 * Decode a buffer of sw_proc_event records. A record with an unknown tag is
 * skipped and counted in `unknown` (a newer BPF object than this decoder).
 */
export function decodeProcEvents(buffer: ArrayBuffer): { events: ProcEvent[]; unknown: number; adopted: AdoptEvent[] } {
  const L = PROC_LAYOUT;
  if (buffer.byteLength % L.size !== 0) throw new RangeError(`process events of ${buffer.byteLength} bytes are not a whole number of ${L.size}-byte records`);
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  const events: ProcEvent[] = [];
  const adopted: AdoptEvent[] = [];
  let unknown = 0;
  for (let o = 0; o < buffer.byteLength; o += L.size) {
    const head: ProcHead = {
      tsNs: view.getUint32(o + L.ts_ns + 4, true) * 4294967296 + view.getUint32(o + L.ts_ns, true),
      tid: view.getUint32(o + L.tid, true),
      pid: view.getUint32(o + L.pid, true),
      ppid: view.getUint32(o + L.ppid, true),
      vtid: view.getUint32(o + L.vtid, true),
      vpid: view.getUint32(o + L.vpid, true),
      targetId: view.getUint16(o + L.slot, true),
      comm: cString(bytes, o + L.comm, COMM_LEN),
      at: view.getUint32(o + L.at, true),
    };
    const flags = view.getUint32(o + L.flags, true);
    const tag = view.getUint16(o + L.nr, true);
    if (tag === REC_EXEC) {
      const argsLen = Math.min(ARGS_MAX, view.getUint16(o + L.args_len, true));
      const raw = decoder.decode(bytes.subarray(o + L.args, o + L.args + argsLen));
      const args = raw.split('\0');
      if (args.length > 0 && args[args.length - 1] === '') args.pop();
      events.push({
        ...head,
        kind: 'exec',
        exe: cString(bytes, o + L.path, PATH_MAX),
        args,
        exeTruncated: (flags & PROC_PATH_TRUNCATED) !== 0,
        argsTruncated: (flags & PROC_ARGS_TRUNCATED) !== 0,
      });
    } else if (tag === REC_FORK) {
      events.push({ ...head, kind: 'fork', childTid: view.getUint32(o + L.child_tid, true), childPid: view.getUint32(o + L.child_pid, true), childVtid: view.getUint32(o + L.child_vtid, true), childVpid: view.getUint32(o + L.child_vpid, true), thread: (flags & PROC_THREAD) !== 0 });
    } else if (tag === REC_EXIT) {
      events.push({ ...head, kind: 'exit', exitCode: view.getUint32(o + L.child_tid, true), groupDead: (flags & PROC_GROUP_DEAD) !== 0 });
    } else if (tag === REC_ATTACH || tag === REC_ESCAPE) {
      const from = view.getUint32(o + L.child_tid, true);
      const move: MoveEvent = {
        ...head,
        kind: tag === REC_ATTACH ? 'attach' : 'escape',
        exe: cString(bytes, o + L.path, PATH_MAX),
        exeTruncated: (flags & PROC_PATH_TRUNCATED) !== 0,
        cgroup: cString(bytes, o + L.args, ARGS_MAX),
        thread: (flags & PROC_THREAD) !== 0,
      };
      if (tag === REC_ATTACH && from !== NO_TARGET) move.fromTargetId = from;
      events.push(move);
    } else if (tag === REC_ADOPT) {
      const cgroupId = (BigInt(view.getUint32(o + L.child_pid, true)) << 32n) | BigInt(view.getUint32(o + L.child_tid, true));
      adopted.push({ tsNs: head.tsNs, targetId: head.targetId, cgroupId, path: cString(bytes, o + L.args, ARGS_MAX) });
    } else {
      unknown++;
    }
  }
  return { events, unknown, adopted };
}
