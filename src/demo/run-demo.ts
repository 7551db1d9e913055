import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert, AlertRecord } from '../alert/alert.js';
import { AGENT_CONSUMER_NICE, Collector } from '../capture/collector.js';
import { createScratchCgroup } from '../capture/scratch-cgroup.js';
import { trainLive } from '../detect/train.js';
import { formatBudget } from '../detect/calibration.js';
import { AGENT_WORKER_NICE, Pipeline } from '../pipeline/pipeline.js';
import { startWebWorkload } from './web-workload.js';

export interface DemoOptions {
  learnMs?: number;
  normalMs?: number;
  /** How long to wait for alerts after the attack request. */
  attackMs?: number;
  window?: number;
  onAlert?: (a: Alert, phase: 'normal' | 'attack') => void;
  onPhase?: (phase: string) => void;
  signal?: AbortSignal;
}

export interface DemoSummary {
  cgroup: string;
  attach: string;
  detector: string;
  window: number;
  learnt: { windows: number; distinct: number; converged: boolean; threshold: number; budget: string };
  windowsScored: number;
  alertsNormal: number;
  alertsAttack: number;
  detected: boolean;
  /** From sending the attack request to the first alert, ms. */
  attackToAlertMs: number | null;
  /** Kernel timestamp of the syscall completing the first attack alert's window to that alert, ms. */
  syscallToAlertMs: number | null;
  latencyMs: { p50: number; p99: number };
  drops: { kernel: number; user: number; scoring: number };
  seconds: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

/**
 * The built-in job: a cgroup of its own, a small web application in it,
 * live learning of its normal behaviour, a normal phase that must stay
 * quiet, then a remote-code-execution attack that must raise an alert.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const started = Date.now();
  const window = options.window ?? 6;
  const cg = createScratchCgroup(`syswarden-demo-${process.pid}`);
  const tmp = mkdtempSync(join(tmpdir(), 'syswarden-demo-'));
  let web: Awaited<ReturnType<typeof startWebWorkload>> | undefined;
  let collector: Collector | undefined;
  let pipeline: Pipeline | undefined;
  try {
    collector = await Collector.open({ targets: [cg.spec], consumerNice: AGENT_CONSUMER_NICE });
    web = await startWebWorkload(cg);
    options.onPhase?.(`learning the normal behaviour of a web server and its client in ${cg.ref.path} for ${((options.learnMs ?? 20000) / 1000).toFixed(0)} s`);
    const model = join(tmp, 'demo.model');
    const learnt = await trainLive({ collector, durationMs: options.learnMs ?? 20000, window, model, ...(options.signal ? { signal: options.signal } : {}) });

    pipeline = await Pipeline.create({ workerNice: AGENT_WORKER_NICE, model, modelName: 'demo' });
    let phase: 'normal' | 'attack' = 'normal';
    let alertsNormal = 0;
    let alertsAttack = 0;
    let attackSentNs = 0n;
    let attackToAlertMs: number | null = null;
    let syscallToAlertMs: number | null = null;
    pipeline.on('alert', (a: AlertRecord) => {
      if (a.type !== 'alert') return;
      if (phase === 'normal') alertsNormal++;
      else {
        alertsAttack++;
        if (attackToAlertMs === null) {
          attackToAlertMs = Number(process.hrtime.bigint() - attackSentNs) / 1e6;
          syscallToAlertMs = a.latencyMs ?? null;
        }
      }
      options.onAlert?.(a, phase);
    });
    pipeline.attach(collector);
    options.onPhase?.(`watching the normal phase for ${((options.normalMs ?? 8000) / 1000).toFixed(0)} s (no alert expected)`);
    await sleep(options.normalMs ?? 8000, options.signal);
    await pipeline.drain();

    phase = 'attack';
    options.onPhase?.('attacking: a request makes the CGI script run a shell that reads /etc/shadow, runs programs and connects out');
    attackSentNs = process.hrtime.bigint();
    await web.attack();
    const deadline = Date.now() + (options.attackMs ?? 3000);
    while (alertsAttack === 0 && Date.now() < deadline && !options.signal?.aborted) await sleep(20);
    await sleep(200);
    await web.stop();
    web = undefined;
    await collector.close();
    await pipeline.close();
    const c = collector.stats();
    const p = pipeline.stats();
    return {
      cgroup: cg.ref.path,
      attach: c.attach,
      detector: pipeline.detector,
      window,
      learnt: { windows: learnt.windows, distinct: learnt.distinct, converged: learnt.converged, threshold: learnt.calibration.threshold, budget: formatBudget(learnt.calibration) },
      windowsScored: p.windows,
      alertsNormal,
      alertsAttack,
      detected: alertsAttack > 0,
      attackToAlertMs,
      syscallToAlertMs,
      latencyMs: { p50: p.latency.p50, p99: p.latency.p99 },
      drops: { kernel: c.kernel.dropped, user: c.user.droppedEvents, scoring: p.droppedEvents },
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await web?.stop();
    await collector?.close();
    await pipeline?.close();
    await cg.remove();
    rmSync(tmp, { recursive: true, force: true });
  }
}
