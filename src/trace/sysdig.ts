/**
 * sysdig text events, as the LID-DS datasets ship them (the `.sc` file of
 * each recording's zip). Two layouts, one event per line, fields split by
 * single spaces:
 *
 *   LID-DS 2021: <unix ns> <uid> <pid> <process> <tid> <event> <dir> [params]
 *   LID-DS 2019: <event no.> <hh:mm:ss.ns> <cpu> <uid> <process> <tid> <dir> <event> [params]
 *
 * `dir` is `>` when the thread enters the call and `<` when it returns.
 * A call's time (when asked for) is the 2021 layout's unix ns, or the 2019
 * layout's time of day on a clock that runs on past midnight.
 * A call is counted once, at its entry (as syswarden's own capture counts at
 * sys_enter); a return whose entry is not in the file (the capture started
 * while the call was blocked) is the only record of the call and counts
 * instead. Events that are no syscall (context switches, page faults, signal
 * deliveries, sysdig's own) are skipped; `procexit` ends the thread's stream.
 * sysdig's names that no syscall of the ABI has (pread, prlimit, umount) are
 * mapped to the syscall they stand for.
 */
import { reportLine } from './issues.js';
import { LineParser, StreamIds } from './sink.js';
import { PSEUDO_BASE } from './syscalls.js';
import { traceSyscallNumber, unknownSyscallReason } from './strace.js';

const LINE_2021 = /^(\d{10,20}) \d+ \d+ \S+ (\d+) ([A-Za-z_][A-Za-z0-9_]*) ([<>])(?: |$)/;
const LINE_2019 = /^\d+ (\d{1,2}):(\d{2}):(\d{2})\.(\d+) \d+ \d+ \S+ (\d+) ([<>]) ([A-Za-z_][A-Za-z0-9_]*)(?: |$)/;
const DAY_NS = 86_400e9;

/** ns since midnight of a 2019 line's hh:mm:ss.fraction. */
function timeOfDayNs(h: string, m: string, sec: string, fraction: string): number {
  return ((Number(h) * 60 + Number(m)) * 60 + Number(sec)) * 1e9 + Number(fraction.slice(0, 9).padEnd(9, '0'));
}

/** sysdig event names that are no syscall: skipped. */
const NOT_SYSCALLS = new Set([
  'switch', 'page_fault', 'signaldeliver', 'procinfo', 'drop', 'container', 'cpu_hotplug', 'notification',
  'infra', 'pluginevent', 'k8s', 'mesos', 'tracer', 'sysdigevent', 'scapevent', 'procexit',
]);

/** sysdig's own names for syscalls that the syscall tables name otherwise. */
const SYSDIG_NAMES = new Map([
  ['pread', 'pread64'],
  ['pwrite', 'pwrite64'],
  ['prlimit', 'prlimit64'],
  ['llseek', 'lseek'],
  ['umount', 'umount2'],
  ['mmap2', 'mmap'],
  ['sendfile64', 'sendfile'],
  ['fcntl64', 'fcntl'],
  ['stat64', 'stat'],
  ['lstat64', 'lstat'],
  ['fstat64', 'fstat'],
]);

/** The thread id, event name and direction of a sysdig line, and its unix time in ns (2021 layout) or its time of day in ns (2019), or null. */
function parse(line: string): { tid: number; name: string; enter: boolean; ns?: number; dayNs?: number } | null {
  const a = LINE_2021.exec(line);
  if (a) return { tid: Number(a[2]), name: a[3]!, enter: a[4] === '>', ns: Number(a[1]) };
  const b = LINE_2019.exec(line);
  if (b) return { tid: Number(b[5]), name: b[7]!, enter: b[6] === '>', dayNs: timeOfDayNs(b[1]!, b[2]!, b[3]!, b[4]!) };
  return null;
}

export function looksLikeSysdig(line: string): boolean {
  return parse(line) !== null;
}

export class SysdigParser extends LineParser {
  private readonly streams = new StreamIds(this.sink);
  /** The call each thread entered and has not returned from (a thread is in one call at a time). */
  private readonly inCall = new Map<number, string>();
  /** 2019 layout: days passed since the first line (its times are of the day only), and the last time of day seen. */
  private days = 0;
  private lastDayNs = Number.NaN;

  line(text: string, lineNo: number): void {
    if (text.trim().length === 0) return;
    const e = parse(text);
    if (!e) {
      reportLine(this.issues, this.lenient, 'malformed', this.file, lineNo, `not a sysdig event line as LID-DS records them (expected '<time> <uid> <pid> <process> <tid> <event> <dir> ...' or the 2019 layout; the line is not quoted: traces may hold secrets)`);
      return;
    }
    // Every line moves the 2019 clock, a context switch's too: a long quiet spell across midnight is then still seen.
    const ns = e.ns ?? (e.dayNs !== undefined ? this.clock(e.dayNs) : undefined);
    if (e.name === 'procexit') {
      this.streams.end(e.tid);
      this.inCall.delete(e.tid);
      return;
    }
    if (NOT_SYSCALLS.has(e.name)) return;
    if (!e.enter) {
      // The return of the call the thread entered: counted at its entry already.
      if (this.inCall.get(e.tid) === e.name) {
        this.inCall.delete(e.tid);
        return;
      }
    } else {
      this.inCall.set(e.tid, e.name);
    }
    const nr = this.resolve(e.name, lineNo);
    if (nr !== undefined) this.sink.call(this.streams.of(e.tid), nr, ns);
  }

  /**
   * A 2019 line's time on the recording's clock: ns since the midnight before
   * its first line. A time of day half a day below the last one is the next
   * day (events out of order across CPUs differ by far less).
   */
  private clock(dayNs: number): number {
    if (dayNs + DAY_NS / 2 < this.lastDayNs) this.days++;
    this.lastDayNs = dayNs;
    return this.days * DAY_NS + dayNs;
  }

  private resolve(name: string, lineNo: number): number | undefined {
    const alias = SYSDIG_NAMES.get(name);
    const nr = traceSyscallNumber(name, this.abi) ?? (alias !== undefined ? traceSyscallNumber(alias, this.abi) : undefined);
    if (nr !== undefined && nr < PSEUDO_BASE) return nr;
    reportLine(this.issues, this.lenient, 'unknownSyscall', this.file, lineNo, unknownSyscallReason(name, this.abi));
    return undefined;
  }

  /** Ends every thread still open at end of file. */
  finish(): void {
    this.streams.endAll();
    this.inCall.clear();
  }
}
