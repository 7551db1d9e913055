import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertRecord } from '../../src/alert/alert.js';
import { Collector } from '../../src/capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { MetricsEndpoint } from '../../src/metrics/endpoint.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { runWorkload, waitFor } from '../capture/helpers.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';
import { scrape, valueOf, type Sample } from './helpers.js';

const LOCAL = { host: '127.0.0.1', port: 0, family: 4 as const };
let dir: string;
let model: string;
const cgs: ScratchCgroup[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-metrics-'));
  model = join(dir, 'alarm.model');
  await saveAlarmingModel(model);
  for (let i = 0; i < 3; i++) cgs.push(createScratchCgroup(`sw-test-metrics-${i}-${process.pid}`));
});
afterAll(async () => {
  for (const cg of cgs) await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** Scored everything delivered: nothing is in flight, so a scrape and stats() read the same numbers. */
async function settled(pipeline: Pipeline, collector: Collector): Promise<void> {
  await waitFor(() => collector.stats().user.events === pipeline.counts().events, 'the pipeline to score what the collector delivered', 30_000);
}

function lostBy(samples: readonly Sample[], stage: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) if (s.name === 'syswarden_events_lost_total' && s.labels.stage === stage) out.set(s.labels.container!, s.value);
  return out;
}

describe('watch metrics scraped over HTTP', () => {
  it('count events by stage, windows, alerts, incidents and alert latency exactly as the collector and pipeline do', async () => {
    const cg = cgs[0]!;
    const pipeline = await Pipeline.create({ model, workers: 1 });
    const collector = await Collector.open({ targets: [cg.spec] });
    const endpoint = await MetricsEndpoint.listen(LOCAL, { minReadIntervalMs: 0 });
    try {
      // Bound before anything is watched: build and process metrics only, no count that reads 0 for want of a source.
      const early = await scrape(endpoint.url);
      expect([...new Set(early.filter((s) => s.name.startsWith('syswarden_')).map((s) => s.name))]).toEqual(['syswarden_build_info']);
      pipeline.attach(collector);
      endpoint.watch({ pipeline, collector });
      const records: AlertRecord[] = [];
      pipeline.on('alert', (a: AlertRecord) => records.push(a));

      const first = await scrape(endpoint.url);
      expect(valueOf(first, 'syswarden_targets')).toBe(1);
      expect(valueOf(first, 'syswarden_workers')).toBe(1);
      expect(valueOf(first, 'syswarden_model_info', { detector: 'stide', model, window: '4' })).toBe(1);
      expect(first.find((s) => s.name === 'syswarden_build_info')?.labels).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), nodejs: process.versions.node });
      expect(valueOf(first, 'syswarden_alerts_total', { type: 'alert' })).toBe(0);

      // Every window of a real process alarms under this model: alerts, incidents, latency.
      await runWorkload(['--cgroup', cg.dir, 'pattern', '50', '1']);
      await waitFor(() => records.some((r) => r.type === 'alert'), 'an alert', 30_000);
      await settled(pipeline, collector);
      const second = await scrape(endpoint.url);
      const cs = collector.stats();
      const ps = pipeline.stats();
      const stage = (s: string) => valueOf(second, 'syswarden_events_total', { stage: s });

      for (const s of ['kernel', 'ring', 'consumer', 'scored']) expect(stage(s)!, s).toBeGreaterThan(valueOf(first, 'syswarden_events_total', { stage: s })!);
      expect(stage('kernel')).toBe(cs.kernel.matched);
      expect(stage('ring')).toBe(cs.kernel.emitted);
      expect(stage('consumer')).toBe(cs.user.events);
      expect(stage('scored')).toBe(ps.events);
      expect(valueOf(second, 'syswarden_windows_scored_total')).toBe(ps.windows);
      expect(valueOf(second, 'syswarden_alarms_total')).toBe(ps.alarms);
      expect(valueOf(second, 'syswarden_incidents_total')).toBe(ps.incidents);
      expect(ps.incidents).toBeGreaterThan(0);
      const alerts = records.filter((r) => r.type === 'alert').length;
      expect(valueOf(second, 'syswarden_alerts_total', { type: 'alert' })).toBe(alerts);
      expect(valueOf(second, 'syswarden_alert_latency_seconds_count')).toBe(ps.latency.count);
      expect(valueOf(second, 'syswarden_alert_latency_seconds_bucket', { le: '+Inf' })).toBe(ps.latency.count);
      expect(valueOf(second, 'syswarden_alert_latency_seconds_sum')!).toBeCloseTo(ps.latency.count > 0 ? records.reduce((a, r) => a + (r.type === 'alert' ? (r.latencyMs ?? 0) : 0), 0) / 1000 : 0, 6);
      // Nothing was lost, and every stage says so (the 'unattributed' series is there, at 0).
      for (const s of ['kernel', 'consumer', 'scoring']) expect(valueOf(second, 'syswarden_events_lost_total', { stage: s }), s).toBe(0);
      expect(valueOf(second, 'syswarden_worker_restarts_total')).toBe(0);
      expect(valueOf(second, 'process_resident_memory_bytes')!).toBeGreaterThan(0);
    } finally {
      await endpoint.close();
      await collector.close();
      await pipeline.close();
    }
  });

  it('read the collector once per scrape, and once for scrapes less than minReadIntervalMs apart', async () => {
    const pipeline = await Pipeline.create({ model, workers: 1 });
    const collector = await Collector.open({ targets: [cgs[0]!.spec] });
    const endpoint = await MetricsEndpoint.listen(LOCAL, { minReadIntervalMs: 60_000 });
    try {
      // The pipeline's own loss check reads stats() too: out of the way for this count.
      pipeline.attach(collector, { degradedCheckMs: 3_600_000 });
      endpoint.watch({ pipeline, collector });
      let reads = 0;
      const stats = collector.stats.bind(collector);
      collector.stats = () => {
        reads++;
        return stats();
      };
      await scrape(endpoint.url);
      expect(reads).toBe(1);
      await Promise.all([scrape(endpoint.url), scrape(endpoint.url), scrape(endpoint.url)]);
      expect(reads).toBe(1);
    } finally {
      await endpoint.close();
      await collector.close();
      await pipeline.close();
    }
  });

  it('count losses per container, with at most maxContainerSeries containers named and the rest as "other"', async () => {
    const pipeline = await Pipeline.create({ model, workers: 1 });
    // A 4 KiB ring holds about 170 records: with the consumer paused, the rest of each container's calls are lost in the kernel.
    const collector = await Collector.open({ targets: cgs.map((c) => c.spec), ringBytes: 4096 });
    const endpoint = await MetricsEndpoint.listen(LOCAL, { minReadIntervalMs: 0, maxContainerSeries: 2 });
    try {
      pipeline.attach(collector);
      endpoint.watch({ pipeline, collector });
      collector.pause();
      for (const cg of cgs) await runWorkload(['--cgroup', cg.dir, 'getppid', '5000']);
      collector.resume();
      await settled(pipeline, collector);
      const samples = await scrape(endpoint.url);
      const cs = collector.stats();
      const kernel = lostBy(samples, 'kernel');
      const named = [...kernel.keys()].filter((k) => k !== 'other' && k !== 'unattributed');
      expect(named).toHaveLength(2);
      for (const n of named) expect(cgs.map((c) => c.ref.path)).toContain(n);
      expect(kernel.get('other')!).toBeGreaterThan(0);
      expect(kernel.get('unattributed')).toBe(0);
      // Per container, exactly the collector's rows; in all, exactly its total.
      const rows = cs.perSlot!.filter((r) => r.kernelDropped > 0);
      expect(rows).toHaveLength(3);
      const byPath = new Map(rows.map((r) => [collector.target(r.id)!.cgroup.path, r.kernelDropped]));
      for (const n of named) expect(kernel.get(n)).toBe(byPath.get(n));
      expect([...kernel.values()].reduce((a, b) => a + b, 0)).toBe(cs.kernel.dropped);
      expect(cs.kernel.dropped).toBeGreaterThan(3 * 4000);
      // The other stages sum to their totals too.
      expect(valueOf(samples, 'syswarden_events_lost_total', { stage: 'consumer' })).toBe(cs.user.droppedEvents);
      expect(valueOf(samples, 'syswarden_events_lost_total', { stage: 'scoring' })).toBe(pipeline.counts().droppedEvents);
      // A removed target keeps what it lost: its series never goes down.
      collector.removeTarget(cgs[0]!.spec);
      const later = lostBy(await scrape(endpoint.url), 'kernel');
      for (const [k, v] of kernel) expect(later.get(k)!, k).toBeGreaterThanOrEqual(v);
    } finally {
      await endpoint.close();
      await collector.close();
      await pipeline.close();
    }
  });
});
