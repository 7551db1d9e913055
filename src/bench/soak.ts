import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_CONSUMER_NICE, Collector } from '../capture/collector.js';
import { createScratchCgroup } from '../capture/scratch-cgroup.js';
import { workloadPath } from '../capture/addon.js';
import { trainLive } from '../detect/train.js';
import { AGENT_WORKER_NICE, Pipeline } from '../pipeline/pipeline.js';
import { cpuMs, runProcess, sleep } from './measure.js';

export interface SoakSample {
  minute: number;
  rssMiB: number;
  heapMiB: number;
  /** CPU of the syswarden process over the interval, % of one core. */
  cpuPct: number;
  eventsPerSec: number;
  lostTotal: number;
  threads: number;
  alerts: number;
}

export interface SoakResult {
  minutes: number;
  samples: SoakSample[];
  /** RSS growth from the first to the last third of the run (after warm-up), %. */
  rssGrowthPct: number;
  grew: boolean;
}

/**
 * The full pipeline on a mixed workload for `minutes`: loops of a
 * multi-threaded program, a file loop, and a stream of short-lived
 * processes (so threads come and go). Samples memory, CPU and loss.
 */
export async function runSoak(minutes: number, onSample?: (s: SoakSample) => void, sampleMs = 10_000): Promise<SoakResult> {
  const cg = createScratchCgroup(`sw-soak-${process.pid}`);
  const tmp = mkdtempSync(join(tmpdir(), 'sw-soak-'));
  const model = join(tmp, 'soak.model');
  let running = true;
  const mixed = async () => {
    while (running) {
      await runProcess(workloadPath(), ['--cgroup', cg.dir, 'pattern', '2000', '3']);
      await runProcess(workloadPath(), ['--cgroup', cg.dir, 'mix', '500']);
      await runProcess(workloadPath(), ['--cgroup', cg.dir, 'exec', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do /bin/true; done']);
    }
  };
  try {
    const collector = await Collector.open({ targets: [cg.spec], consumerNice: AGENT_CONSUMER_NICE });
    const load = mixed();
    await trainLive({ collector, durationMs: 5000, window: 6, model });
    const pipeline = await Pipeline.create({ workerNice: AGENT_WORKER_NICE, model });
    pipeline.attach(collector);
    let alerts = 0;
    pipeline.on('alert', () => alerts++);
    const samples: SoakSample[] = [];
    const t0 = Date.now();
    let lastCpu = cpuMs();
    let lastT = t0;
    let lastEvents = 0;
    while (Date.now() - t0 < minutes * 60_000) {
      await sleep(sampleMs);
      const now = Date.now();
      const c = collector.stats();
      const p = pipeline.stats();
      const cpu = cpuMs();
      const s: SoakSample = {
        minute: (now - t0) / 60_000,
        rssMiB: process.memoryUsage().rss / 2 ** 20,
        heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
        cpuPct: (100 * (cpu - lastCpu)) / (now - lastT),
        eventsPerSec: ((p.events - lastEvents) * 1000) / (now - lastT),
        lostTotal: c.kernel.dropped + c.user.droppedEvents + p.droppedEvents,
        threads: p.threads,
        alerts,
      };
      lastCpu = cpu;
      lastT = now;
      lastEvents = p.events;
      samples.push(s);
      onSample?.(s);
    }
    running = false;
    await load;
    await collector.close();
    await pipeline.close();
    const warm = samples.filter((s) => s.minute >= Math.min(1, minutes / 3));
    const third = Math.max(1, Math.floor(warm.length / 3));
    const avg = (xs: SoakSample[]) => xs.reduce((n, s) => n + s.rssMiB, 0) / Math.max(1, xs.length);
    const first = avg(warm.slice(0, third));
    const last = avg(warm.slice(-third));
    const rssGrowthPct = first > 0 ? (100 * (last - first)) / first : 0;
    return { minutes, samples, rssGrowthPct, grew: rssGrowthPct > 10 };
  } finally {
    running = false;
    await cg.remove();
    rmSync(tmp, { recursive: true, force: true });
  }
}
