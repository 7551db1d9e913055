import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCapacity, type CapacityResult } from '../bench/capacity.js';
import { runLatency, trainBenchModel, type LatencyResult } from '../bench/latency.js';
import { runMetricsOverhead, type MetricsOverheadResult } from '../bench/metrics.js';
import { CONFIGS, CONFIG_LABELS, machineInfo, runSuite, type Cell, type ConfigName } from '../bench/suite.js';
import { formatJudgement, judgeTargets } from '../bench/targets.js';
import { ddCopy, getppidLoop, nginxWrk, syscallMix, type Workload } from '../bench/workloads.js';
import { SyswardenError } from '../errors.js';
import { checkOutputPath, writeFileSafely } from '../io/safe-file.js';
import { parseCommandArgs, parseInteger, type Parsed } from './args.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const HELP = `usage: syswarden bench [--quick] [--runs N] [--workloads getppid,dd,nginx,mix] [--configs ${CONFIGS.join(',')}]
                       [--parts suite,capacity,latency,metrics] [--out <json> [--force]]

Measures syswarden against bare runs and strace -f, interleaved, and prints
medians with min-max and ratios to bare. --quick: fewer calls and runs (CI).
Writes bench/results/latest.json (or --out, replaced only with --force);
scripts/benchmarks-page.mjs turns it into docs/benchmarks.md. The metrics part
runs the latency flood with and without a scraper of watch's /metrics.`;

function fmt(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 1000) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(3);
}

function printCells(cells: Cell[]): void {
  for (const w of [...new Set(cells.map((c) => c.workload))]) {
    const rows = cells.filter((c) => c.workload === w);
    console.log(`\n${w} (${rows[0]!.unit}, ${rows[0]!.lowerIsBetter ? 'lower' : 'higher'} is better; median [min-max], ratio to bare)`);
    for (const c of rows) {
      const sw = c.syswarden
        ? `  ${fmt(c.syswarden.eventsPerSec.median / 1e6)} M ev/s, drops k/u/s ${c.syswarden.kernelDropped}/${c.syswarden.userDropped}/${c.syswarden.scoringDropped}, cpu ${fmt(c.syswarden.cpuMs.median)} ms, rss ${fmt(c.syswarden.rssMiB.median)} MiB`
        : '';
      console.log(`  ${CONFIG_LABELS[c.config].padEnd(36)} ${fmt(c.result.median).padStart(9)} [${fmt(c.result.min)}-${fmt(c.result.max)}]  x${c.ratio.toFixed(2)}${sw}`);
    }
  }
}

export interface BenchArgs {
  quick: boolean;
  runs: number;
  workloads: string[] | undefined;
  configs: ConfigName[];
  parts: string[];
  /** undefined: the default results file in the project, replaced each run. */
  out: string | undefined;
  force: boolean;
}

const WORKLOAD_NAMES = ['getppid', 'dd', 'nginx', 'mix'];
const PARTS = ['suite', 'capacity', 'latency', 'metrics'];

