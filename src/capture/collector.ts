import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { SyswardenError } from '../errors.js';
import { loadAddon } from './addon.js';
import type { NativeCollector, NativeStats } from './native.js';
import { explainNativeError, preflight } from './preflight.js';
import { EventBatch } from './record.js';
import { resolveTarget, type ResolvedTarget } from './targets.js';
import { SW_MAX_CGROUP_LEVEL, MAX_TARGETS, MAX_TARGET_LEVELS } from './limits.js';

export interface CollectorOptions {
  /** Target specs to watch from the start (see TARGET_SPEC_HELP). */
  targets?: readonly string[];
  /** Record every process on the host except this one (benchmarks). Fixed at open. */
  all?: boolean;
  /** Ring buffer size in bytes: a power of two, at least 4096. Default 8 MiB (~500k events). */
  ringBytes?: number;
  /** How often the consumer thread drains the ring, in ms (1..1000). Default 2. */
  pollMs?: number;
  /** Largest batch handed to JavaScript, in events. Default 65536. */
  maxBatchEvents?: number;
  /** Batches the native side may queue for JavaScript before dropping (counted). Default 64. */
  maxQueuedBatches?: number;
  /** Batches the async iterator may buffer before dropping (counted). Default 256. */
  maxPendingBatches?: number;
  /** How the program attaches: tp_btf, the classic tracepoint, or auto (tp_btf, else tracepoint). */
  attach?: 'auto' | 'tp_btf' | 'tracepoint';
  /**
   * Fair share of the ring (default true): when a drain takes more than a
   * quarter of the ring, the containers that brought more than their share
   * of it are shed in the kernel for a while (their events counted as
   * dropped), so one flooding container cannot crowd the others out.
   */
  fairShare?: boolean;
  /** How often to check that each target's cgroup still exists, in ms; 0 turns it off. Default 1000. */
  targetCheckMs?: number;
  /** Closes the collector when aborted. */
  signal?: AbortSignal;
}

/** A watched target and the slot its events carry. */
export interface TargetInfo extends ResolvedTarget {
  readonly slot: number;
}

export interface CollectorStats {
  /** How the BPF program is attached. */
  attach: 'tp_btf' | 'tracepoint';
  /** Kernel counters, summed over CPUs: matched = emitted + dropped (ring full, or shed for fair share). */
  kernel: { matched: number; emitted: number; dropped: number };
  /** What reached JavaScript, and what was dropped on the way (JavaScript fell behind). */
  user: {
    batches: number;
    events: number;
    droppedBatches: number;
    droppedEvents: number;
  };
  /** Fair share of the ring: times a container started being shed, and containers shed now (their events count as kernel drops). */
  fairShare?: { episodes: number; shedNow: number };
  /** The same per target slot (SLOT_ALL in all-processes mode), for slots that saw events. */
  perSlot?: Array<{ slot: number; spec?: string; matched: number; emitted: number; kernelDropped: number; userDropped: number }>;
}

const DEFAULTS = {
  ringBytes: 8 << 20,
  pollMs: 2,
  maxBatchEvents: 65536,
  maxQueuedBatches: 64,
  maxPendingBatches: 256,
  targetCheckMs: 1000,
};

function checkInt(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new TypeError(`${name} must be a whole number, got ${String(v)}`);
  }
  if (v < lo || v > hi) throw new RangeError(`${name} must be between ${lo} and ${hi}, got ${v}`);
  return v;
}

/**
 * Streams the syscalls of watched containers (or of every process) from the
 * kernel, in batches. Iterate it (`for await (const batch of collector)`) or
 * listen to 'batch'; always close() it, which detaches the BPF program.
 *
 * Events: 'batch' (EventBatch), 'target-gone' (TargetInfo: its cgroup was
 * removed, e.g. the container stopped), 'close'.
 */
export class Collector extends EventEmitter implements AsyncIterable<EventBatch> {
  private native: NativeCollector | undefined;
  private readonly bySlot = new Map<number, TargetInfo>();
  private readonly pending: EventBatch[] = [];
  private readonly waiters: Array<(r: IteratorResult<EventBatch>) => void> = [];
  private readonly maxPending: number;
  private jsDroppedBatches = 0;
  private jsDroppedEvents = 0;
  private readonly jsDroppedBySlot = new Map<number, number>();
  /** Specs of every target ever watched, so stats name removed ones too. */
  private readonly specs = new Map<number, string>();
  private closing: Promise<void> | undefined;
  private finalStats: CollectorStats | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private iterated = false;
  readonly matchAll: boolean;

