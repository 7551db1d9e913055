import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { AGENT_CONSUMER_NICE, Collector } from '../capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../capture/scratch-cgroup.js';
import { AGENT_WORKER_NICE, Pipeline } from '../pipeline/pipeline.js';
import { trainLive } from '../detect/train.js';
import { cpuMs, summarize, type Summary } from './measure.js';
import { SyswardenError } from '../errors.js';
import type { Workload, WorkloadRun } from './workloads.js';

export const CONFIGS = ['bare', 'strace', 'idle', 'other', 'capture', 'rings', 'pipeline', 'pushed'] as const;
export type ConfigName = (typeof CONFIGS)[number];

export const CONFIG_LABELS: Record<ConfigName, string> = {
  bare: 'bare',
  strace: 'strace -f',
  idle: 'syswarden attached, no target (the kernel floor)',
  capture: 'syswarden capture (watched)',
  rings: 'syswarden capture, a ring per CPU (cpusPerRing 1)',
  other: 'syswarden watching another cgroup',
  pipeline: "syswarden capture + pipeline (the workload's own model)",
  pushed: 'the same pipeline, every batch through the main thread (route: false)',
};

export interface SyswardenFigures {
  eventsPerSec: Summary;
  kernelDropped: number;
  userDropped: number;
  scoringDropped: number;
  /** CPU time of the syswarden process (ring consumer, JS, workers) per run, ms. */
  cpuMs: Summary;
  /** Resident memory of the syswarden process after each run, MiB. */
  rssMiB: Summary;
}

export interface Cell {
  workload: string;
  config: ConfigName;
  /** CONFIG_LABELS[config], carried in the results so the report needs no copy of the labels. */
  label: string;
  unit: string;
  lowerIsBetter: boolean;
  result: Summary;
  /** Median over the bare median: a slowdown factor when lower is better, a throughput share otherwise. */
  ratio: number;
  extra?: Record<string, Summary>;
  syswarden?: SyswardenFigures;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memGiB: number;
  kernel: string;
  node: string;
  date: string;
}

export function machineInfo(): MachineInfo {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    /* keep os.cpus() */
  }
  return { cpu, cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version, date: new Date().toISOString() };
}

/** Configurations that score with a pipeline. */
function isPipeline(c: ConfigName): boolean {
  return c === 'pipeline' || c === 'pushed';
}

interface RunOutcome {
  run: WorkloadRun;
  sw?: { events: number; kernelDropped: number; userDropped: number; scoringDropped: number; cpuMs: number; rssMiB: number };
}

/** One run of one workload under one configuration. */
async function runOnce(w: Workload, config: ConfigName, watched: ScratchCgroup, other: ScratchCgroup, model: string): Promise<RunOutcome> {
  if (config === 'bare') return { run: await w.run(watched, false) };
  if (config === 'strace') return { run: await w.run(watched, true) };
  const targets = config === 'idle' ? [] : [config === 'other' ? other.spec : watched.spec];
  const collector = await Collector.open({ targets, consumerNice: AGENT_CONSUMER_NICE, ...(config === 'rings' ? { cpusPerRing: 1 } : {}) });
  // A pipeline counts what it scored. A 'batch' listener of our own beside it
  // would make the collector hand every record to JavaScript as well, and
  // the figures would be those of that copy.
  let events = 0;
  const pipeline = isPipeline(config) ? await Pipeline.create({ workerNice: AGENT_WORKER_NICE, model }) : undefined;
  if (pipeline) pipeline.attach(collector, { route: config !== 'pushed' });
  else collector.on('batch', (b: { count: number }) => (events += b.count));
  const cpu0 = cpuMs();
  let run: WorkloadRun;
  try {
    run = await w.run(watched, false);
  } finally {
    await collector.close();
    await pipeline?.close();
  }
  const s = collector.stats();
  return {
    run,
    sw: {
      events: pipeline ? pipeline.stats().events : events,
      kernelDropped: s.kernel.dropped,
      userDropped: s.user.droppedEvents,
      scoringDropped: pipeline?.stats().droppedEvents ?? 0,
      cpuMs: cpuMs() - cpu0,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
    },
  };
}

