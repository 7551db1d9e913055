import { ABIS, PSEUDO_BASE, canonicalFromNative, syscallNumber, type Abi } from './syscalls.js';
import { reportLine } from './issues.js';
import { LineParser, StreamIds } from './sink.js';

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
 * strace shows the calls an i386 process makes through socketcall(2) and
 * ipc(2) under the subcall's own name. Those that are no i386 syscall but
 * an x86_64 one (accept, semop, semtimedop) resolve to that x86_64 id: the
 * same name, the same operation. send and recv name no syscall on either
 * ABI and stay unknown; socketcall and ipc themselves keep their own ids.
 */
const I386_SUBCALLS = new Map<string, number>();
for (const name of [
  'socket', 'bind', 'connect', 'listen', 'accept', 'getsockname', 'getpeername', 'socketpair', 'send', 'recv',
  'sendto', 'recvfrom', 'shutdown', 'setsockopt', 'getsockopt', 'sendmsg', 'recvmsg', 'accept4', 'recvmmsg', 'sendmmsg',
  'semop', 'semget', 'semctl', 'semtimedop', 'msgsnd', 'msgrcv', 'msgget', 'msgctl', 'shmat', 'shmdt', 'shmget', 'shmctl',
]) {
  const id = syscallNumber(name, 'x86_64');
  if (syscallNumber(name, 'i386') === undefined && id !== undefined) I386_SUBCALLS.set(name, id);
}

/**
 * Canonical id of a syscall name a trace of `abi` holds, or undefined. Used
 * by the strace and plain readers alike, so a name means the same in both.
 */
export function traceSyscallNumber(name: string, abi: Abi): number | undefined {
  const nr = syscallNumber(name, abi);
  if (nr !== undefined || abi !== 'i386') return nr;
  return I386_SUBCALLS.get(name);
}

/**
 * Why a name is unknown, with a hint when another ABI knows it: an i386
 * trace read as x86_64 is the likely mistake (mmap2, _llseek, socketcall).
 */
export function unknownSyscallReason(name: string, abi: Abi, shown = name): string {
  const other = ABIS.find((a) => a !== abi && (traceSyscallNumber(name, a) ?? PSEUDO_BASE) < PSEUDO_BASE);
  return `unknown syscall '${shown}'` + (other ? ` for ${abi} (it is an ${other} syscall: read the trace with --abi ${other})` : '');
}

/**
 * Line-at-a-time strace parser. Holds per-pid state across lines: which
 * stream a pid currently maps to, and which calls are unfinished, so a call
 * split into `<unfinished ...>` / `<... resumed>` is counted once, at the
 * unfinished line (the order in which the thread entered its calls).
 */
export class StraceParser extends LineParser {
  private readonly streams = new StreamIds(this.sink);
  private readonly pending = new Map<number, Map<string, number>>();

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
      const id = this.streams.of(pid);
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
      if (nr !== undefined) this.sink.call(this.streams.of(pid), nr);
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
      this.sink.call(this.streams.of(pid), nr);
      return;
    }

    if (rest.startsWith('+++ ')) {
      if (this.streams.end(pid)) this.pending.delete(pid);
      return;
    }

    // strace's own messages (`strace: Process 12 attached`) describe the tracer, not the thread.
    if (rest.startsWith('strace: ')) return;

    reportLine(this.issues, this.lenient, 'malformed', this.file, lineNo, `not a strace line (expected 'name(args) = result', a signal or an exit line; the line is not quoted: traces may hold secrets)`);
  }

  private resolve(name: string, lineNo: number): number | undefined {
    const nr = traceSyscallNumber(name, this.abi);
    if (nr !== undefined && nr < PSEUDO_BASE) return nr;
    const numbered = NUMBERED.exec(name);
    // strace prints syscall_<nr> for numbers it has no name for: the process's own (native) number. Only one
    // with a canonical id fits our 16-bit events without wrapping or aliasing a signal pseudo-syscall
    // (syscall_0x10000 was read as read(2)) or an i386-only id.
    if (numbered) {
      const id = canonicalFromNative(this.abi, Number(numbered[1]));
      if (id !== undefined) return id;
    }
    reportLine(this.issues, this.lenient, 'unknownSyscall', this.file, lineNo, unknownSyscallReason(name, this.abi));
    return undefined;
  }

  /** Ends every thread still open at end of file. */
  finish(): void {
    this.streams.endAll();
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
