import { SyswardenError } from '../errors.js';

/** Lines a lenient read skipped, by reason, with the first few for the report. */
export interface TraceIssues {
  malformed: number;
  unknownSyscall: number;
  /** Up to 5 `file:line: reason` strings, so the report can show examples. */
  examples: string[];
  /** Things worth telling that lost no line, e.g. a recording cut short (read up to its last batch). */
  warnings?: string[];
}

export function emptyIssues(): TraceIssues {
  return { malformed: 0, unknownSyscall: 0, examples: [] };
}

/**
 * One bad line: thrown in strict mode (naming file, line and fix), counted
 * when lenient. Centralised so every reader words its errors the same way.
 */
export function reportLine(
  issues: TraceIssues,
  lenient: boolean,
  kind: 'malformed' | 'unknownSyscall',
  file: string,
  lineNo: number,
  reason: string,
): void {
  const where = `${file}:${lineNo}: ${reason}`;
  if (!lenient) {
    const fix =
      kind === 'unknownSyscall'
        ? 'Fix: correct the name, give the x86_64 syscall number instead, or pass --lenient to skip and count such lines.'
        : 'Fix: correct or remove the line, pick the format explicitly with --format, or pass --lenient to skip and count such lines.';
    throw new SyswardenError(kind === 'unknownSyscall' ? 'ERR_TRACE_UNKNOWN_SYSCALL' : 'ERR_TRACE_MALFORMED', `${where}. ${fix}`);
  }
  issues[kind]++;
  if (issues.examples.length < 5) issues.examples.push(where);
}
