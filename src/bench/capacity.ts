import { AGENT_CONSUMER_NICE, Collector } from '../capture/collector.js';
import { createScratchCgroup } from '../capture/scratch-cgroup.js';
import { workloadPath } from '../capture/addon.js';
import { AGENT_WORKER_NICE, Pipeline } from '../pipeline/pipeline.js';
import { SyswardenError } from '../errors.js';
import { runProcess } from './measure.js';

/** Capture alone; the pipeline as attached by default (routed); the same with every batch through the main thread (route: false). */
export const CAPACITY_MODES = ['capture', 'pipeline', 'pushed'] as const;
export type CapacityMode = (typeof CAPACITY_MODES)[number];

export interface CapacityPoint {
  mode: CapacityMode;
  threads: number;
  /** Which repetition (0-based): every step runs `runs` times, interleaved. */
  run: number;
  /** Syscalls per second the watched workload made (matched in the kernel). */
  offeredPerSec: number;
  /** Events per second that reached JavaScript (capture) or were scored (pipeline, pushed). */
  deliveredPerSec: number;
  lost: number;
  lossFraction: number;
}

export interface CapacityResult {
  points: CapacityPoint[];
  /** Highest offered rate of a run with no loss at all, per mode. */
  lossFree: Record<CapacityMode, number>;
}

/**
 * Raise the syscall rate of a watched workload (more threads of the getppid
 * loop) until events are lost; report each step and the highest rate
 * without loss, for capture alone and for the full pipeline. On two cores
 * the rate a step offers varies by half from run to run (the workload's
 * threads share the CPUs with the collector), so every step runs `runs`
 * times, the modes and steps interleaved.
 */
export async function runCapacity(options: { model: string; threads: number[]; callsPerThread: number; runs?: number; onProgress?: (s: string) => void }): Promise<CapacityResult> {
  const cg = createScratchCgroup(`sw-bench-capacity-${process.pid}`);
  const points: CapacityPoint[] = [];
  try {
    const steps: Array<{ run: number; threads: number; mode: CapacityMode }> = [];
    for (let run = 0; run < (options.runs ?? 1); run++) {
      for (const threads of options.threads) for (const mode of CAPACITY_MODES) steps.push({ run, threads, mode });
    }
    for (const { run, threads, mode } of steps) {
      const collector = await Collector.open({ targets: [cg.spec], consumerNice: AGENT_CONSUMER_NICE });
      const pipeline = mode === 'capture' ? undefined : await Pipeline.create({ workerNice: AGENT_WORKER_NICE, model: options.model });
      // Only without a pipeline: a listener beside it would have every record copied to JavaScript too.
      let delivered = 0;
      if (pipeline) pipeline.attach(collector, { route: mode === 'pipeline' });
      else collector.on('batch', (b: { count: number }) => (delivered += b.count));
      let wallNs = 0;
      try {
        const r = await runProcess(workloadPath(), ['--cgroup', cg.dir, 'getppid', String(options.callsPerThread), String(threads)]);
        if (r.code !== 0) throw new SyswardenError('ERR_BENCH', `capacity workload failed: ${r.stderr}`);
        wallNs = Number(/elapsed_ns (\d+)/.exec(r.stdout)?.[1]);
      } finally {
        await collector.close();
        await pipeline?.close();
      }
      const s = collector.stats();
      const scored = pipeline ? pipeline.stats().events : delivered;
      const lost = s.kernel.dropped + s.user.droppedEvents + (pipeline?.stats().droppedEvents ?? 0);
      const p: CapacityPoint = {
        mode,
        threads,
        run,
        offeredPerSec: s.kernel.matched / (wallNs / 1e9),
        deliveredPerSec: scored / (wallNs / 1e9),
        lost,
        lossFraction: s.kernel.matched ? lost / s.kernel.matched : 0,
      };
      points.push(p);
      options.onProgress?.(`capacity run ${run + 1} ${mode} ${threads} threads: ${(p.offeredPerSec / 1e6).toFixed(2)} M/s offered, lost ${lost}`);
    }
  } finally {
    await cg.remove();
  }
  const best = (mode: CapacityMode) => Math.max(0, ...points.filter((p) => p.mode === mode && p.lost === 0).map((p) => p.offeredPerSec));
  return { points, lossFree: { capture: best('capture'), pipeline: best('pipeline'), pushed: best('pushed') } };
}
