import { spawn } from 'node:child_process';
import { SyswardenError } from '../errors.js';
import { MetricsEndpoint } from '../metrics/endpoint.js';
import { runLatency, type LatencyCompanion, type LatencyResult } from './latency.js';
import { median, summarize, type Summary } from './measure.js';

/** How often the scraper fetches /metrics: Prometheus' most frequent usual interval. */
const SCRAPE_EVERY_S = 1;

export interface MetricsSide {
  /** Per run: events lost (all stages) and their share of what the kernel matched; alert latency p99 (ms). */
  lost: Summary;
  lossFraction: Summary;
  p99Ms: Summary;
  alerts: number[];
}

export interface MetricsOverheadResult {
  targetPerSec: number;
  seconds: number;
  rounds: number;
  without: MetricsSide;
  with: MetricsSide;
  /** Scrapes made, and how long each took from the scraper's side (ms). */
  scrapes: number;
  scrapeMs: { median: number; max: number };
  /** Bytes of the last scrape. */
  scrapeBytes: number;
}

/**
 * A scraper in a process of its own, as Prometheus is: fetch the endpoint
 * every second, print how long each scrape took and its size. Its own
 * parsing and timers then cost the measured process nothing.
 */
const SCRAPER = `
const url = process.argv[1], every = Number(process.argv[2]) * 1000;
let stop = false;
process.on('SIGTERM', () => { stop = true; });
(async () => {
  while (!stop) {
    const t0 = performance.now();
    try {
      const body = await (await fetch(url, { signal: AbortSignal.timeout(10000) })).text();
      console.log(JSON.stringify({ ms: performance.now() - t0, bytes: body.length }));
    } catch (e) { console.log(JSON.stringify({ error: String(e) })); }
    const wait = every - (performance.now() - t0);
    if (wait > 0 && !stop) await new Promise((r) => { const t = setTimeout(r, wait); process.once('SIGTERM', () => { clearTimeout(t); r(); }); });
  }
})();
`;

interface Scrape {
  ms?: number;
  bytes?: number;
  error?: string;
}

/** A companion for runLatency: watch's metrics endpoint on the run's pipeline, scraped every second from another process. */
function scraped(into: Scrape[]): LatencyCompanion {
  return async (pipeline, collector) => {
    const endpoint = await MetricsEndpoint.listen({ host: '127.0.0.1', port: 0, family: 4 });
    endpoint.watch({ pipeline, collector });
    const child = spawn(process.execPath, ['-e', SCRAPER, endpoint.url, String(SCRAPE_EVERY_S)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return async () => {
      child.kill('SIGTERM');
      const code = await exited;
      await endpoint.close();
      for (const line of out.split('\n')) if (line.startsWith('{')) into.push(JSON.parse(line) as Scrape);
      const failed = into.find((s) => s.error);
      if (code !== 0 || failed) throw new SyswardenError('ERR_BENCH', `the metrics scraper failed (exit ${code}): ${failed?.error ?? err}`);
    };
  };
}

function side(runs: LatencyResult[], seconds: number): MetricsSide {
  return {
    lost: summarize(runs.map((r) => r.lost)),
    lossFraction: summarize(runs.map((r) => r.lost / Math.max(1, r.eventsPerSec * seconds))),
    p99Ms: summarize(runs.map((r) => r.p99Ms)),
    alerts: runs.map((r) => r.alerts),
  };
}

/**
 * The cost of being scraped: the latency part's flood (getppid at
 * `ratePerSec`, intruders every 100 ms), run without and with a scraper
 * fetching /metrics every second, alternately in the same invocation
 * (ABBA order, so a drift of the machine falls on both sides), `rounds`
 * times each. Compares events lost and alert latency p99.
 */
export async function runMetricsOverhead(
  model: string,
  options: { ratePerSec: number; seconds: number; rounds: number; onProgress?: (s: string) => void },
): Promise<MetricsOverheadResult> {
  const { ratePerSec, seconds, rounds } = options;
  const without: LatencyResult[] = [];
  const withScraper: LatencyResult[] = [];
  const scrapes: Scrape[] = [];
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? [false, true] : [true, false];
    for (const scrape of order) {
      options.onProgress?.(`metrics overhead: round ${i + 1}/${rounds}, ${scrape ? 'scraped every second' : 'not scraped'}`);
      const r = await runLatency(model, ratePerSec, seconds, scrape ? scraped(scrapes) : undefined);
      (scrape ? withScraper : without).push(r);
    }
  }
  const ms = scrapes.map((s) => s.ms!);
  return {
    targetPerSec: ratePerSec,
    seconds,
    rounds,
    without: side(without, seconds),
    with: side(withScraper, seconds),
    scrapes: scrapes.length,
    scrapeMs: { median: median(ms), max: ms.length ? Math.max(...ms) : NaN },
    scrapeBytes: scrapes.at(-1)?.bytes ?? 0,
  };
}
