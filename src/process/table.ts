import { readFileSync, readlinkSync } from 'node:fs';
import type { ProcEvent } from '../capture/proc-event.js';
import { pidView, readStatus, vpidFromStatus } from './pidns.js';

/** What an alert says about the process behind it. */
export interface ProcessContext {
  /** Host pid (the init pid namespace's), like every pid syswarden records. */
  pid: number;
  /** Host pid of the parent. */
  ppid: number;
  /** The pid in the process's own pid namespace: what `ps` in its container shows (equal to pid on the host). */
  vpid?: number;
  comm: string;
  /** The executable, when known (an exec seen, or read from /proc for a process older than the watch). */
  exe?: string;
  /** Its arguments, bounded (see argsTruncated). */
  args?: string[];
  argsTruncated?: boolean;
  /** The parent's executable, when known. */
  parentExe?: string;
  /**
   * How the process is known: 'exec' (its exec was seen in the kernel),
   * 'fork' (forked from a known process and has not exec'd: its parent's
   * program), 'attach' (it joined the container from outside, running
   * `exe`, and has not exec'd since), 'proc' (it started before it was
   * watched: read from /proc).
   */
  source: 'exec' | 'fork' | 'attach' | 'proc';
  /** It had exited when the alert was made. */
  exited?: boolean;
}

/**
 * A process as the table holds it: the context less what is looked up when
 * asked; `since`, the kernel time of the event that made it so (0: read
 * from /proc); `previous`, what the process was before (an exec replaces
 * the program), so an alert on a window that ended before the exec names
 * the program that made it, whenever the alert is made.
 */
type Entry = Omit<ProcessContext, 'parentExe' | 'exited'> & { exited: boolean; since: number; previous?: Entry; procRead?: boolean };

/** Programs remembered per process before its current one (a chain of execs). */
const PREVIOUS_PROGRAMS = 3;

/** `next` replaces `old` as what a process is: `old` is kept behind it, the chain bounded. */
function after(old: Entry | undefined, next: Entry): Entry {
  if (!old) return next;
  next.previous = old;
  let k = old;
  for (let depth = 1; depth < PREVIOUS_PROGRAMS && k.previous; depth++) k = k.previous;
  delete k.previous;
  return next;
}

/** Processes that exited and are still remembered for alerts that arrive after them. */
export const RETIRED_PROCESSES = 4096;
/** Live entries at most (a bound against a table that only grows when exits are lost). */
export const MAX_PROCESSES = 1 << 16;

/**
 * The processes of the watched containers, built from the kernel's process
 * events as they arrive, not from /proc after the fact (a process that
 * lived 5 ms is gone by then). Threads map to their process; a process that
 * exits is kept among the last RETIRED_PROCESSES exited ones, so an alert
 * scored after its exit still names it. A process that started before the
 * watch (no exec or fork seen) is read from /proc once, when an alert needs it.
 */
export class ProcessTable {
  private readonly byPid = new Map<number, Entry>();
  private readonly pidOfTid = new Map<number, number>();
  private readonly tidsOf = new Map<number, Set<number>>();
  /** Exited processes, oldest first (Map keeps insertion order). */
  private readonly retired = new Map<number, Entry>();
  private readonly retiredTids = new Map<number, number>();
  /** Entries evicted at MAX_PROCESSES (lost exits): counted, not silent. */
  evicted = 0;
  /** Events applied. */
  events = 0;

