import { Collector } from '../capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../capture/scratch-cgroup.js';
import { workloadPath } from '../capture/addon.js';
import { trainLive } from '../detect/train.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { SyswardenError } from '../errors.js';
import { runProcess } from './measure.js';

/** Train the STIDE model the benchmarks score with: the getppid loop and the syscall mix, learnt live. */
export async function trainBenchModel(path: string): Promise<void> {
  const cg = createScratchCgroup(`sw-bench-train-${process.pid}`);
  try {
    const collector = await Collector.open({ targets: [cg.spec] });
    try {
      const learning = trainLive({ collector, durationMs: 2500, window: 6, model: path });
      for (let i = 0; i < 4; i++) {
        await run(cg, ['getppid', '20000', '2']);
        await run(cg, ['mix', '2000']);
      }
      await learning;
    } finally {
      await collector.close();
    }
  } finally {
    await cg.remove();
  }
}

async function run(cg: ScratchCgroup, args: string[]): Promise<string> {
  const r = await runProcess(workloadPath(), ['--cgroup', cg.dir, ...args]);
  if (r.code !== 0) throw new SyswardenError('ERR_BENCH', `sw-workload ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export interface LatencyResult {
  targetPerSec: number;
  /** Rate the kernel matched. */
  eventsPerSec: number;
  alerts: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  lost: number;
}

/**
 * Syscall-to-alert latency: a loop at a set rate that makes one rare call
 * (getsid) every 10 000 calls, which the model has never seen; each one
 * opens an incident whose alert carries the kernel timestamp of the call
 * that completed the window. Latency = alert emission minus that timestamp.
 */
export async function runLatency(model: string, ratePerSec: number, seconds: number): Promise<LatencyResult> {
  const cg = createScratchCgroup(`sw-bench-latency-${process.pid}`);
  try {
    const collector = await Collector.open({ targets: [cg.spec] });
    const pipeline = await Pipeline.create({ model, quietWindows: 100 });
    pipeline.attach(collector);
    const threads = ratePerSec > 500_000 ? 2 : 1;
    try {
      await run(cg, ['rate', String(ratePerSec), String(seconds), String(threads)]);
    } finally {
      await collector.close();
      await pipeline.close();
    }
    const c = collector.stats();
    const p = pipeline.stats();
    return {
      targetPerSec: ratePerSec,
      eventsPerSec: c.kernel.matched / seconds,
      alerts: p.latency.count,
      p50Ms: p.latency.p50,
      p99Ms: p.latency.p99,
      maxMs: p.latency.max,
      lost: c.kernel.dropped + c.user.droppedEvents + p.droppedEvents,
    };
  } finally {
    await cg.remove();
  }
}
