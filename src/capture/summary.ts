import { syscallName } from '../trace/syscalls.js';
import { syscallTable } from '../trace/trace-summary.js';
import { readRecording, type RecordingHeader, type RecordingTrailer } from './recording.js';

export interface RecordingSummary {
  file: string;
  header: RecordingHeader;
  events: number;
  batches: number;
  threads: number;
  /** Seconds from the first to the last event. */
  spanSeconds: number;
  syscalls: Array<{ name: string; nr: number; count: number }>;
  perTarget: Array<{ slot: number; spec: string; events: number }>;
  drops: { kernel: number; user: number } | null;
  trailer: RecordingTrailer | null;
  truncated: string | null;
}

/** Stream a recording once and count what is in it. */
export async function summarizeRecording(path: string): Promise<RecordingSummary> {
  const bySyscall = new Float64Array(65536);
  const bySlot = new Map<number, number>();
  const tids = new Set<number>();
  let events = 0;
  let batches = 0;
  let first = Infinity;
  let last = -Infinity;
  const r = await readRecording(path, (b) => {
    batches++;
    events += b.count;
    let lastTid = -1;
    for (let i = 0; i < b.count; i++) {
      bySyscall[b.nr(i)]!++;
      const tid = b.tid(i);
      if (tid !== lastTid) {
        tids.add(tid);
        lastTid = tid;
      }
      const slot = b.slot(i);
      bySlot.set(slot, (bySlot.get(slot) ?? 0) + 1);
    }
    if (b.count > 0) {
      first = Math.min(first, b.tsNs(0));
      last = Math.max(last, b.tsNs(b.count - 1));
    }
  });
  const syscalls: RecordingSummary['syscalls'] = [];
  bySyscall.forEach((count, nr) => {
    if (count > 0) syscalls.push({ name: syscallName(nr), nr, count });
  });
  syscalls.sort((a, b) => b.count - a.count || a.nr - b.nr);
  const specOf = new Map(r.header.targets.map((t) => [t.slot, t.spec]));
  const perTarget = [...bySlot].map(([slot, n]) => ({ slot, spec: specOf.get(slot) ?? (r.header.allProcesses ? 'all processes' : `slot ${slot}`), events: n }));
  const stats = r.trailer?.stats;
  return {
    file: path,
    header: r.header,
    events,
    batches,
    threads: tids.size,
    spanSeconds: events > 0 ? (last - first) / 1e9 : 0,
    syscalls,
    perTarget,
    drops: stats ? { kernel: stats.kernel.dropped, user: stats.user.droppedEvents } : null,
    trailer: r.trailer ?? null,
    truncated: r.truncated ?? null,
  };
}

export function formatSummary(s: RecordingSummary, top = 25): string {
  const lines: string[] = [];
  const h = s.header;
  lines.push(`recording   ${s.file}`);
  lines.push(`started     ${new Date(h.startTime).toISOString()} on ${h.arch} Linux ${h.kernel}`);
  lines.push(`targets     ${h.allProcesses ? 'all processes' : h.targets.map((t) => `${t.spec} (${t.cgroupPath})`).join(', ') || 'none'}`);
  lines.push(`events      ${s.events} in ${s.batches} batches over ${s.spanSeconds.toFixed(3)} s`);
  lines.push(`threads     ${s.threads}`);
  if (s.drops) {
    const st = s.trailer!.stats;
    lines.push(
      `drops       kernel ${s.drops.kernel} (of ${st.kernel.matched} matched), user space ${s.drops.user}` +
        (s.drops.kernel + s.drops.user > 0 ? '  <- events were lost' : ''),
    );
  } else {
    lines.push('drops       unknown (no trailer)');
  }
  if (s.perTarget.length > 1) {
    for (const t of s.perTarget) lines.push(`  ${String(t.events).padStart(10)}  ${t.spec}`);
  }
  lines.push(...syscallTable(s.syscalls, s.events, top));
  return lines.join('\n');
}
