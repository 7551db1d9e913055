import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { nameOf, targetContainer, type AlertRecord } from '../alert/alert.js';
import type { Collector, CollectorStats } from '../capture/collector.js';
import { SLOT_ALL } from '../capture/record.js';
import type { Pipeline, PipelineCounts } from '../pipeline/pipeline.js';
import { packageVersion } from '../version.js';
import { ContainerLosses, DEFAULT_MAX_CONTAINER_SERIES, LOSS_STAGES } from './container-losses.js';

/** What a watch is made of, read at scrape time. */
export interface WatchSources {
  pipeline: Pipeline;
  collector: Collector;
  /** The alert output (AlertWriter): records waiting for it and lost. */
  writer?: { stats(): { waiting: number; lost: number } };
}

export interface WatchMetricsOptions {
  /** Containers with a loss series of their own; the rest count under container="other". Default 50. */
  maxContainerSeries?: number;
  /**
   * Scrapes closer together than this share one reading of the collector
   * (ms, default 100): its stats() reads per-CPU kernel maps, and a burst of
   * scrapes must not turn into a burst of those.
   */
  minReadIntervalMs?: number;
  /** The Node.js process metrics (process_*, nodejs_*) prom-client gathers. Default true. */
  processMetrics?: boolean;
}

/** Alert-latency buckets, seconds: from a millisecond (an idle host) to ten seconds (a flood on a busy one). */
export const ALERT_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Record types the pipeline emits, each with an alerts_total series from the start (0 until one comes). */
const RECORD_TYPES = ['alert', 'incident-end', 'degraded', 'escape', 'new-executable', 'target-gone', 'alerts-lost'] as const;

interface Reading {
  at: number;
  collector: CollectorStats;
  pipeline: PipelineCounts;
  targets: number;
  writer: { waiting: number; lost: number } | undefined;
}

type Labels = Record<string, string>;

/**
 * The Prometheus metrics of a running watch, in one registry. Values are
 * read when scraped (collect callbacks) from counters the pipeline and the
 * collector keep anyway: one collector.stats() per scrape (see
 * minReadIntervalMs), the pipeline's counts() (no copy, no sort). Only the
 * alert latency histogram and the records by type are observed as they
 * happen, from the pipeline's 'alert' events. Before watch() is called the
 * registry holds build info and process metrics only.
 */
export class WatchMetrics {
  readonly registry = new Registry();
  private sources: WatchSources | undefined;
  private reading: Reading | undefined;
  private losses: ContainerLosses | undefined;
  private readonly records = new Map<string, number>(RECORD_TYPES.map((t) => [t, 0]));
  private readonly minReadIntervalMs: number;
  private readonly maxContainerSeries: number;
  /** Counter values already reported, per series: a counter never goes back. */
  private readonly reported = new Map<string, number>();