/** The checked options of `bench`; throws an ERR_USAGE SyswardenError. Touches nothing outside. */
export function parse(argv: string[]): Parsed<BenchArgs> {
  const { values } = parseCommandArgs(
    'bench',
    argv,
    {
      quick: { type: 'boolean' },
      runs: { type: 'string' },
      workloads: { type: 'string' },
      configs: { type: 'string' },
      parts: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
    },
    HELP,
  );
  if (values.help) return { help: true };
  const quick = values.quick === true;
  const runs = parseInteger('runs', values.runs, { min: 1, max: 100 }) ?? (quick ? 2 : 5);
  const workloads = values.workloads === undefined ? undefined : values.workloads.split(',').filter(Boolean);
  for (const w of workloads ?? []) if (!WORKLOAD_NAMES.includes(w)) throw new SyswardenError('ERR_USAGE', `unknown workload '${w}'. Use ${WORKLOAD_NAMES.join(', ')}.`);
  const configs = (values.configs ?? CONFIGS.join(',')).split(',').filter(Boolean) as ConfigName[];
  for (const c of configs) if (!CONFIGS.includes(c)) throw new SyswardenError('ERR_USAGE', `unknown configuration '${c}'. Use ${CONFIGS.join(', ')}.`);
  if (!configs.includes('bare')) configs.unshift('bare');
  const parts = (values.parts ?? PARTS.join(',')).split(',').filter(Boolean);
  for (const p of parts) if (!PARTS.includes(p)) throw new SyswardenError('ERR_USAGE', `unknown part '${p}'. Use ${PARTS.join(', ')}.`);
  if (values.out === '') throw new SyswardenError('ERR_USAGE', '--out needs a file name.');
  return { help: false, quick, runs, workloads, configs, parts, out: values.out, force: values.force === true };
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const { quick, runs, configs, parts } = args;
  // The default results file is the project's own and is replaced on every run; a path the user names is replaced only with --force.
  const out = args.out ?? join(root, 'bench', 'results', quick ? 'quick.json' : 'latest.json');
  const force = args.out === undefined || args.force;
  if (args.out === undefined) mkdirSync(dirname(out), { recursive: true });
  // Checked before the benchmarks run for minutes, not after.
  checkOutputPath(out, { what: 'benchmark results', force });
  const all: Workload[] = quick
    ? [getppidLoop(200_000, 20_000), ddCopy(100_000, 5_000), nginxWrk(2), syscallMix(20_000, 2_000)]
    : [getppidLoop(2_000_000, 100_000), ddCopy(1_000_000, 20_000), nginxWrk(10), syscallMix(200_000, 10_000)];
  const wantW = args.workloads ?? all.map((w) => w.name);
  for (const w of wantW) if (!all.some((x) => x.name === w)) throw new SyswardenError('ERR_USAGE', `unknown workload '${w}'. Use ${all.map((x) => x.name).join(', ')}.`);
  const progress = (s: string) => console.error(`bench: ${s}`);

  const tmp = mkdtempSync(join(tmpdir(), 'sw-bench-'));
  try {
    const model = join(tmp, 'bench.model');
    progress('training the model the pipeline configurations score with');
    await trainBenchModel(model);
    const machine = machineInfo();
    console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}`);

    let cells: Cell[] = [];
    if (parts.includes('suite')) {
      cells = await runSuite({ workloads: all.filter((w) => wantW.includes(w.name)), configs, runs, model, onProgress: progress });
      printCells(cells);
    }
    let capacity: CapacityResult | undefined;
    if (parts.includes('capacity')) {
      capacity = await runCapacity({ model, threads: quick ? [1, 2] : [1, 2, 3, 4, 6], callsPerThread: quick ? 300_000 : 3_000_000, runs: quick ? 1 : 3, onProgress: progress });
      console.log('\ncapacity (getppid loop threads, watched):');
      for (const p of capacity.points) {
        console.log(`  run ${p.run + 1} ${p.mode.padEnd(9)} ${String(p.threads).padStart(2)} threads: offered ${fmt(p.offeredPerSec / 1e6)} M/s, delivered ${fmt(p.deliveredPerSec / 1e6)} M/s, lost ${p.lost} (${(100 * p.lossFraction).toFixed(2)}%)`);
      }
      console.log(`  highest rate of a run without loss: capture ${fmt(capacity.lossFree.capture / 1e6)} M/s, pipeline ${fmt(capacity.lossFree.pipeline / 1e6)} M/s (pushed through the main thread ${fmt(capacity.lossFree.pushed / 1e6)} M/s)`);
    }
    const latency: LatencyResult[] = [];
    if (parts.includes('latency')) {
      console.log('');
      for (const rate of [20_000, 1_000_000]) {
        const r = await runLatency(model, rate, quick ? 2 : 5);
        latency.push(r);
        // With no alert there is no latency: the pipeline's 0 ms percentiles must not read as a measurement.
        const figures = r.alerts > 0 ? `p50 ${fmt(r.p50Ms)} ms, p99 ${fmt(r.p99Ms)} ms, max ${fmt(r.maxMs)} ms over ${r.alerts} alerts` : 'no alerts, so no latency measured';
        console.log(`latency at ${fmt(r.eventsPerSec / 1e6)} M ev/s, ${r.intruders} intruders: syscall to alert ${figures}; lost ${r.lost}`);
      }
    }
    let metrics: MetricsOverheadResult | undefined;
    if (parts.includes('metrics')) {
      const m = (metrics = await runMetricsOverhead(model, { ratePerSec: 1_000_000, seconds: quick ? 2 : 5, rounds: quick ? 1 : 3, onProgress: progress }));
      const row = (label: string, s: MetricsOverheadResult['without']) =>
        `  ${label.padEnd(22)} lost ${String(Math.round(s.lost.median)).padStart(9)} (${(100 * s.lossFraction.median).toFixed(2)}%) [${s.lost.min}-${s.lost.max}]   alert p99 ${fmt(s.p99Ms.median)} ms [${fmt(s.p99Ms.min)}-${fmt(s.p99Ms.max)}], alerts ${s.alerts.join('/')}`;
      console.log(`\nmetrics: the latency flood at ${fmt(m.targetPerSec / 1e6)} M ev/s, ${m.rounds} run(s) of ${m.seconds} s each way, alternated (median [min-max]):`);
      console.log(row('not scraped', m.without));
      console.log(row('scraped every second', m.with));
      console.log(`  ${m.scrapes} scrapes of ${m.scrapeBytes} bytes: ${fmt(m.scrapeMs.median)} ms median, ${fmt(m.scrapeMs.max)} ms max`);
    }
    console.log('\ntargets:');
    for (const j of judgeTargets({ cells, ...(capacity ? { capacity } : {}), latency })) console.log(`  ${formatJudgement(j)}`);
    await writeFileSafely(out, JSON.stringify({ machine, quick, runs, cells, capacity, latency, metrics }, null, 2) + '\n', { what: 'benchmark results', force });
    console.error(`bench: results written to ${out}`);
    return 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
