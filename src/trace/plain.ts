import { MAX_SYSCALL, PSEUDO_BASE, canonicalFromNative, syscallName, syscallNumber, type Abi } from './syscalls.js';
import { reportLine } from './issues.js';
import { LineParser } from './sink.js';
import { clip, traceSyscallNumber, unknownSyscallReason } from './strace.js';

const TOKEN = /^(?:\d+|[A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * A plain list: syscall names or numbers, one per line or whitespace
 * separated, `#` starts a comment. The whole file is one thread (id 0).
 */
export class PlainParser extends LineParser {
  private started = false;

  line(text: string, lineNo: number): void {
    const hash = text.indexOf('#');
    const body = (hash >= 0 ? text.slice(0, hash) : text).trim();
    if (body.length === 0) return;
    for (const token of body.split(/\s+/)) {
      if (!TOKEN.test(token)) {
        reportLine(this.issues, this.lenient, 'malformed', this.file, lineNo, `a token of ${token.length} characters is neither a syscall name nor a number (not quoted: the file may hold secrets)`);
        continue;
      }
      const nr = resolveToken(token, this.abi);
      if (nr === undefined) {
        reportLine(this.issues, this.lenient, 'unknownSyscall', this.file, lineNo, unknownSyscallReason(token, this.abi, clip(token)));
        continue;
      }
      if (!this.started) {
        this.started = true;
        this.sink.thread(0, 0);
      }
      this.sink.call(0, nr);
    }
  }

  finish(): void {
    if (this.started) this.sink.end(0);
  }
}

/**
 * Canonical id of a token. A number is the process's own (native) number in
 * `abi`, accepted when it names something: a syscall of that ABI's table, or
 * a signal pseudo-syscall (PSEUDO_BASE and up, the same in every ABI).
 */
function resolveToken(token: string, abi: Abi): number | undefined {
  const c = token.charCodeAt(0);
  if (c >= 48 && c <= 57) {
    const nr = Number(token);
    if (nr >= PSEUDO_BASE) return syscallNumber(syscallName(nr)) === nr ? nr : undefined;
    if (abi === 'x86_64') return nr <= MAX_SYSCALL && !syscallName(nr).startsWith('sys_') ? nr : undefined;
    return canonicalFromNative(abi, nr);
  }
  return traceSyscallNumber(token, abi);
}

/** True when a line could belong to a plain list. */
export function looksLikePlain(line: string): boolean {
  const hash = line.indexOf('#');
  const body = (hash >= 0 ? line.slice(0, hash) : line).trim();
  return body.length === 0 || body.split(/\s+/).every((t) => TOKEN.test(t));
}