  constructor(options: WatchMetricsOptions = {}) {
    this.maxContainerSeries = options.maxContainerSeries ?? DEFAULT_MAX_CONTAINER_SERIES;
    this.minReadIntervalMs = options.minReadIntervalMs ?? 100;
    if (!(this.minReadIntervalMs >= 0 && this.minReadIntervalMs <= 60_000)) throw new RangeError(`minReadIntervalMs must be from 0 to 60000, got ${String(options.minReadIntervalMs)}`);
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });

    new Gauge({ name: 'syswarden_build_info', help: 'syswarden build: its version and the Node.js version it runs on (always 1).', labelNames: ['version', 'nodejs'], registers: [this.registry] })
      .set({ version: packageVersion(), nodejs: process.versions.node }, 1);
  }

  /**
   * Read these sources from now on (the watch's metrics join the registry
   * here, so none reads 0 before there is anything to count), and count
   * the pipeline's records as they come. Once per WatchMetrics. Returns a
   * function that stops listening.
   */
  watch(sources: WatchSources): () => void {
    if (this.sources) throw new Error('WatchMetrics.watch() was called already: one watch per registry');
    this.sources = sources;
    const labelOf = (id: number): string => {
      if (id === SLOT_ALL) return 'all';
      const t = sources.collector.target(id);
      return t ? nameOf(targetContainer(t)) : `slot ${id}`;
    };
    this.losses = new ContainerLosses(labelOf, this.maxContainerSeries);
    this.define(sources.writer !== undefined);
    const latency = new Histogram({
      name: 'syswarden_alert_latency_seconds',
      help: 'Time from the syscall that completed an alarming window to its alert record (live capture).',
      buckets: ALERT_LATENCY_BUCKETS,
      registers: [this.registry],
    });
    const onAlert = (a: AlertRecord) => {
      this.records.set(a.type, (this.records.get(a.type) ?? 0) + 1);
      if (a.type === 'alert' && a.latencyMs !== undefined && a.latencyMs >= 0) latency.observe(a.latencyMs / 1000);
    };
    sources.pipeline.on('alert', onAlert);
    return () => {
      sources.pipeline.off('alert', onAlert);
    };
  }

  private define(withWriter: boolean): void {
    this.gauge('syswarden_model_info', 'Each model loaded: detector, model name and window size (always 1; with --all-containers, one per image model in use, at most 32).', ['detector', 'model', 'window'], (s, set) => {
      for (const { model } of s.pipeline.loadedModels()) set({ detector: model.detector, model: model.name, window: String(model.windowSize) }, 1);
    });
    this.gauge('syswarden_targets', 'Targets (containers, cgroups) being watched now.', [], (_s, set, rd) => set({}, rd.targets));
    this.counter('syswarden_events_total', 'Syscall events by stage: kernel (matched by the BPF program for a target), ring (written to the ring buffer), consumer (handed to scoring whole), scored (windowed by a worker).', ['stage'], (rd, add) => {
      add({ stage: 'kernel' }, rd.collector.kernel.matched);
      add({ stage: 'ring' }, rd.collector.kernel.emitted);
      add({ stage: 'consumer' }, rd.collector.user.events);
      add({ stage: 'scored' }, rd.pipeline.events);
    });
    this.counter('syswarden_events_lost_total', 'Syscall events lost, by stage (kernel: ring full or shed; consumer: user space behind, or a worker ring full; scoring: a worker behind or dead) and container (capped: the rest count as "other"; losses no container accounts for as "unattributed").', ['stage', 'container'], (rd, add) => {
      const losses = this.lossesOf(rd);
      for (const [container, l] of losses.entries()) for (const stage of LOSS_STAGES) add({ stage, container }, l[stage]);
    });
    this.counter('syswarden_events_shed_total', 'Syscall events shed for fair share (also counted as lost): in the kernel, of a container flooding the ring while the consumer or scoring was behind; in scoring, of containers over their share of a worker queue.', ['stage'], (rd, add) => {
      const ringFull = (rd.collector.rings?.full ?? []).reduce((a, b) => a + b, 0);
      add({ stage: 'kernel' }, Math.max(0, rd.collector.kernel.dropped - ringFull));
      add({ stage: 'scoring' }, rd.pipeline.shedEvents);
    });
    this.counter('syswarden_shed_episodes_total', 'Times the kernel started shedding a container for fair share.', [], (rd, add) => add({}, rd.collector.fairShare?.episodes ?? 0));
    this.gauge('syswarden_containers_shed', 'Containers being shed in the kernel now for fair share.', [], (_s, set, rd) => set({}, rd.collector.fairShare?.shedNow ?? 0));
    this.counter('syswarden_windows_scored_total', 'Windows of syscalls scored by the model.', [], (rd, add) => add({}, rd.pipeline.windows));
    this.counter('syswarden_threads_unjudged_total', 'Threads that ended with fewer calls than their model needs for any alarm (window size plus the frame\'s trim, twice the window by default): a server that starts a thread or process per request at too long a window.', [], (rd, add) => add({}, rd.pipeline.unjudgedThreads));
    this.counter('syswarden_alarms_total', 'Windows that scored as alarming (an incident groups many).', [], (rd, add) => add({}, rd.pipeline.alarms));
    this.counter('syswarden_incidents_total', 'Incidents opened: runs of alarming windows of one thread, each reported by one alert record.', [], (rd, add) => add({}, rd.pipeline.incidents));
    this.counter('syswarden_alerts_total', 'Records the pipeline put in the alert stream, by type (alert, incident-end, degraded, escape, new-executable, target-gone, alerts-lost).', ['type'], (_rd, add) => {
      for (const [type, n] of this.records) add({ type }, n);
    });
    this.gauge('syswarden_workers', 'Scoring worker threads.', [], (_s, set, rd) => set({}, rd.pipeline.workers));
    this.counter('syswarden_worker_restarts_total', 'Scoring workers that died and were replaced.', [], (rd, add) => add({}, rd.pipeline.workerRestarts));
    if (!withWriter) return;
    this.gauge('syswarden_alert_records_waiting', 'Alert records waiting in memory for the outputs to take them (a full disk, a bus that is down).', [], (_s, set, rd) => set({}, rd.writer!.waiting));
    this.counter('syswarden_alert_records_lost_total', 'Alert records the output never took (watch then exits 1).', [], (rd, add) => add({}, rd.writer!.lost));
  }

  /** The metrics in Prometheus' text format, read now. */
  async render(): Promise<{ contentType: string; body: string }> {
    this.read();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Take a reading for this scrape (collect callbacks run synchronously right after, and share it). */
  private read(): void {
    const s = this.sources;
    if (!s) return;
    const now = performance.now();
    if (this.reading && now - this.reading.at < this.minReadIntervalMs) return;
    this.reading = {
      at: now,
      collector: s.collector.stats(),
      pipeline: s.pipeline.counts(),
      targets: s.collector.closed ? 0 : s.collector.targets().length,
      writer: s.writer?.stats(),
    };
  }

  private lossesOf(rd: Reading): ContainerLosses {
    const losses = this.losses!;
    const rows = (rd.collector.perSlot ?? []).map((p) => ({ id: p.id, kernel: p.kernelDropped, consumer: p.userDropped }));
    losses.update(rows, rd.pipeline.droppedBySlot, { kernel: rd.collector.kernel.dropped, consumer: rd.collector.user.droppedEvents, scoring: rd.pipeline.droppedEvents });
    return losses;
  }

  /** A counter whose values are read at scrape time; a value below one reported before is held (a counter never goes back). */
  private counter(name: string, help: string, labelNames: string[], read: (rd: Reading, add: (labels: Labels, v: number) => void) => void): void {
    const self = this;
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        const rd = self.reading;
        if (!rd) return;
        this.reset();
        read(rd, (labels, v) => {
          const key = `${name}${JSON.stringify(labels)}`;
          const value = Math.max(v, self.reported.get(key) ?? 0);
          self.reported.set(key, value);
          this.inc(labels, value);
        });
      },
    });
  }

  private gauge(name: string, help: string, labelNames: string[], read: (s: WatchSources, set: (labels: Labels, v: number) => void, rd: Reading) => void): void {
    const self = this;
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        const rd = self.reading;
        if (!rd || !self.sources) return;
        this.reset();
        read(self.sources, (labels, v) => this.set(labels, v), rd);
      },
    });
  }
}
