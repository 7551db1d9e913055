import type { CapacityPoint } from './capacity.js';
import type { LatencyResult } from './latency.js';
import type { Cell, ConfigName } from './suite.js';

/**
 * The benchmark targets of the issue and how a run is judged against them.
 * The CLI (`syswarden bench`) and the page (scripts/benchmarks-page.mjs)
 * both judge with these functions, so the terminal and docs/benchmarks.md
 * cannot disagree.
 */

export type Verdict = 'met' | 'missed' | 'not measured';

/**
 * The one rule: a figure is judged against its limit only when it rests on
 * at least one sample; a figure measured on nothing (0 alerts, 0 runs, NaN)
 * is 'not measured', never 'met'.
 */
export function judge(figure: { value: number; samples: number }, limit: number, atMost: boolean): Verdict {
  if (!(figure.samples > 0) || !Number.isFinite(figure.value)) return 'not measured';
  return (atMost ? figure.value <= limit : figure.value >= limit) ? 'met' : 'missed';
}

export type Target =
  | { kind: 'ratio'; text: string; workload: string; config: ConfigName; limit: number }
  | { kind: 'capacity'; text: string; mode: CapacityPoint['mode']; limitPerSec: number }
  | { kind: 'latency'; text: string; ratePerSec: number; limitMs: number };

export const TARGETS: readonly Target[] = [
  { kind: 'ratio', workload: 'getppid', config: 'capture', limit: 2.0, text: 'getppid: capture <= 2.0x bare' },
  { kind: 'ratio', workload: 'getppid', config: 'pipeline', limit: 2.5, text: 'getppid: full pipeline <= 2.5x bare' },
  { kind: 'ratio', workload: 'getppid', config: 'other', limit: 1.5, text: 'getppid: unwatched process <= 1.5x bare' },
  { kind: 'ratio', workload: 'dd', config: 'capture', limit: 1.7, text: 'dd: capture <= 1.7x bare' },
  { kind: 'ratio', workload: 'nginx', config: 'capture', limit: 0.9, text: 'nginx: >= 0.90x bare requests/s when watched' },
  { kind: 'capacity', mode: 'capture', limitPerSec: 5e6, text: 'capacity: capture loses nothing at >= 5 M events/s' },
  { kind: 'capacity', mode: 'pipeline', limitPerSec: 2e6, text: 'capacity: full pipeline loses nothing at >= 2 M events/s' },
  { kind: 'latency', ratePerSec: 1e6, limitMs: 50, text: 'latency: syscall to alert p99 <= 50 ms at 1 M events/s' },
];

export interface Judgement {
  target: Target;
  verdict: Verdict;
  /** The figure and what it rests on, or why there is none. */
  detail: string;
}

/** What a run produced; a part that was not run is absent (or, for cells and latency, empty). */
export interface BenchResults {
  cells?: readonly Cell[];
  capacity?: { points: readonly CapacityPoint[] };
  latency?: readonly LatencyResult[];
}

const mps = (perSec: number): string => `${(perSec / 1e6).toFixed(2)} M/s`;

function judgeRatio(t: Extract<Target, { kind: 'ratio' }>, cells: readonly Cell[]): Omit<Judgement, 'target'> {
  if (cells.length === 0) return { verdict: 'not measured', detail: 'the suite was not run' };
  const cell = cells.find((c) => c.workload === t.workload && c.config === t.config);
  const bare = cells.find((c) => c.workload === t.workload && c.config === 'bare');
  if (!cell) return { verdict: 'not measured', detail: `no ${t.workload} run under ${t.config} in this run` };
  if (!bare) return { verdict: 'not measured', detail: `no bare ${t.workload} run to compare with` };
  const samples = Math.min(cell.result.runs.length, bare.result.runs.length);
  const verdict = judge({ value: cell.ratio, samples }, t.limit, cell.lowerIsBetter);
  if (verdict === 'not measured') return { verdict, detail: samples === 0 ? 'no runs' : `the ratio is ${cell.ratio} (a run failed to give a figure)` };
  // The runs are interleaved, so run i of the configuration and run i of bare shared a round of the machine's drift.
  const rounds = cell.result.runs.length === bare.result.runs.length ? cell.result.runs.map((x, i) => x / bare.result.runs[i]!) : [];
  const within = rounds.filter((x) => judge({ value: x, samples: 1 }, t.limit, cell.lowerIsBetter) === 'met').length;
  return {
    verdict,
    detail:
      `x${cell.ratio.toFixed(2)}, the ratio of medians of ${samples} run${samples === 1 ? '' : 's'}` +
      (rounds.length ? `; ${within} of ${rounds.length} rounds within the limit (x${rounds.map((x) => x.toFixed(2)).join(', x')})` : ''),
  };
}

