import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCapacity, type CapacityResult } from '../bench/capacity.js';
import { runLatency, trainBenchModel, type LatencyResult } from '../bench/latency.js';
import { CONFIGS, CONFIG_LABELS, machineInfo, runSuite, type Cell, type ConfigName } from '../bench/suite.js';
import { ddCopy, getppidLoop, nginxWrk, syscallMix, type Workload } from '../bench/workloads.js';
import { SyswardenError } from '../errors.js';
import { parseCommandArgs } from './args.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const HELP = `usage: syswarden bench [--quick] [--runs N] [--workloads getppid,dd,nginx,mix] [--configs ${CONFIGS.join(',')}]
                       [--parts suite,capacity,latency] [--out <json>]

Measures syswarden against bare runs and strace -f, interleaved, and prints
medians with min-max and ratios to bare. --quick: fewer calls and runs (CI).
Writes bench/results/latest.json (or --out); scripts/benchmarks-page.mjs
turns it into docs/benchmarks.md.`;

const TARGETS: Array<{ workload: string; config: ConfigName; limit: number; text: string }> = [
  { workload: 'getppid', config: 'capture', limit: 2.0, text: 'getppid: capture <= 2.0x bare' },
  { workload: 'getppid', config: 'pipeline', limit: 2.5, text: 'getppid: full pipeline <= 2.5x bare' },
  { workload: 'getppid', config: 'other', limit: 1.5, text: 'getppid: unwatched process <= 1.5x bare' },
  { workload: 'dd', config: 'capture', limit: 1.7, text: 'dd: capture <= 1.7x bare' },
  { workload: 'nginx', config: 'capture', limit: 0.9, text: 'nginx: >= 0.90x bare requests/s when watched' },
];

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

export async function run(argv: string[]): Promise<number> {
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
    },
    HELP,
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const quick = values.quick === true;
  const runs = values.runs ? Number(values.runs) : quick ? 2 : 5;
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new SyswardenError('ERR_USAGE', `--runs must be a whole number from 1 to 100, got '${values.runs}'.`);
  const all: Workload[] = quick
    ? [getppidLoop(200_000, 20_000), ddCopy(100_000, 5_000), nginxWrk(2), syscallMix(20_000, 2_000)]
    : [getppidLoop(2_000_000, 100_000), ddCopy(1_000_000, 20_000), nginxWrk(10), syscallMix(200_000, 10_000)];
  const wantW = (values.workloads ?? all.map((w) => w.name).join(',')).split(',').filter(Boolean);
  for (const w of wantW) if (!all.some((x) => x.name === w)) throw new SyswardenError('ERR_USAGE', `unknown workload '${w}'. Use ${all.map((x) => x.name).join(', ')}.`);
  const configs = (values.configs ?? CONFIGS.join(',')).split(',').filter(Boolean) as ConfigName[];
  for (const c of configs) if (!CONFIGS.includes(c)) throw new SyswardenError('ERR_USAGE', `unknown configuration '${c}'. Use ${CONFIGS.join(', ')}.`);
  if (!configs.includes('bare')) configs.unshift('bare');
  const parts = (values.parts ?? 'suite,capacity,latency').split(',');
  const progress = (s: string) => console.error(`bench: ${s}`);

  const tmp = mkdtempSync(join(tmpdir(), 'sw-bench-'));
  try {
    const model = join(tmp, 'bench.model');
    progress('training the STIDE model the pipeline configurations score with');
    await trainBenchModel(model);
    const machine = machineInfo();
    console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}`);

    let cells: Cell[] = [];
    if (parts.includes('suite')) {
      cells = await runSuite({ workloads: all.filter((w) => wantW.includes(w.name)), configs, runs, model, onProgress: progress });
      printCells(cells);
      console.log('\ntargets:');
      for (const t of TARGETS) {
        const c = cells.find((x) => x.workload === t.workload && x.config === t.config);
        if (!c) continue;
        const met = c.lowerIsBetter ? c.ratio <= t.limit : c.ratio >= t.limit;
        console.log(`  ${met ? 'met   ' : 'MISSED'} ${t.text}: x${c.ratio.toFixed(2)}`);
      }
    }
    let capacity: CapacityResult | undefined;
    if (parts.includes('capacity')) {
      capacity = await runCapacity({ model, threads: quick ? [1, 2] : [1, 2, 3, 4, 6], callsPerThread: quick ? 300_000 : 3_000_000, runs: quick ? 1 : 3, onProgress: progress });
      console.log('\ncapacity (getppid loop threads, watched):');
      for (const p of capacity.points) {
        console.log(`  run ${p.run + 1} ${p.mode.padEnd(9)} ${String(p.threads).padStart(2)} threads: offered ${fmt(p.offeredPerSec / 1e6)} M/s, delivered ${fmt(p.deliveredPerSec / 1e6)} M/s, lost ${p.lost} (${(100 * p.lossFraction).toFixed(2)}%)`);
      }
      console.log(`  highest loss-free rate: capture ${fmt(capacity.lossFree.capture / 1e6)} M/s (target >= 5), pipeline ${fmt(capacity.lossFree.pipeline / 1e6)} M/s (target >= 2)`);
    }
    const latency: LatencyResult[] = [];
    if (parts.includes('latency')) {
      for (const rate of [20_000, 1_000_000]) {
        const r = await runLatency(model, rate, quick ? 2 : 5);
        latency.push(r);
        console.log(
          `latency at ${fmt(r.eventsPerSec / 1e6)} M ev/s: syscall to alert p50 ${fmt(r.p50Ms)} ms, p99 ${fmt(r.p99Ms)} ms, max ${fmt(r.maxMs)} ms over ${r.alerts} alerts; lost ${r.lost}` +
            (rate === 1_000_000 ? `  (target p99 <= 50 ms: ${r.p99Ms <= 50 ? 'met' : 'MISSED'})` : ''),
        );
      }
    }
    const out = values.out ?? join(root, 'bench', 'results', quick ? 'quick.json' : 'latest.json');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ machine, quick, runs, cells, capacity, latency }, null, 2) + '\n');
    console.error(`bench: results written to ${out}`);
    return 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
