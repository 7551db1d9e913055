import { openTrace, type ReadTraceOptions, type TraceIssues } from './read-trace.js';
import { syscallName, type Abi } from './syscalls.js';

/** What a text trace holds, the counterpart of a recording's summary (capture/summary.ts). */
export interface TraceSummary {
  file: string;
  format: string;
  /** The numbering the trace was read in. */
  abi: Abi;
  events: number;
  /** Streams: a pid that exits and is reused counts again. */
  threads: number;
  /** By canonical id (`nr`), most frequent first. */
  syscalls: Array<{ name: string; nr: number; count: number }>;
  issues: TraceIssues;
}

/** Streams a strace or plain trace once and counts what is in it. */
export async function summarizeTrace(path: string, opts: ReadTraceOptions = {}): Promise<TraceSummary> {
  const abi = opts.abi ?? 'x86_64';
  const src = await openTrace(path, { ...opts, abi });
  const bySyscall = new Float64Array(65536);
  let events = 0;
  for await (const b of src) {
    events += b.count;
    for (let i = 0; i < b.count; i++) bySyscall[b.calls[i]!]!++;
  }
  const syscalls: TraceSummary['syscalls'] = [];
  bySyscall.forEach((count, nr) => {
    if (count > 0) syscalls.push({ name: syscallName(nr), nr, count });
  });
  syscalls.sort((a, b) => b.count - a.count || a.nr - b.nr);
  return { file: path, format: src.format, abi, events, threads: src.pids.length, syscalls, issues: src.issues };
}

export function formatTraceSummary(s: TraceSummary, top = 25): string {
  const lines: string[] = [];
  lines.push(`trace       ${s.file}`);
  lines.push(`format      ${s.format}, ${s.abi} syscall numbering`);
  lines.push(`events      ${s.events}`);
  lines.push(`threads     ${s.threads}`);
  const skipped = s.issues.malformed + s.issues.unknownSyscall;
  if (skipped > 0) {
    lines.push(`skipped     ${skipped} lines: ${s.issues.unknownSyscall} unknown syscalls, ${s.issues.malformed} malformed`);
    for (const e of s.issues.examples) lines.push(`  ${e}`);
  }
  for (const w of s.issues.warnings ?? []) lines.push(`warning     ${w}`);
  lines.push(...syscallTable(s.syscalls, s.events, top));
  return lines.join('\n');
}

/** The syscalls-by-count table both summaries end with (recordings and traces). */
export function syscallTable(syscalls: readonly { name: string; count: number }[], events: number, top: number): string[] {
  const lines = ['syscalls:'];
  const width = Math.max(...syscalls.slice(0, top).map((x) => x.name.length), 4);
  for (const x of syscalls.slice(0, top)) {
    const pct = events ? ((100 * x.count) / events).toFixed(1) : '0';
    lines.push(`  ${x.name.padEnd(width)} ${String(x.count).padStart(10)}  ${pct.padStart(5)}%`);
  }
  if (syscalls.length > top) lines.push(`  ... ${syscalls.length - top} more (--json lists all)`);
  return lines;
}