/**
 * A capacity target holds when some run offered at least the limit and lost
 * nothing; it is missed when a run offered less than the limit and lost
 * events; when neither (the load never reached the limit without loss, and
 * nothing below it was lost) the runs do not say.
 */
export function judgeCapacity(points: readonly CapacityPoint[], mode: CapacityPoint['mode'], limitPerSec: number): Omit<Judgement, 'target'> {
  const mine = points.filter((p) => p.mode === mode);
  if (mine.length === 0) return { verdict: 'not measured', detail: 'the capacity ramp was not run' };
  const lossFree = Math.max(0, ...mine.filter((p) => p.lost === 0).map((p) => p.offeredPerSec));
  if (lossFree >= limitPerSec) {
    return { verdict: 'met', detail: `a run offered ${mps(lossFree)} and lost nothing; ${mine.filter((p) => p.lost === 0).length} of ${mine.length} runs lost nothing` };
  }
  const lossyBelow = mine.filter((p) => p.lost > 0 && p.offeredPerSec < limitPerSec).sort((x, y) => x.offeredPerSec - y.offeredPerSec)[0];
  if (lossyBelow) {
    return { verdict: 'missed', detail: `lost ${lossyBelow.lost} events at ${mps(lossyBelow.offeredPerSec)} offered; no loss only up to ${mps(lossFree)}` };
  }
  const lossyAbove = mine.filter((p) => p.lost > 0).sort((x, y) => x.offeredPerSec - y.offeredPerSec)[0];
  if (lossyAbove) {
    return { verdict: 'not measured', detail: `no loss up to ${mps(lossFree)}, loss from ${mps(lossyAbove.offeredPerSec)}: no run offered a rate in between` };
  }
  const most = Math.max(...mine.map((p) => p.offeredPerSec));
  return { verdict: 'not measured', detail: `the workload offered at most ${mps(most)} and nothing was lost: the load never reached the target` };
}

/** The latency target: p99 of the alerts of the run at the target rate; no alerts is no measurement. */
export function judgeLatency(runs: readonly LatencyResult[], ratePerSec: number, limitMs: number): Omit<Judgement, 'target'> {
  const r = runs.find((x) => x.targetPerSec === ratePerSec);
  if (!r) return { verdict: 'not measured', detail: `no latency run at ${mps(ratePerSec)}` };
  if (r.alerts === 0) return { verdict: 'not measured', detail: '0 alerts in the latency run' };
  // The target is at a rate: a run the machine could not drive near it does not speak for it.
  if (r.eventsPerSec < 0.9 * ratePerSec) return { verdict: 'not measured', detail: `the run reached only ${mps(r.eventsPerSec)}` };
  const verdict = judge({ value: r.p99Ms, samples: r.alerts }, limitMs, true);
  const notes = [
    ...(r.intruders !== undefined && r.alerts < r.intruders ? [`fewer alerts than the ${r.intruders} intruders`] : []),
    ...(r.lost ? [`${r.lost} events lost, so some alerts may be missing`] : []),
  ];
  return { verdict, detail: [`p99 ${r.p99Ms.toFixed(1)} ms over ${r.alerts} alert${r.alerts === 1 ? '' : 's'}`, ...notes].join('; ') };
}

/** Every target, judged: parts of the benchmark that were not run give 'not measured' with the reason. */
export function judgeTargets(results: BenchResults, targets: readonly Target[] = TARGETS): Judgement[] {
  return targets.map((target) => {
    switch (target.kind) {
      case 'ratio':
        return { target, ...judgeRatio(target, results.cells ?? []) };
      case 'capacity':
        return { target, ...judgeCapacity(results.capacity?.points ?? [], target.mode, target.limitPerSec) };
      case 'latency':
        return { target, ...(results.latency?.length ? judgeLatency(results.latency, target.ratePerSec, target.limitMs) : { verdict: 'not measured' as const, detail: 'the latency part was not run' }) };
    }
  });
}

/** One line per target: the verdict first, so a reader (or grep) finds it. */
export function formatJudgement(j: Judgement): string {
  return `${j.verdict.padEnd(12)} ${j.target.text}: ${j.detail}`;
}