  /**
   * `live`: the event was just captured, so a parent the events never named
   * (it predates the watch) is read from /proc at its fork, while it
   * certainly lives: its children then carry what it runs, even once it
   * has exited.
   */
  apply(e: ProcEvent, live = false): void {
    this.events++;
    if (e.kind === 'exec') {
      const next: Entry = { pid: e.pid, ppid: e.ppid, comm: e.comm, exe: e.exe, args: e.args, argsTruncated: e.argsTruncated, source: 'exec', exited: false, since: e.tsNs };
      if (e.vpid > 0) next.vpid = e.vpid;
      this.set(e.pid, after(this.byPid.get(e.pid), next));
      // exec leaves one thread, with the process's id.
      for (const tid of this.tidsOf.get(e.pid) ?? []) if (tid !== e.pid) this.pidOfTid.delete(tid);
      this.tidsOf.delete(e.pid);
      this.bind(e.pid, e.pid);
    } else if (e.kind === 'fork') {
      if (e.thread) {
        this.bind(e.childTid, e.pid);
        if (!this.byPid.has(e.pid)) this.set(e.pid, { pid: e.pid, ppid: e.ppid, comm: e.comm, source: 'proc', exited: false, since: 0, ...(e.vpid > 0 ? { vpid: e.vpid } : {}) });
        return;
      }
      let parent = this.byPid.get(e.pid);
      if (live && parent?.exe === undefined && parent?.procRead !== true) {
        parent = this.fromProc(e.pid, e.pid) ?? parent;
        if (parent) parent.procRead = true;
      }
      const child: Entry = { pid: e.childPid, ppid: e.pid, comm: e.comm, source: parent?.exe !== undefined ? 'fork' : 'proc', exited: false, since: e.tsNs };
      if (e.childVpid > 0) child.vpid = e.childVpid;
      if (parent?.exe !== undefined) child.exe = parent.exe;
      if (parent?.args !== undefined) child.args = parent.args;
      if (parent?.argsTruncated) child.argsTruncated = true;
      this.set(e.childPid, child);
      this.bind(e.childTid, e.childPid);
    } else if (e.kind === 'exit') {
      // A thread made without a fork event (io_uring's SQPOLL thread) is named by its exit.
      if (!this.pidOfTid.has(e.tid) && !this.retiredTids.has(e.tid)) this.bind(e.tid, e.pid);
      if (e.groupDead) this.retire(e.pid);
      else this.retireThread(e.tid);
    } else if (e.kind === 'attach') {
      // What it ran when it joined (its arguments were never seen); a process already known keeps what it is known as.
      const known = this.byPid.get(e.pid);
      if (!known || known.exe === undefined) {
        const entry: Entry = { pid: e.pid, ppid: e.ppid, comm: e.comm, source: 'attach', exited: false, since: e.tsNs };
        if (e.vpid > 0) entry.vpid = e.vpid;
        if (e.exe !== '') entry.exe = e.exe;
        this.set(e.pid, after(known, entry));
      }
      this.bind(e.tid, e.pid);
    } else {
      // An escape: the same process, followed on under the target it left.
      this.bind(e.tid, e.pid);
    }
  }

  /**
   * The context of the process a thread belongs to, for an alert; `atNs`:
   * as it was at that kernel time (the program before a later exec).
   * `readProc`: for a process the events never named, ask /proc (live
   * capture only: a recording's tid may belong to anyone now).
   */
  context(tid: number, options: { readProc?: boolean; atNs?: number } = {}): ProcessContext | undefined {
    const readProc = options.readProc !== false;
    const pid = this.pidOfTid.get(tid) ?? this.retiredTids.get(tid);
    let entry = pid !== undefined ? this.byPid.get(pid) ?? this.retired.get(pid) : undefined;
    if (readProc && entry?.source === 'proc' && entry.exe === undefined) entry = this.fromProc(entry.pid, tid) ?? entry;
    if (!entry && readProc) entry = this.fromProc(undefined, tid);
    if (!entry) return undefined;
    // What it was at that time: before an exec that came after it.
    const exited = entry.exited;
    const at = options.atNs;
    if (at !== undefined && at > 0) while (entry.since > at && entry.previous) entry = entry.previous;
    const out: ProcessContext = { pid: entry.pid, ppid: entry.ppid, comm: entry.comm, source: entry.source };
    if (entry.vpid !== undefined) out.vpid = entry.vpid;
    if (entry.exe !== undefined) out.exe = entry.exe;
    if (entry.args !== undefined) out.args = entry.args;
    if (entry.argsTruncated) out.argsTruncated = true;
    const parent = this.byPid.get(entry.ppid) ?? this.retired.get(entry.ppid);
    const parentExe = parent?.exe ?? (readProc ? exeOf(entry.ppid) : undefined);
    if (parentExe !== undefined) out.parentExe = parentExe;
    if (exited) out.exited = true;
    return out;
  }

  get size(): number {
    return this.byPid.size;
  }

  private set(pid: number, e: Entry): void {
    this.retired.delete(pid);
    if (!this.byPid.has(pid) && this.byPid.size >= MAX_PROCESSES) {
      const oldest = this.byPid.keys().next().value!;
      this.byPid.delete(oldest);
      for (const tid of this.tidsOf.get(oldest) ?? []) this.pidOfTid.delete(tid);
      this.tidsOf.delete(oldest);
      this.evicted++;
    }
    this.byPid.set(pid, e);
  }

