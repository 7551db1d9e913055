import { AGENT_CONSUMER_NICE, Collector } from '../capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../capture/scratch-cgroup.js';
import { workloadPath } from '../capture/addon.js';
import { trainLive } from '../detect/train.js';
import { AGENT_WORKER_NICE, Pipeline } from '../pipeline/pipeline.js';
import { SyswardenError } from '../errors.js';
import { runProcess } from './measure.js';

/**
 * Train the model (default detector) the benchmarks score with: the getppid
 * loop and the syscall mix, learnt live. The two run in turn for the whole
 * of the learning time, not a fixed number of rounds, so that every stretch
 * held out for calibration holds both whatever the machine's load: with four
 * rounds in a fixed 2.5 s, a loaded machine ran only the first ones inside
 * the learning time, the one stretch that held the mix was scored by fold
 * models that had never seen it, and the threshold extrapolated from that
 * spread lay above any score a window can reach (the model was refused).
 */
export async function trainBenchModel(path: string): Promise<void> {
  const cg = createScratchCgroup(`sw-bench-train-${process.pid}`);
  try {
    const collector = await Collector.open({ targets: [cg.spec], consumerNice: AGENT_CONSUMER_NICE });
    try {
      let learnt = false;
      const learning = trainLive({ collector, durationMs: BENCH_TRAIN_MS, window: 6, model: path });
      // Handled here too, so a refusal is not an unhandled rejection while a round still runs; awaited below.
      learning.then(
        () => (learnt = true),
        () => (learnt = true),
      );
      // Bounded by the learning time (each round is a bounded program), and at least one round.
      do {
        await run(cg, ['getppid', '20000', '2']);
        await run(cg, ['mix', '2000']);
      } while (!learnt);
      await learning;
    } finally {
      await collector.close();
    }
  } finally {
    await cg.remove();
  }
}

/** How long trainBenchModel learns: four held-out stretches of a second. */
const BENCH_TRAIN_MS = 4000;

async function run(cg: ScratchCgroup, args: string[]): Promise<string> {
  const r = await runProcess(workloadPath(), ['--cgroup', cg.dir, ...args]);
  if (r.code !== 0) throw new SyswardenError('ERR_BENCH', `sw-workload ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export interface LatencyResult {
  targetPerSec: number;
  /** Rate the kernel matched. */
  eventsPerSec: number;
  /** Intruder processes started during the run (each should raise one alert). */
  intruders?: number;
  alerts: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  lost: number;
}

/** Something run alongside a latency run (bench/metrics.ts: a scraper): started once the pipeline is attached; what it returns is awaited before the capture closes. */
export type LatencyCompanion = (pipeline: Pipeline, collector: Collector) => Promise<() => Promise<void>>;

/** How often an intruder starts during a latency run. */
const INTRUDER_EVERY_S = 0.1;

/**
 * Syscall-to-alert latency under load: a loop of getppid() at a set rate
 * keeps the pipeline busy, and every 100 ms an intruder process joins the
 * same cgroup and makes a burst of calls the model has never seen
 * (sw-workload pattern: getppid, getpgid, getsid). An alert carries the
 * kernel timestamp of the call that completed the alarming window; latency
 * = alert emission minus that timestamp.
 *
 * Why not the loop's own rare call (one getsid every 10 000): a thread
 * alarms on the mean score of its last frame of windows, and one rare call
 * among normal ones moves that mean little, by design (see decision.ts).
 * The intruder's burst is unseen for as long as it lasts, so it alarms
 * whatever the loop does.
 *
 * A shell outside the watched cgroup starts the intruders, so the forks stall
 * neither the measured process's JavaScript thread nor show up as events.
 */
export async function runLatency(model: string, ratePerSec: number, seconds: number, companion?: LatencyCompanion): Promise<LatencyResult> {
  const cg = createScratchCgroup(`sw-bench-latency-${process.pid}`);
  try {
    const collector = await Collector.open({ targets: [cg.spec], consumerNice: AGENT_CONSUMER_NICE });
    const pipeline = await Pipeline.create({ workerNice: AGENT_WORKER_NICE, model, quietWindows: 100 });
    pipeline.attach(collector);
    const threads = ratePerSec > 500_000 ? 2 : 1;
    const intruders = Math.max(1, Math.floor(seconds / INTRUDER_EVERY_S) - 1);
    const script = `i=0; while [ $i -lt ${intruders} ]; do sleep ${INTRUDER_EVERY_S}; "$0" --cgroup "$1" pattern 20 >/dev/null || exit 1; i=$((i + 1)); done`;
    let stopCompanion: (() => Promise<void>) | undefined;
    try {
      stopCompanion = await companion?.(pipeline, collector);
      const starter = runProcess('sh', ['-c', script, workloadPath(), cg.dir]);
      const loop = run(cg, ['rate', String(ratePerSec), String(seconds), String(threads)]);
      const [started] = await Promise.all([starter, loop]);
      if (started.code !== 0) throw new SyswardenError('ERR_BENCH', `the latency intruders failed (exit ${started.code}): ${started.stderr}`);
    } finally {
      try {
        await stopCompanion?.();
      } finally {
        await collector.close();
        await pipeline.close();
      }
    }
    const c = collector.stats();
    const p = pipeline.stats();
    // The pipeline's own losses: what a full worker ring could not take is in the collector's user.droppedEvents already.
    const scoringLost = pipeline.counts().droppedEvents;
    return {
      targetPerSec: ratePerSec,
      eventsPerSec: c.kernel.matched / seconds,
      intruders,
      alerts: p.latency.count,
      p50Ms: p.latency.p50,
      p99Ms: p.latency.p99,
      maxMs: p.latency.max,
      lost: c.kernel.dropped + c.user.droppedEvents + scoringLost,
    };
  } finally {
    await cg.remove();
  }
}