  private constructor(options: CollectorOptions) {
    super();
    const o = { ...DEFAULTS, ...options };
    const ringBytes = checkInt('ringBytes', o.ringBytes, 4096, 1 << 30);
    if ((ringBytes & (ringBytes - 1)) !== 0) throw new RangeError(`ringBytes must be a power of two, got ${ringBytes}`);
    const pollMs = checkInt('pollMs', o.pollMs, 1, 1000);
    const maxBatchEvents = checkInt('maxBatchEvents', o.maxBatchEvents, 1, 1 << 24);
    const maxQueuedBatches = checkInt('maxQueuedBatches', o.maxQueuedBatches, 1, 65536);
    this.maxPending = checkInt('maxPendingBatches', o.maxPendingBatches, 1, 1 << 20);
    const targetCheckMs = checkInt('targetCheckMs', o.targetCheckMs, 0, 3_600_000);
    const attach = o.attach ?? 'auto';
    if (attach !== 'auto' && attach !== 'tp_btf' && attach !== 'tracepoint') {
      throw new RangeError(`attach must be 'auto', 'tp_btf' or 'tracepoint', got ${String(attach)}`);
    }
    this.matchAll = o.all === true;
    if (o.fairShare !== undefined && typeof o.fairShare !== 'boolean') throw new TypeError(`fairShare must be true or false, got ${String(o.fairShare)}`);

    preflight(attach);
    const addon = loadAddon();
    try {
      this.native = new addon.NativeCollector(
        { ringBytes, pollMs, maxBatchEvents, maxQueuedBatches, matchAll: this.matchAll, selfTgid: process.pid, attach, fairShare: o.fairShare !== false },
        (buffer, drainedNs) => this.onBatch(buffer, drainedNs),
      );
    } catch (err) {
      throw explainNativeError(err);
    }
    if (targetCheckMs > 0) {
      this.checkTimer = setInterval(() => this.checkTargets(), targetCheckMs);
      this.checkTimer.unref();
    }
  }

  /** Load and attach the BPF program and watch the given targets. */
  static async open(options: CollectorOptions = {}): Promise<Collector> {
    if (options.signal?.aborted) throw new SyswardenError('ERR_ABORTED', 'the collector was aborted before it opened.');
    // Resolve targets first: a typo should not cost a BPF load.
    const resolved = await Promise.all((options.targets ?? []).map((s) => resolveTarget(s)));
    const c = new Collector(options);
    try {
      for (const t of resolved) c.watch(t);
    } catch (err) {
      await c.close();
      throw err;
    }
    options.signal?.addEventListener('abort', () => void c.close(), { once: true });
    return c;
  }

  /** How the program is attached: 'tp_btf' or the classic 'tracepoint'. */
  get attachMode(): 'tp_btf' | 'tracepoint' {
    return this.finalStats?.attach ?? this.live().attachMode();
  }

  get closed(): boolean {
    return this.native === undefined;
  }

  /** Resolve a target spec and start recording its syscalls (takes effect at the next syscall). */
  async addTarget(spec: string): Promise<TargetInfo> {
    const resolved = await resolveTarget(spec);
    return this.watch(resolved);
  }

  /** Stop recording a target, given by its spec, its slot or its TargetInfo. Returns whether it was watched. */
  removeTarget(target: string | number | TargetInfo): boolean {
    const info =
      typeof target === 'number'
        ? this.bySlot.get(target)
        : typeof target === 'string'
          ? [...this.bySlot.values()].find((t) => t.spec === target)
          : this.bySlot.get(target.slot);
    if (!info) return false;
    this.bySlot.delete(info.slot);
    const native = this.live();
    // Narrow the level mask before deleting, so no lookup sees a half state.
    native.setTargetLevels(this.levelMask());
    native.deleteTarget(info.cgroup.id);
    return true;
  }

  /** The targets being watched. */
  targets(): TargetInfo[] {
    return [...this.bySlot.values()];
  }

  /** The target an event's slot refers to (undefined for all-processes events or removed targets). */
  target(slot: number): TargetInfo | undefined {
    return this.bySlot.get(slot);
  }

  stats(): CollectorStats {
    if (this.finalStats) return this.finalStats;
    return this.statsFrom(this.live().stats(), this.live().attachMode());
  }

  /** Stop draining the ring (events pile up in the kernel, then drop, counted). For tests and back-pressure experiments. */
  pause(): void {
    this.live().pause();
  }

  resume(): void {
    this.live().resume();
  }

  /** BPF program id (as `bpftool prog show` lists it). */
  programId(): number {
    return this.live().programId();
  }