export interface SuiteOptions {
  workloads: Workload[];
  configs: readonly ConfigName[];
  runs: number;
  /**
   * Model for the pipeline configuration of a workload when learning its
   * own fails (see ownModel).
   */
  model: string;
  onProgress?: (line: string) => void;
}

/**
 * Every workload under every configuration, `runs` times, interleaved
 * (run 1 of each configuration, then run 2, ...) so that drift of the
 * machine hits all configurations alike.
 */
export async function runSuite(o: SuiteOptions): Promise<Cell[]> {
  const watched = createScratchCgroup(`sw-bench-watched-${process.pid}`);
  const other = createScratchCgroup(`sw-bench-other-${process.pid}`);
  const models = mkdtempSync(join(tmpdir(), 'sw-bench-models-'));
  const cells: Cell[] = [];
  try {
    for (const w of o.workloads) {
      await w.setup?.();
      try {
        const model = o.configs.some(isPipeline) ? await ownModel(w, watched, join(models, `${w.name}.model`), o.model, o.onProgress) : o.model;
        const outcomes = new Map<ConfigName, RunOutcome[]>(o.configs.map((c) => [c, []]));
        for (let r = 0; r < o.runs; r++) {
          for (const c of o.configs) {
            outcomes.get(c)!.push(await runOnce(w, c, watched, other, model));
          }
          o.onProgress?.(`${w.name}: run ${r + 1}/${o.runs}`);
        }
        const bare = summarize(outcomes.get('bare')?.map((x) => x.run.value) ?? [NaN]).median;
        for (const c of o.configs) {
          const xs = outcomes.get(c)!;
          const result = summarize(xs.map((x) => x.run.value));
          const cell: Cell = { workload: w.name, config: c, label: CONFIG_LABELS[c], unit: w.unit, lowerIsBetter: w.lowerIsBetter, result, ratio: result.median / bare };
          const keys = Object.keys(xs[0]?.run.extra ?? {});
          if (keys.length) cell.extra = Object.fromEntries(keys.map((k) => [k, summarize(xs.map((x) => x.run.extra![k]!))]));
          if (xs[0]?.sw) {
            const sw = xs.map((x) => x.sw!);
            cell.syswarden = {
              eventsPerSec: summarize(xs.map((x) => x.sw!.events / (x.run.wallNs / 1e9))),
              kernelDropped: sw.reduce((n, s) => n + s.kernelDropped, 0),
              userDropped: sw.reduce((n, s) => n + s.userDropped, 0),
              scoringDropped: sw.reduce((n, s) => n + s.scoringDropped, 0),
              cpuMs: summarize(sw.map((s) => s.cpuMs)),
              rssMiB: summarize(sw.map((s) => s.rssMiB)),
            };
          }
          cells.push(cell);
        }
      } finally {
        await w.teardown?.();
      }
    }
  } finally {
    await watched.remove();
    await other.remove();
    rmSync(models, { recursive: true, force: true });
  }
  return cells;
}

/**
 * The pipeline scores a workload with a model of that workload, learnt live
 * from one run of it: what a watched service costs in steady state. Scored
 * with a model of another program, nearly every window would alarm (the
 * cost of an attack, not of watching).
 */
async function ownModel(w: Workload, watched: ScratchCgroup, path: string, fallback: string, onProgress?: (line: string) => void): Promise<string> {
  onProgress?.(`${w.name}: learning its own model for the pipeline configuration (one run)`);
  const collector = await Collector.open({ targets: [watched.spec], consumerNice: AGENT_CONSUMER_NICE });
  try {
    const end = new AbortController();
    const learning = trainLive({ collector, durationMs: 3_600_000, window: 6, model: path, signal: end.signal });
    try {
      await w.run(watched, false);
    } finally {
      end.abort();
    }
    await learning;
  } catch (err) {
    // A workload too uniform for a model that can alarm (a short dd run: a
    // read/write loop) is refused by training, as it should be. Its
    // pipeline figures then come from the bench model, and say so.
    if (!(err instanceof SyswardenError && err.code === 'ERR_UNREACHABLE_THRESHOLD')) throw err;
    onProgress?.(`${w.name}: its own model was refused (${err.message}); its pipeline configurations score with the bench model instead, which alarms more`);
    return fallback;
  } finally {
    await collector.close();
  }
  return path;
}
