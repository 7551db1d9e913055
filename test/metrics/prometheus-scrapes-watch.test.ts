import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runWorkload } from '../capture/helpers.js';
import { startCli } from '../pipeline/cli-process.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';
import { scrape, valueOf } from './helpers.js';

/** The Debian package's server (scripts/setup.sh installs it). */
const PROMETHEUS = '/usr/bin/prometheus';
/** How long Prometheus may take to start, scrape and answer on a loaded CI machine. */
const SERIES_DEADLINE_MS = 90_000;

let dir: string;
let model: string;
let cg: ScratchCgroup;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-metrics-prom-'));
  model = join(dir, 'alarm.model');
  await saveAlarmingModel(model);
  cg = createScratchCgroup(`sw-test-metrics-prom-${process.pid}`);
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface PromServer {
  child: ChildProcess;
  api: string;
  log: () => string;
  stop: () => Promise<void>;
}

/** Prometheus on 127.0.0.1, scraping `target` every second, with its storage in a temp dir. */
async function startPrometheus(target: string): Promise<PromServer> {
  if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} is missing: install the Debian package 'prometheus' (scripts/setup.sh does)`);
  const home = join(dir, `prom-${Date.now()}`);
  mkdirSync(join(home, 'data'), { recursive: true });
  const config = join(home, 'prometheus.yml');
  writeFileSync(
    config,
    ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:', '  - job_name: syswarden', '    static_configs:', `      - targets: ['${target}']`, ''].join('\n'),
  );
  // A port found free may be taken before Prometheus binds it: try a few.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(home, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    };
    // Up once it answers its readiness probe; a bind failure ends the process.
    const deadline = Date.now() + SERIES_DEADLINE_MS;
    while (Date.now() < deadline && child.exitCode === null) {
      const ok = await fetch(`http://127.0.0.1:${port}/-/ready`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
      if (ok) return { child, api: `http://127.0.0.1:${port}/api/v1`, log: () => log, stop };
      await new Promise((r) => setTimeout(r, 200));
    }
    await stop();
    if (attempt < 2 && /address already in use/.test(log)) continue;
    throw new Error(`prometheus did not become ready:\n${log.slice(-3000)}`);
  }
}

interface Vector {
  status: string;
  data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

async function query(api: string, q: string): Promise<Vector['data']['result']> {
  const res = await fetch(`${api}/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as Vector;
  if (body.status !== 'success') throw new Error(`query ${q}: ${JSON.stringify(body)}`);
  return body.data.result;
}

/** Poll a query until `ok` holds on its result; bounded in time. */
async function until(api: string, q: string, ok: (r: Vector['data']['result']) => boolean, log: () => string): Promise<Vector['data']['result']> {
  const deadline = Date.now() + SERIES_DEADLINE_MS;
  let last: Vector['data']['result'] = [];
  while (Date.now() < deadline) {
    last = await query(api, q);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${q} (last: ${JSON.stringify(last)})\n${log().slice(-3000)}`);
}

describe('a real Prometheus server scraping watch --metrics', () => {
  it('stores syswarden series whose values match what the endpoint serves', async () => {
    const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--workers', '1', '--metrics', '127.0.0.1:0']);
    let prom: PromServer | undefined;
    try {
      await cli.waitFor(() => /metrics: http:\/\/127\.0\.0\.1:\d+\/metrics/.test(cli.stderr()), 'the metrics URL');
      const url = /metrics: (http:\/\/127\.0\.0\.1:(\d+)\/metrics)/.exec(cli.stderr())!;
      await runWorkload(['--cgroup', cg.dir, 'pattern', '50', '1']);
      await cli.waitFor(() => cli.records().some((r) => r.type === 'alert'), 'an alert record');
      const direct = await scrape(url[1]!);
      const scored = valueOf(direct, 'syswarden_events_total', { stage: 'scored' })!;
      expect(scored).toBeGreaterThan(0);
      expect(valueOf(direct, 'syswarden_alert_records_lost_total')).toBe(0);
      expect(valueOf(direct, 'syswarden_targets')).toBe(1);

      prom = await startPrometheus(`127.0.0.1:${url[2]}`);
      const p = prom;
      await until(p.api, 'up{job="syswarden"}', (r) => r.length === 1 && r[0]!.value[1] === '1', p.log);
      // Nothing runs in the target now: Prometheus' latest sample is at least what was served before it started.
      const events = await until(p.api, 'syswarden_events_total{stage="scored"}', (r) => r.length === 1 && Number(r[0]!.value[1]) >= scored, p.log);
      expect(events[0]!.metric).toMatchObject({ job: 'syswarden', instance: `127.0.0.1:${url[2]}`, stage: 'scored' });
      const alerts = await until(p.api, 'syswarden_alerts_total{type="alert"}', (r) => r.length === 1, p.log);
      expect(Number(alerts[0]!.value[1])).toBeGreaterThanOrEqual(1);
      const info = await until(p.api, 'syswarden_model_info', (r) => r.length === 1, p.log);
      expect(info[0]!.metric).toMatchObject({ detector: 'stide', window: '4' });
      // A histogram Prometheus can take quantiles of.
      const p99 = await until(p.api, 'histogram_quantile(0.99, syswarden_alert_latency_seconds_bucket)', (r) => r.length === 1, p.log);
      expect(Number(p99[0]!.value[1])).toBeGreaterThan(0);
      const lost = await until(p.api, 'sum by (stage) (syswarden_events_lost_total)', (r) => r.length === 3, p.log);
      for (const r of lost) expect(Number(r.value[1]), r.metric.stage).toBe(0);
    } finally {
      await prom?.stop();
      expect(await cli.stop()).toBe(0);
    }
  });
});