  /**
   * Detach the program, drain what the ring still holds, deliver the last
   * batches, then end every iterator. Safe to call more than once.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      if (this.checkTimer) clearInterval(this.checkTimer);
      const native = this.native;
      if (!native) return;
      const attach = native.attachMode();
      native.close();
      // The consumer's last batches are still queued for this thread: let them land.
      while (native.stats().inFlight > 0) await new Promise((r) => setImmediate(r));
      this.finalStats = this.statsFrom(native.stats(), attach);
      this.native = undefined;
      for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
      this.emit('close');
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<EventBatch> {
    this.iterated = true;
    return {
      next: () => {
        const batch = this.pending.shift();
        if (batch) return Promise.resolve({ value: batch, done: false });
        if (!this.native) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }

  private live(): NativeCollector {
    if (!this.native) throw new SyswardenError('ERR_CLOSED', 'the collector is closed.');
    return this.native;
  }

  private watch(t: ResolvedTarget): TargetInfo {
    if (this.matchAll) {
      throw new SyswardenError('ERR_INVALID_TARGET', 'this collector records every process (all: true); it takes no targets.');
    }
    for (const existing of this.bySlot.values()) {
      if (existing.cgroup.id === t.cgroup.id) {
        throw new SyswardenError('ERR_INVALID_TARGET', `${t.spec} is already watched as ${existing.spec} (cgroup ${t.cgroup.path}).`);
      }
    }
    if (t.cgroup.level > SW_MAX_CGROUP_LEVEL) {
      throw new SyswardenError('ERR_INVALID_TARGET', `cgroup ${t.cgroup.path} is nested ${t.cgroup.level} levels deep; the filter follows at most ${SW_MAX_CGROUP_LEVEL}.`);
    }
    const levels = new Set([...this.bySlot.values()].map((x) => x.cgroup.level));
    if (!levels.has(t.cgroup.level) && levels.size >= MAX_TARGET_LEVELS) {
      throw new SyswardenError(
        'ERR_INVALID_TARGET',
        `targets already sit at ${MAX_TARGET_LEVELS} different cgroup depths (${[...levels].sort().join(', ')}); ${t.cgroup.path} is at depth ${t.cgroup.level}. Watch a common parent cgroup instead.`,
      );
    }
    if (this.bySlot.size >= MAX_TARGETS) {
      throw new SyswardenError('ERR_INVALID_TARGET', `at most ${MAX_TARGETS} targets can be watched at once.`);
    }
    let slot = 0;
    while (this.bySlot.has(slot)) slot++;
    const info: TargetInfo = { ...t, slot };
    this.specs.set(slot, t.spec);
    const native = this.live();
    // Map entry first, then widen the level mask: a lookup never finds a level with no entry yet.
    native.setTarget(t.cgroup.id, slot);
    this.bySlot.set(slot, info);
    native.setTargetLevels(this.levelMask());
    return info;
  }

  private levelMask(): number {
    let mask = 0;
    for (const t of this.bySlot.values()) mask |= 1 << t.cgroup.level;
    return mask >>> 0;
  }

  private checkTargets(): void {
    if (!this.native) return;
    for (const t of [...this.bySlot.values()]) {
      if (!existsSync(t.cgroup.dir)) {
        this.removeTarget(t.slot);
        this.emit('target-gone', t);
      }
    }
  }

  private onBatch(buffer: ArrayBuffer, drainedNs: bigint): void {
    const batch = new EventBatch(buffer, drainedNs);
    if (this.listenerCount('batch') > 0) this.emit('batch', batch);
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter({ value: batch, done: false });
      return;
    }
    // Listener-only users never iterate: queueing for nobody would only count false drops.
    if (!this.iterated && this.listenerCount('batch') > 0) return;
    if (this.pending.length >= this.maxPending) {
      this.jsDroppedBatches++;
      this.jsDroppedEvents += batch.count;
      for (let i = 0; i < batch.count; i++) {
        const s = batch.slot(i);
        this.jsDroppedBySlot.set(s, (this.jsDroppedBySlot.get(s) ?? 0) + 1);
      }
      return;
    }
    this.pending.push(batch);
  }

  private statsFrom(s: NativeStats, attach: 'tp_btf' | 'tracepoint'): CollectorStats {
    const perSlot = s.perSlot.map((p) => {
      const row: NonNullable<CollectorStats['perSlot']>[number] = {
        slot: p.slot,
        matched: p.matched,
        emitted: p.emitted,
        kernelDropped: p.dropped,
        userDropped: p.userDropped + (this.jsDroppedBySlot.get(p.slot) ?? 0),
      };
      const spec = this.specs.get(p.slot);
      if (spec !== undefined) row.spec = spec;
      return row;
    });
    return {
      attach,
      kernel: { matched: Number(s.matched), emitted: Number(s.emitted), dropped: Number(s.dropped) },
      user: {
        batches: Number(s.batchesDelivered) - this.jsDroppedBatches,
        events: Number(s.eventsDelivered) - this.jsDroppedEvents,
        droppedBatches: Number(s.userDroppedBatches) + this.jsDroppedBatches,
        droppedEvents: Number(s.userDroppedEvents) + this.jsDroppedEvents,
      },
      fairShare: { episodes: s.shedEpisodes, shedNow: s.shedNow },
      perSlot,
    };
  }
}
