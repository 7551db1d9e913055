import { PSEUDO_BASE, syscallNumber } from './syscalls.js';
import { reportLine, type TraceIssues } from './issues.js';
import type { EventSink } from './sink.js';

/**
 * Optional `-f` pid prefix (`[pid 123] ` or `123  ` as with `-o`), then an
 * optional `-t`/`-tt` (hh:mm:ss[.us]) or `-ttt`/`-r` (seconds.us) timestamp.
 * The bare-number pid alternative cannot swallow a `-ttt` stamp because it
 * must be followed by whitespace, and stamps always carry a dot.
 */
const PREFIX = /^\s*(?:\[pid\s+(\d+)\]\s*|(\d+)\s+)?(?:(?:\d{1,2}:\d{2}:\d{2}(?:\.\d+)?|\d+\.\d+)\s+)?/;
const CALL = /^([A-Za-z_][A-Za-z0-9_]*)\(/;
const RESUMED = /^<\.\.\.\s+([A-Za-z_][A-Za-z0-9_]*)\s+resumed>/;
const UNFINISHED = /<unfinished \.\.\.>\s*$/;
const NUMBERED = /^syscall_(0x[0-9a-fA-F]+|\d+)$/;

/**
 * Line-at-a-time strace parser. Holds per-pid state across lines: which
 * stream a pid currently maps to, and which calls are unfinished, so a call
 * split into `<unfinished ...>` / `<... resumed>` is counted once, at the
 * unfinished line (the order in which the thread entered its calls).
 */
export class StraceParser {
  private readonly streams = new Map<number, number>();
  private readonly pending = new Map<number, Map<string, number>>();
  private nextId = 0;

  constructor(
    private readonly file: string,
    private readonly sink: EventSink,
    private readonly issues: TraceIssues,
    private readonly lenient: boolean,
  ) {}

  private stream(pid: number): number {
    let id = this.streams.get(pid);
    if (id === undefined) {
      id = this.nextId++;
      this.streams.set(pid, id);
      this.sink.thread(id, pid);
    }
    return id;
  }

  line(text: string, lineNo: number): void {
    const prefix = PREFIX.exec(text);
    const pid = prefix?.[1] !== undefined ? Number(prefix[1]) : prefix?.[2] !== undefined ? Number(prefix[2]) : 0;
    const rest = prefix ? text.slice(prefix[0].length) : text;
    if (rest.length === 0) return;

    const call = CALL.exec(rest);
    if (call) {
      const name = call[1]!;
      const nr = this.resolve(name, lineNo);
      if (nr === undefined) return;
      const id = this.stream(pid);
      if (UNFINISHED.test(rest)) {
        let open = this.pending.get(pid);
        if (!open) this.pending.set(pid, (open = new Map()));
        open.set(name, (open.get(name) ?? 0) + 1);
      }
      this.sink.call(id, nr);
      return;
    }

    const resumed = RESUMED.exec(rest);
    if (resumed) {
      const name = resumed[1]!;
      const open = this.pending.get(pid);
      const n = open?.get(name) ?? 0;
      if (n > 0) {
        if (n === 1) open!.delete(name);
        else open!.set(name, n - 1);
        return;
      }
      // strace attached while this call was already blocked: its start was
      // never printed, so this line is the only record of the call.
      const nr = this.resolve(name, lineNo);
      if (nr !== undefined) this.sink.call(this.stream(pid), nr);
      return;
    }

    if (rest.startsWith('--- ')) {
      const token = rest.slice(4).split(' ', 1)[0] ?? '';
      // Only signal deliveries are events of the thread; `--- stopped by SIGSTOP ---` is ptrace noise.
      if (!token.startsWith('SIG')) return;
      const nr = syscallNumber(token);
      if (nr === undefined || nr < PSEUDO_BASE) {
        reportLine(this.issues, this.lenient, 'unknownSyscall', this.file, lineNo, `unknown signal '${token}'`);
        return;
      }
      this.sink.call(this.stream(pid), nr);
      return;
    }

    if (rest.startsWith('+++ ')) {
      const id = this.streams.get(pid);
      if (id !== undefined) {
        this.streams.delete(pid);
        this.pending.delete(pid);
        this.sink.end(id);
      }
      return;
    }

    // strace's own messages (`strace: Process 12 attached`) describe the tracer, not the thread.
    if (rest.startsWith('strace: ')) return;

    reportLine(this.issues, this.lenient, 'malformed', this.file, lineNo, `not a strace line (expected 'name(args) = result', a signal or an exit line; the line is not quoted: traces may hold secrets)`);
  }

  private resolve(name: string, lineNo: number): number | undefined {
    const nr = syscallNumber(name);
    if (nr !== undefined && nr < PSEUDO_BASE) return nr;
    const numbered = NUMBERED.exec(name);
    // strace prints syscall_<nr> for numbers it has no name for; only a syscall's number fits our 16-bit
    // events without wrapping or aliasing a signal pseudo-syscall (syscall_0x10000 was read as read(2)).
    if (numbered) {
      const nr = Number(numbered[1]);
      if (nr < PSEUDO_BASE) return nr;
    }
    reportLine(this.issues, this.lenient, 'unknownSyscall', this.file, lineNo, `unknown syscall '${name}'`);
    return undefined;
  }

  /** Ends every thread still open at end of file. */
  finish(): void {
    for (const id of this.streams.values()) this.sink.end(id);
    this.streams.clear();
    this.pending.clear();
  }
}

export function clip(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

/** True when a line looks like strace output rather than a bare list of names. */
export function looksLikeStrace(line: string): boolean {
  const prefix = PREFIX.exec(line);
  const rest = prefix ? line.slice(prefix[0].length) : line;
  return CALL.test(rest) || RESUMED.test(rest) || rest.startsWith('--- ') || rest.startsWith('+++ ') || rest.startsWith('strace: ');
}