  /** A thread belongs to a process (a new task, or a reused tid: it no longer names the old one). */
  private bind(tid: number, pid: number): void {
    const old = this.pidOfTid.get(tid);
    if (old !== undefined && old !== pid) this.tidsOf.get(old)?.delete(tid);
    this.retiredTids.delete(tid);
    this.pidOfTid.set(tid, pid);
    let set = this.tidsOf.get(pid);
    if (!set) this.tidsOf.set(pid, (set = new Set()));
    set.add(tid);
  }

  private retireThread(tid: number): void {
    const pid = this.pidOfTid.get(tid);
    if (pid === undefined) return;
    this.pidOfTid.delete(tid);
    this.tidsOf.get(pid)?.delete(tid);
    this.retiredTids.set(tid, pid);
    this.trim();
  }

  /** A process ended: kept among the retired, for alerts scored after it. */
  private retire(pid: number): void {
    const e = this.byPid.get(pid);
    if (e) {
      this.byPid.delete(pid);
      e.exited = true;
      this.retired.delete(pid);
      this.retired.set(pid, e);
    }
    for (const tid of this.tidsOf.get(pid) ?? []) {
      this.pidOfTid.delete(tid);
      this.retiredTids.set(tid, pid);
    }
    this.tidsOf.delete(pid);
    this.pidOfTid.delete(pid);
    this.retiredTids.set(pid, pid);
    this.trim();
  }

  private trim(): void {
    while (this.retired.size > RETIRED_PROCESSES) this.retired.delete(this.retired.keys().next().value!);
    while (this.retiredTids.size > RETIRED_PROCESSES * 4) this.retiredTids.delete(this.retiredTids.keys().next().value!);
  }

  /**
   * A process the kernel told nothing about (it predates the watch): /proc,
   * once. `tid` is a host tid: in a pid namespace of syswarden's own it is
   * translated, and what /proc says kept only if proven to be of that
   * process (src/process/pidns.ts); a process outside the namespace stays
   * unknown rather than be read under another's number.
   */
  private fromProc(pid: number | undefined, tid: number): Entry | undefined {
    const view = pidView();
    let e: Entry | undefined;
    if (view.host) {
      const status = readStatus(tid);
      if (status === undefined) return undefined;
      const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1];
      const tgid = Number(field('Tgid') ?? pid ?? tid);
      if (pid !== undefined && tgid !== pid) return undefined;
      e = { pid: tgid, ppid: Number(field('PPid') ?? 0), comm: field('Name') ?? '', source: 'proc', exited: false, since: 0 };
      const vpid = vpidFromStatus(status);
      if (vpid !== undefined) e.vpid = vpid;
      readProgram(e, tgid);
    } else {
      const ids = view.idsOf(tid);
      if (!ids || ids.lpid === 0 || (pid !== undefined && ids.pid !== pid)) return undefined;
      e = view.readProc(ids.pid, (local) => {
        const status = readStatus(local);
        if (status === undefined) return undefined;
        const read: Entry = { pid: ids.pid, ppid: ids.ppid, comm: /^Name:\s*(.*)$/m.exec(status)?.[1] ?? '', source: 'proc', exited: false, since: 0, vpid: ids.vpid };
        readProgram(read, local);
        return read;
      });
      if (!e) return undefined;
    }
    this.set(e.pid, e);
    this.bind(tid, e.pid);
    return e;
  }
}

/** The executable and arguments of the process syswarden's /proc knows as `local`, into `e`. */
function readProgram(e: Entry, local: number): void {
  const exe = readExe(local);
  if (exe !== undefined) e.exe = exe;
  try {
    const args = readFileSync(`/proc/${local}/cmdline`, 'utf8').split('\0');
    if (args[args.length - 1] === '') args.pop();
    e.args = args;
  } catch {
    // gone meanwhile: no arguments
  }
}

/** The executable of host process `pid` (translated, and proven, in a pid namespace of syswarden's own). */
function exeOf(pid: number): string | undefined {
  if (!(pid > 0)) return undefined;
  return pidView().readProc(pid, readExe);
}

/** The executable of process `pid` as syswarden's /proc shows it, or undefined once it has gone (or cannot be read). */
export function readExe(pid: number): string | undefined {
  if (!(pid > 0)) return undefined;
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}
