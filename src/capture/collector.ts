import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SyswardenError } from '../errors.js';
import { loadAddon } from './addon.js';
import { SLOT_CHANGE_FIELDS, type NativeCollector, type NativeStats } from './native.js';
import { explainNativeError, preflight } from './preflight.js';
import { decodeProcEvents, type AdoptEvent } from './proc-event.js';
import { cgroup2Mount, cgroupRef, containerIdOfCgroupName, type CgroupRef } from './cgroup.js';
import { EventBatch, nextTargetId, SLOT_ALL, targetSlot, type ProcBatch } from './record.js';
import { resolveTarget, type ContainerIdentity, type ResolvedTarget } from './targets.js';
import { SW_MAX_CGROUP_LEVEL, MAX_TARGETS, MAX_TARGET_LEVELS } from './limits.js';
import { pidView } from '../process/pidns.js';

/**
 * The ring consumer's nice value syswarden's own commands ask for (an agent
 * that is the whole process may take priority; a library embedded in
 * someone else's does not, unless told to: see `consumerNice`).
 */
export const AGENT_CONSUMER_NICE = -10;

/**
 * What opening a Collector does to the process beyond what it is asked:
 *
 * - It loads one BPF program and attaches it to the syscall-entry
 *   tracepoint until close() (or until the process or worker exits: an
 *   environment cleanup hook detaches it then).
 * - It starts one native thread, `sw-ring`, that drains the ring. The thread
 *   blocks every signal, so process-directed signals go to your threads. Its
 *   priority is the one it inherits unless `consumerNice` says otherwise.
 * - While it loads, libbpf's process-wide print callback is syswarden's
 *   (under a lock, so loads in several threads take turns); the previous
 *   callback is put back after, and messages of other threads meanwhile
 *   still go to it. libbpf's words end up in the error a failed load
 *   throws; syswarden itself prints nothing.
 * - RLIMIT_MEMLOCK is left alone. Kernels before 5.11 charge BPF memory to
 *   it; there libbpf (>= 1.0) raises it itself, on later kernels nothing does.
 * - A timer (unref'd) checks every `targetCheckMs` that targets still exist.
 *
 * It installs no signal handler and never exits the process.
 */
export interface CollectorOptions {
  /** Target specs to watch from the start (see TARGET_SPEC_HELP). */
  targets?: readonly string[];
  /** Record every process on the host except this one (benchmarks). Fixed at open. */
  all?: boolean;
  /** Ring buffer size in bytes: a power of two, at least 4096. Default 8 MiB (~500k events). With cpusPerRing, the size of each ring. */
  ringBytes?: number;
  /**
   * One ring shared by every CPU (0, the default), or a ring per group of
   * this many CPUs, so that CPUs contend for a ring's lock only within their
   * group (hosts with dozens of CPUs). Each ring has ringBytes. The consumer
   * puts what it reads in timestamp order, so a thread that moves between
   * CPUs keeps its calls in order; records wait one drain (pollMs) for that.
   * Losses are counted per ring (stats().rings) and per container.
   */
  cpusPerRing?: number;
  /** How often the consumer thread drains the ring, in ms (1..1000). Default 2. */
  pollMs?: number;
  /**
   * Under a light load, gather the drains of up to this many ms into one
   * batch (0..1000; 0: a batch per drain). Default 10. Every batch wakes
   * the JavaScript thread and, in a pipeline, every worker; at a few
   * hundred thousand calls a second those wake-ups cost more than the
   * records, so gathering them cuts syswarden's CPU by about a third (docs/scaling.md)
   * for at most this much more delay. A batch of 16,384 records goes at
   * once. The fair share still judges every drain.
   */
  deliverMs?: number;
  /** Largest batch handed to JavaScript, in events. Default 65536. */
  maxBatchEvents?: number;
  /** Batches the native side may queue for JavaScript before dropping (counted). Default 64. */
  maxQueuedBatches?: number;
  /** Batches the async iterator may buffer before dropping (counted). Default 256. */
  maxPendingBatches?: number;
  /** How the program attaches: tp_btf, the classic tracepoint, or auto (tp_btf, else tracepoint). */
  attach?: 'auto' | 'tp_btf' | 'tracepoint';
  /**
   * Fair share of the ring (default true): when the ring ran full since the
   * last drain (or JavaScript, or the scorer: setScoringBehind, falls
   * behind), the containers asking for more than their share are shed in
   * the kernel until their rate drops (their events counted as dropped), so
   * one flooding container cannot crowd the others out. Demand is what a
   * container brought over the last drains (drained or shed), decaying; the
   * share divides it among the containers making calls, not among all
   * watched ones; a container alone is never shed.
   */
  fairShare?: boolean;
  /**
   * Nice value (-20..19) for the thread that drains the ring. Default: not
   * set, the thread keeps the priority it inherits. A watched container that
   * saturates the CPUs competes with this thread, and the ring fills and
   * drops (counted) when it loses; a negative value (e.g. -10) keeps it
   * ahead. Raising needs root or CAP_SYS_NICE; without it the value is
   * quietly left as it was.
   */
  consumerNice?: number;
  /** How often to check that each target's cgroup still exists, in ms; 0 turns it off. Default 1000. */
  targetCheckMs?: number;
  /** Closes the collector when aborted. */
  signal?: AbortSignal;
}

/** A watched target, and the id its events carry. */
export interface TargetInfo extends ResolvedTarget {
  /**
   * The target id its events carry (EventBatch.targetId): its slot and the
   * slot's generation. Fixed for the target's life and kept after it is
   * removed, so collector.target(id) names it for events still in flight.
   */
  readonly id: number;
  /** Its slot, the index of its counters in the kernel: id & 0xfff. */
  readonly slot: number;
}

/** Counts of one target (or of all processes), per stage. */
export interface TargetStats {
  /** The target id events carry (SLOT_ALL in all-processes mode). */
  id: number;
  /** Its slot (SLOT_ALL in all-processes mode). */
  slot: number;
  spec?: string;
  /** True once the target was removed; its counts are final. */
  removed?: boolean;
  matched: number;
  emitted: number;
  kernelDropped: number;
  /** Lost in user space: JavaScript fell behind, or a 'batch' listener threw (listenerLost). */
  userDropped: number;
  /** The part of userDropped in batches a 'batch' listener threw on. */
  listenerLost: number;
}

export interface CollectorStats {
  /** How the BPF program is attached. */
  attach: 'tp_btf' | 'tracepoint';
  /**
   * Drains of the ring whose records have been handed to JavaScript (or
   * counted lost): a drain gathered into a later batch (deliverMs) counts
   * when that batch goes. A call made before a drain began is in a batch by
   * the time the count moves past it: wait for it to move by two to know
   * that what was in the ring has come out. (Not kept in recordings.)
   */
  drains?: number;
  /** Kernel counters, summed over CPUs: matched = emitted + dropped (ring full, or shed for fair share). */
  kernel: { matched: number; emitted: number; dropped: number };
  /**
   * What reached JavaScript whole, and what was lost on the way: JavaScript
   * fell behind, or a 'batch' listener threw (listenerErrors). At any time
   * events + droppedEvents <= kernel.emitted; after close() they are equal.
   */
  user: {
    batches: number;
    events: number;
    droppedBatches: number;
    droppedEvents: number;
    /**
     * Batches on which a 'batch' listener threw, and their events (also in
     * droppedBatches / droppedEvents). Always set by stats(); absent in the
     * trailer of a recording read back (recordings keep the four totals).
     */
    listenerErrors?: { batches: number; events: number };
  };
  /** Fair share of the ring: times a container started being shed, and containers shed now (their events count as kernel drops). */
  fairShare?: { episodes: number; shedNow: number };
  /**
   * The same per target, by target id (SLOT_ALL in all-processes mode), for
   * targets that saw events: the live ones and the last MAX_TARGETS removed.
   */
  perSlot?: TargetStats[];
  /**
   * Process events (exec, fork, exit, attach, escape), counted apart from
   * syscalls: what the kernel emitted, lost there (ring full), reached
   * JavaScript, lost after; `unfollowed`: watched processes the kernel could
   * not follow (its map was full), whose leaving the container goes unseen.
   */
  proc?: { available: boolean; emitted: number; kernelDropped: number; delivered: number; userDropped: number; unknown: number; unfollowed: number };
  /** io_uring operations are recorded (the kernel has io_uring's submit tracepoint). */
  uring?: boolean;
  /** The rings: CPUs per ring (0: one shared by all) and, per ring, the records it had no room for (each also counted per container as kernel drops). */
  rings?: { cpusPerRing: number; full: number[] };
  /**
   * Records written straight into scoring workers' rings (route()), and
   * those no worker ring could take, full with the room to wait for it used up (also in user.droppedEvents and
   * per container), process markers lost, and whether a worker's ring is
   * behind (pressure for the fair share).
   */
  routed?: { events: number; dropped: number; marksDropped: number; behind: boolean };
}

const DEFAULTS = {
  ringBytes: 8 << 20,
  pollMs: 2,
  deliverMs: 10,
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

/** Target ids kept in the kernel's queue for adopted cgroups (bpf/event.h SW_MAX_ADOPT_IDS at most): containers made faster than this thread hears of them are watched from when it does. */
const ADOPT_RESERVE = 16;
/** bpf/event.h SW_MAX_ADOPT_PARENTS. */
const MAX_ADOPT_PARENTS = 256;

export interface AdoptionStats {
  /** Parents adopted from, and ids the kernel holds for their next children. */
  parents: number;
  reserved: number;
  /** Children watched from their creation. */
  adopted: number;
  /** Children made while no id was held: watched from when this thread heard of them. */
  late: number;
  /** Children let go: accept() refused their name, or they could not be watched. */
  refused: number;
  /** Children gone before this thread heard of them. */
  gone: number;
}

/** A container's identity from its cgroup directory's name, when a runtime named it after the container. */
function containerOf(name: string): { kind: 'cgroup' | 'container'; container?: ContainerIdentity } {
  const id = containerIdOfCgroupName(name);
  return id ? { kind: 'container', container: { id } } : { kind: 'cgroup' };
}

/** Removed targets kept for target(id) and stats: as many as can be watched at once. */
const RETIRED_KEPT = MAX_TARGETS;

/** Per-slot counts as the native side reports them (cumulative over every target the slot had). */
interface SlotCounts {
  emitted: number;
  dropped: number;
  userDropped: number;
}

const ZERO: SlotCounts = { emitted: 0, dropped: 0, userDropped: 0 };

interface Retired {
  info: TargetInfo;
  /** Its final counts, taken when its slot went to another target (until then they are the slot's). */
  final?: SlotCounts;
}

/**
 * Streams the syscalls of watched containers (or of every process) from the
 * kernel, in batches. Iterate it (`for await (const batch of collector)`) or
 * listen to 'batch'; always close() it, which detaches the BPF program.
 *
 * Events: 'batch' (EventBatch), 'target-gone' (TargetInfo: its cgroup was
 * removed, e.g. the container stopped), 'target-removed' (TargetInfo: no
 * longer watched, for whatever reason: removeTarget() or gone), 'listener-error' (error, EventBatch:
 * a 'batch' listener threw; the batch counts as lost, see
 * stats().user.listenerErrors), 'close'.
 */
export class Collector extends EventEmitter implements AsyncIterable<EventBatch> {
  private native: NativeCollector | undefined;
  /** Live targets by id. */
  private readonly byId = new Map<number, TargetInfo>();
  /** Adoption: the parents whose new children the kernel makes targets, and the ids (-> slot) it holds for them. */
  private readonly adoptParents = new Map<bigint, { ref: CgroupRef; accept: (name: string) => boolean }>();
  private readonly reservedIds = new Map<number, number>();
  private readonly adoptCounts = { adopted: 0, late: 0, refused: 0, gone: 0 };
  /** Removed targets by id, oldest first, at most RETIRED_KEPT. */
  private readonly retired = new Map<number, Retired>();
  /** Per slot: the id of the last target given it (live or removed), or -1 for a slot never used. */
  private readonly slotOwner = new Int32Array(MAX_TARGETS).fill(-1);
  /**
   * Per counter row (a slot, or SLOT_ALL's row last): the native counts,
   * cumulative, as emitted, dropped, userDropped triples. The addon reports
   * only the rows that changed since its last reading (nativeStats() takes
   * them in); `rowsSeen` lists the rows that ever counted anything.
   */
  private readonly rowCounts = new Float64Array((MAX_TARGETS + 1) * 3);
  private readonly rowsSeen: number[] = [];
  private readonly rowSeen = new Uint8Array(MAX_TARGETS + 1);
  /** Per slot: its native counts when it went to its current owner (a slot's first owner starts at zero). */
  private readonly baseline = new Map<number, SlotCounts>();
  /**
   * stats() builds a row only for what changed since the last call: rows are
   * cached (frozen, shared between calls) per counter row, and for removed
   * targets' final counts. `targetsVersion` is bumped whenever targets come
   * or go; with the losses counted in JavaScript it keys the caches, and a
   * counter row the addon reports changed is built again.
   */
  private targetsVersion = 0;
  private cacheKey = '';
  private readonly rowCache: Array<TargetStats | null | undefined> = new Array(MAX_TARGETS + 1);
  private retiredCache: readonly TargetStats[] | undefined;
  /** Slots never used yet are taken first (in order), then freed ones, longest free first. */
  private freshSlots = 0;
  private readonly freedSlots: number[] = [];
  private readonly pending: EventBatch[] = [];
  private readonly waiters: Array<(r: IteratorResult<EventBatch>) => void> = [];
  private readonly maxPending: number;
  /** Batches the iterator's queue had no room for. */
  private readonly jsDropped = new BatchLoss();
  /** Process-event records of a kind this decoder does not know (a newer BPF object): counted, skipped. */
  private procUnknown = 0;
  /** Batches a 'batch' listener threw on. */
  private readonly listenerLost = new BatchLoss();
  private closing: Promise<void> | undefined;
  private finalStats: CollectorStats | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private iterated = false;
  /** Routing (route()): the listener that takes the routed records' process events, or null; undefined: not routing. */
  private router: ((b: EventBatch) => void) | null | undefined;
  readonly matchAll: boolean;

  private constructor(options: CollectorOptions) {
    super();
    // Listeners come and go: while routing, the records go to JavaScript only if someone besides the router wants them.
    this.on('newListener', (event: string | symbol, listener: unknown) => {
      // Emitted before the listener is added: it counts from now.
      if (event === 'batch' && this.router !== undefined && listener !== this.router) this.native?.routeTee(true);
    });
    this.on('removeListener', (event: string | symbol) => {
      if (event === 'batch') this.updateTee();
    });
    const o = { ...DEFAULTS, ...options };
    const ringBytes = checkInt('ringBytes', o.ringBytes, 4096, 1 << 30);
    if ((ringBytes & (ringBytes - 1)) !== 0) throw new RangeError(`ringBytes must be a power of two, got ${ringBytes}`);
    const pollMs = checkInt('pollMs', o.pollMs, 1, 1000);
    const deliverMs = checkInt('deliverMs', o.deliverMs, 0, 1000);
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
    const consumerNice = o.consumerNice === undefined ? undefined : checkInt('consumerNice', o.consumerNice, -20, 19);
    const cpusPerRing = o.cpusPerRing === undefined ? 0 : checkInt('cpusPerRing', o.cpusPerRing, 0, 65536);

    preflight(attach);
    const addon = loadAddon();
    try {
      this.native = new addon.NativeCollector(
        {
          ringBytes,
          pollMs,
          deliverMs,
          maxBatchEvents,
          maxQueuedBatches,
          matchAll: this.matchAll,
          // The kernel knows syswarden by its host pid, which is not process.pid in a pid namespace of its own.
          selfTgid: pidView().selfHostPid,
          attach,
          fairShare: o.fairShare !== false,
          ...(consumerNice !== undefined ? { consumerNice } : {}),
          cpusPerRing,
        },
        (buffer, drainedNs, proc) => this.onBatch(buffer, drainedNs, proc),
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

  /** Stop recording a target, given by its spec, its id or its TargetInfo. Returns whether it was watched. */
  removeTarget(target: string | number | TargetInfo): boolean {
    const info =
      typeof target === 'number'
        ? this.byId.get(target)
        : typeof target === 'string'
          ? [...this.byId.values()].find((t) => t.spec === target)
          : this.byId.get(target.id);
    if (!info) return false;
    this.byId.delete(info.id);
    const native = this.live();
    // Narrow the level mask before deleting, so no lookup sees a half state.
    native.setTargetLevels(this.levelMask());
    native.deleteTarget(info.cgroup.id);
    native.unfollowTarget(info.id);
    this.retire(info);
    this.freedSlots.push(info.slot);
    this.emit('target-removed', info);
    return true;
  }

  /** The targets being watched. */
  targets(): TargetInfo[] {
    return [...this.byId.values()];
  }

  /**
   * The target with this id (EventBatch.targetId): a live one, or one removed
   * not long ago (the last MAX_TARGETS), so that events and alerts still in
   * flight name the target that made them. Undefined for SLOT_ALL.
   */
  target(id: number): TargetInfo | undefined {
    return this.byId.get(id) ?? this.retired.get(id)?.info;
  }

  stats(): CollectorStats {
    if (this.finalStats) return this.finalStats;
    return this.statsFrom(this.nativeStats(this.live()), this.live().attachMode());
  }

  /** Stop draining the ring (events pile up in the kernel, then drop, counted). For tests and back-pressure experiments. */
  pause(): void {
    this.live().pause();
  }

  resume(): void {
    this.live().resume();
  }

  /**
   * Say that whoever scores this collector's batches is behind (true) or
   * has caught up (false). While it is behind, the fair share sheds the
   * containers taking more than their share in the kernel (as when the
   * ring runs full), and none comes back until it has caught up. A closed
   * collector ignores it. Pipeline.attach() calls it.
   */
  setScoringBehind(behind: boolean): void {
    if (typeof behind !== 'boolean') throw new TypeError(`setScoringBehind takes true or false, got ${String(behind)}`);
    this.native?.setScoringBehind(behind);
  }

  /**
   * Native demultiplexing (Pipeline.attach uses it): from now on the ring
   * consumer writes each record into the ring of the worker that owns its
   * thread (src/pipeline/route-ring.ts), and 'batch' listeners get batches
   * of process events alone (count 0). `profiles`: the executables of a
   * model with per-executable profiles (exec and fork markers then go to
   * every worker), or null. unroute() goes back.
   */
  route(rings: readonly SharedArrayBuffer[], profiles: readonly string[] | null, listener?: (b: EventBatch) => void): void {
    if (!this.native) return;
    this.native.route(rings.map((r) => new Uint8Array(r)), profiles);
    this.router = listener ?? null;
    this.updateTee();
  }

  unroute(): void {
    this.router = undefined;
    this.native?.unroute();
  }

  /**
   * While routing (route()): put a model marker (src/pipeline/route-ring.ts
   * MARK_MODEL) into every worker's ring after every record routed so far.
   * Pipeline.assignModel uses it to change a target's model at a point of
   * its records. False when not routing.
   */
  routeModel(target: number, model: number, op: number): boolean {
    return this.router !== undefined && this.native !== undefined && this.native.routeModel(target, model, op);
  }

  /** Records routed to workers' rings and those a full ring dropped (cheap, unlike stats(); after close, as stats() last saw them). */
  routedCounts(): { events: number; dropped: number } {
    if (!this.native) return { events: this.finalStats?.routed?.events ?? 0, dropped: this.finalStats?.routed?.dropped ?? 0 };
    const [events, dropped] = this.native.routedCounts();
    return { events, dropped };
  }

  /** Batches the consumer thread queued for this thread that it has not taken yet (cheap, unlike stats()). */
  queuedBatches(): number {
    return this.native?.queuedBatches() ?? 0;
  }

  /**
   * While routing, whether anything besides the router (`listener` given to
   * route()) takes records: another 'batch' listener or an iterator. It
   * then gets every batch whole, as without routing (a recording of a
   * watched container keeps every record).
   */
  private updateTee(): void {
    if (this.router === undefined || !this.native) return;
    const others = this.rawListeners('batch').some((l) => l !== this.router);
    this.native.routeTee(others || this.iterated);
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
      while (this.nativeStats(native).inFlight > 0) await new Promise((r) => setImmediate(r));
      this.finalStats = this.statsFrom(this.nativeStats(native), attach);
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
    this.updateTee();
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
    for (const existing of this.byId.values()) {
      if (existing.cgroup.id === t.cgroup.id) {
        throw new SyswardenError('ERR_INVALID_TARGET', `${t.spec} is already watched as ${existing.spec} (cgroup ${t.cgroup.path}).`);
      }
    }
    if (t.cgroup.level > SW_MAX_CGROUP_LEVEL) {
      throw new SyswardenError('ERR_INVALID_TARGET', `cgroup ${t.cgroup.path} is nested ${t.cgroup.level} levels deep; the filter follows at most ${SW_MAX_CGROUP_LEVEL}.`);
    }
    const levels = new Set(this.targetLevels());
    if (!levels.has(t.cgroup.level) && levels.size >= MAX_TARGET_LEVELS) {
      throw new SyswardenError(
        'ERR_INVALID_TARGET',
        `targets already sit at ${MAX_TARGET_LEVELS} different cgroup depths (${[...levels].sort().join(', ')}); ${t.cgroup.path} is at depth ${t.cgroup.level}. Watch a common parent cgroup instead.`,
      );
    }
    if (this.byId.size + this.reservedIds.size >= MAX_TARGETS) {
      throw new SyswardenError('ERR_INVALID_TARGET', `at most ${MAX_TARGETS} targets can be watched at once.`);
    }
    const native = this.live();
    const { slot, id, release } = this.takeId(native);
    const info: TargetInfo = { ...t, id, slot };
    try {
      // Map entry first, then widen the level mask: a lookup never finds a level with no entry yet.
      native.setTarget(t.cgroup.id, id);
    } catch (err) {
      release();
      throw err;
    }
    this.register(info, native);
    // The kernel follows the processes that start in or join the target from
    // now on; the ones already there are named here, so that one of them
    // leaving the target is seen too.
    // cgroup.procs lists pids as syswarden's namespace numbers them; the kernel follows host pids.
    native.followProcesses(id, pidView().hostPids(processesIn(t.cgroup.dir)));
    return info;
  }

  /** A slot and the id of its next generation, for a new target; release() gives them back if the target cannot be set. */
  private takeId(native: NativeCollector): { slot: number; id: number; release: () => void } {
    const slot = this.freshSlots < MAX_TARGETS ? this.freshSlots++ : this.freedSlots.shift()!;
    const previous = this.slotOwner[slot]!;
    const undo = previous >= 0 ? this.handOver(slot, previous, native) : () => {};
    const id = nextTargetId(slot, previous >= 0 ? previous : undefined);
    // The id is taken from here: a later takeId() of this slot gives the next generation.
    this.slotOwner[slot] = id;
    return {
      slot,
      id,
      release: () => {
        undo();
        this.slotOwner[slot] = previous;
        if (previous < 0) this.freshSlots--;
        else this.freedSlots.unshift(slot);
      },
    };
  }

  /** `info` is watched from now on (its map entry is set). */
  private register(info: TargetInfo, native: NativeCollector): void {
    // A stale entry for this id (its target removed 8 generations ago) must not name the new one.
    this.retired.delete(info.id);
    this.slotOwner[info.slot] = info.id;
    this.byId.set(info.id, info);
    this.targetsVersion++;
    native.setTargetLevels(this.levelMask());
  }

  /**
   * Adopt every child cgroup made under `parent` (a cgroup v2 path: a
   * container runtime's parent, such as /docker or a pod's slice) from now
   * on: the kernel makes each one a target the moment it is created, before
   * any process can join it, so a container is watched from its first exec.
   * Each is announced by a 'target-adopted' event (TargetInfo) once this
   * thread hears of it. `accept(name)` decides from the new directory's name
   * whether to keep it (for parents shared with other services: a system
   * slice); one it refuses is let go at once, its few events counted as
   * that short-lived target's. Existing children are not touched: add them
   * with addTarget().
   */
  adoptChildren(parent: string, accept: (name: string) => boolean = () => true): CgroupRef {
    if (this.matchAll) throw new SyswardenError('ERR_INVALID_TARGET', 'this collector records every process (all: true); it adopts no targets.');
    if (typeof accept !== 'function') throw new TypeError('accept must be a function of a cgroup directory name');
    const ref = cgroupRef(parent);
    if (ref.level + 1 > SW_MAX_CGROUP_LEVEL) {
      throw new SyswardenError('ERR_INVALID_TARGET', `cgroup ${ref.path} is nested ${ref.level} levels deep; its children would be deeper than the filter follows (${SW_MAX_CGROUP_LEVEL}).`);
    }
    const native = this.live();
    if (native.attachMode() !== 'tp_btf') {
      throw new SyswardenError('ERR_UNSUPPORTED', 'adopting new cgroups needs the BTF tracepoints (tp_btf), which this kernel did not give; name the targets instead.');
    }
    const levels = new Set(this.targetLevels());
    if (!levels.has(ref.level + 1) && levels.size >= MAX_TARGET_LEVELS) {
      throw new SyswardenError('ERR_INVALID_TARGET', `targets already sit at ${MAX_TARGET_LEVELS} different cgroup depths; children of ${ref.path} would add depth ${ref.level + 1}.`);
    }
    if (!this.adoptParents.has(ref.id) && this.adoptParents.size >= MAX_ADOPT_PARENTS) {
      throw new SyswardenError('ERR_INVALID_TARGET', `at most ${MAX_ADOPT_PARENTS} parent cgroups can be adopted from at once.`);
    }
    this.adoptParents.set(ref.id, { ref, accept });
    // The children's depth is looked up before the kernel can give any of them an entry.
    native.setTargetLevels(this.levelMask());
    this.refillAdoptIds(native);
    native.adoptUnder(ref.id, true);
    return ref;
  }

  /** Adopt no more children of `parent` (those adopted stay watched). Returns whether it was adopted from. */
  stopAdopting(parent: string): boolean {
    const native = this.live();
    const found = [...this.adoptParents.values()].find((p) => p.ref.path === parent || p.ref.dir === parent);
    if (!found) return false;
    native.adoptUnder(found.ref.id, false);
    this.adoptParents.delete(found.ref.id);
    native.setTargetLevels(this.levelMask());
    return true;
  }

  /**
   * Name a watched target's container with what its runtime told of it after
   * the target was added (an adopted cgroup is known by its id alone at
   * first): alerts name it so from now on. Returns the new TargetInfo.
   */
  describeTarget(id: number, container: ContainerIdentity): TargetInfo | undefined {
    const t = this.byId.get(id);
    if (!t) return undefined;
    const info: TargetInfo = { ...t, kind: 'container', container: { ...t.container, ...container } };
    this.byId.set(id, info);
    this.targetsVersion++;
    return info;
  }

  /** What adoption did so far. */
  adoptionStats(): AdoptionStats {
    return { parents: this.adoptParents.size, reserved: this.reservedIds.size, ...this.adoptCounts };
  }

  /** Keep ADOPT_RESERVE ids in the kernel's queue while any parent is adopted from. */
  private refillAdoptIds(native: NativeCollector): void {
    while (this.reservedIds.size < ADOPT_RESERVE && this.byId.size + this.reservedIds.size < MAX_TARGETS) {
      const { slot, id, release } = this.takeId(native);
      if (native.reserveAdoptIds([id]) !== 1) {
        release();
        return;
      }
      this.reservedIds.set(id, slot);
    }
  }

  /** The kernel made a child of an adopted parent (bpf/event.h SW_REC_ADOPT). */
  private onAdopted(e: AdoptEvent): void {
    const native = this.native;
    if (!native) return;
    const slot = this.reservedIds.get(e.targetId);
    if (slot !== undefined) this.reservedIds.delete(e.targetId);
    const name = e.path.slice(e.path.lastIndexOf('/') + 1);
    const parentPath = e.path.slice(0, e.path.lastIndexOf('/')) || '/';
    const parent = [...this.adoptParents.values()].find((p) => p.ref.path === parentPath);
    let ref: CgroupRef | undefined;
    try {
      ref = cgroupRef(e.path);
    } catch {
      ref = undefined;
    }
    const keep = parent !== undefined && ref !== undefined && ref.id === e.cgroupId && parent.accept(name);
    if (slot === undefined) {
      // No id was left (or the map was full): watched from now, not from its creation.
      if (keep) {
        try {
          const info = this.watch({ spec: `cgroup:${ref!.path}`, cgroup: ref!, ...containerOf(name) });
          this.adoptCounts.late++;
          this.emit('target-adopted', info, { late: true });
        } catch (err) {
          this.adoptCounts.refused++;
          this.emit('adopt-error', err, e.path);
        }
      }
      this.refillAdoptIds(native);
      return;
    }
    const info: TargetInfo = {
      spec: `cgroup:${e.path}`,
      cgroup: ref ?? { path: e.path, dir: join(cgroup2Mount(), e.path), id: e.cgroupId, level: e.path.split('/').length - 1 },
      ...containerOf(name),
      id: e.targetId,
      slot,
    };
    // Registered even when it is let go at once: its events are in flight and name it.
    native.setTarget(e.cgroupId, e.targetId);
    this.register(info, native);
    if (!keep) {
      this.removeTarget(info.id);
      if (ref === undefined) this.adoptCounts.gone++;
      else this.adoptCounts.refused++;
    } else {
      this.adoptCounts.adopted++;
      this.emit('target-adopted', info, { late: false });
    }
    this.refillAdoptIds(native);
  }

  /**
   * `slot` goes from the target `previous` (removed) to a new one: the old
   * target's counts become final, and the new one's start at zero from here.
   * Returns how to take that back if the new target cannot be set.
   */
  private handOver(slot: number, previous: number, native: NativeCollector): () => void {
    this.nativeStats(native);
    const now = this.slotCounts(slot);
    const before = this.baseline.get(slot);
    const retired = this.retired.get(previous);
    if (retired) retired.final = minus(now, before ?? ZERO);
    this.baseline.set(slot, now);
    this.targetsVersion++;
    return () => {
      this.targetsVersion++;
      if (retired) delete retired.final;
      if (before) this.baseline.set(slot, before);
      else this.baseline.delete(slot);
    };
  }

  /** The addon's counters, with the slot rows that changed taken into rowCounts: every reading goes through here. */
  private nativeStats(native: NativeCollector): NativeStats {
    const s = native.stats();
    const ch = s.slotChanges;
    for (let i = 0; i + SLOT_CHANGE_FIELDS <= ch.length; i += SLOT_CHANGE_FIELDS) {
      const row = ch[i] === SLOT_ALL ? MAX_TARGETS : ch[i]!;
      if (!(row >= 0 && row <= MAX_TARGETS)) continue;
      this.rowCounts[row * 3] = ch[i + 2]!;
      this.rowCounts[row * 3 + 1] = ch[i + 3]!;
      this.rowCounts[row * 3 + 2] = ch[i + 4]!;
      this.rowCache[row] = undefined;
      if (this.rowSeen[row] === 0) {
        this.rowSeen[row] = 1;
        this.rowsSeen.push(row);
      }
    }
    return s;
  }

  private slotCounts(slot: number): SlotCounts {
    const r = slot === SLOT_ALL ? MAX_TARGETS : slot;
    return { emitted: this.rowCounts[r * 3]!, dropped: this.rowCounts[r * 3 + 1]!, userDropped: this.rowCounts[r * 3 + 2]! };
  }

  private retire(info: TargetInfo): void {
    this.targetsVersion++;
    this.retired.set(info.id, { info });
    if (this.retired.size > RETIRED_KEPT) this.retired.delete(this.retired.keys().next().value!);
  }

  private levelMask(): number {
    let mask = 0;
    for (const l of this.targetLevels()) mask |= 1 << l;
    return mask >>> 0;
  }

  /** The cgroup depths the kernel looks up: the targets', and the depth of adopted parents' children. */
  private targetLevels(): number[] {
    const levels = new Set<number>();
    for (const t of this.byId.values()) levels.add(t.cgroup.level);
    for (const p of this.adoptParents.values()) levels.add(p.ref.level + 1);
    return [...levels];
  }

  private checkTargets(): void {
    if (!this.native) return;
    for (const t of [...this.byId.values()]) {
      if (!existsSync(t.cgroup.dir)) {
        this.removeTarget(t.id);
        this.emit('target-gone', t);
      }
    }
  }

  private onBatch(buffer: ArrayBuffer, drainedNs: bigint, procBuffer: ArrayBuffer | undefined): void {
    let proc: ProcBatch | undefined;
    if (procBuffer) {
      const decoded = decodeProcEvents(procBuffer);
      proc = { events: decoded.events, bytes: procBuffer };
      this.procUnknown += decoded.unknown;
      // Before the batch goes anywhere: its records of an adopted cgroup then name a known target.
      for (const a of decoded.adopted) this.onAdopted(a);
    }
    const batch = new EventBatch(buffer, drainedNs, proc);
    const listeners = this.rawListeners('batch');
    // Each listener on its own: one that throws loses the batch for itself
    // (counted, reported), not for the others, and nothing reaches N-API,
    // which would only print a warning and drop the batch uncounted.
    let lost = false;
    for (const listener of listeners) {
      try {
        (listener as (b: EventBatch) => void).call(this, batch);
      } catch (err) {
        if (!lost) {
          lost = true;
          this.listenerLost.add(batch);
        }
        this.reportListenerError(err, batch);
      }
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter({ value: batch, done: false });
      return;
    }
    // Listener-only users never iterate: queueing for nobody would only count false drops.
    if (!this.iterated && listeners.length > 0) return;
    if (this.pending.length >= this.maxPending) {
      // Counted once: a batch a listener failed on is already counted as lost.
      if (!lost) {
        this.jsDropped.add(batch);
      }
      return;
    }
    this.pending.push(batch);
  }

  /** One target's row of stats(), or undefined when it counted nothing. */
  private targetRow(id: number, slot: number, emitted: number, dropped: number, nativeUserDropped: number, info: TargetInfo | undefined, removed: boolean): TargetStats | undefined {
    const listenerLost = this.listenerLost.of(id);
    const userDropped = nativeUserDropped + this.jsDropped.of(id) + listenerLost;
    if (emitted + dropped === 0 && userDropped === 0) return undefined;
    const row: TargetStats = { id, slot, matched: emitted + dropped, emitted, kernelDropped: dropped, userDropped, listenerLost };
    if (info) row.spec = info.spec;
    if (removed) row.removed = true;
    return Object.freeze(row);
  }

  /** The rows of removed targets whose slot went to another. */
  private retiredRows(): readonly TargetStats[] {
    const rows: TargetStats[] = [];
    for (const r of this.retired.values()) {
      if (!r.final) continue;
      const row = this.targetRow(r.info.id, r.info.slot, r.final.emitted, r.final.dropped, r.final.userDropped, r.info, true);
      if (row) rows.push(row);
    }
    return rows;
  }

  /** The row of stats() for counter row `row`: its current owner's counts (or all-processes mode's), if any. */
  private slotRow(row: number): TargetStats | undefined {
    const counts = this.rowCounts;
    let emitted = counts[row * 3]!;
    let dropped = counts[row * 3 + 1]!;
    let userDropped = counts[row * 3 + 2]!;
    if (row === MAX_TARGETS) return this.targetRow(SLOT_ALL, SLOT_ALL, emitted, dropped, userDropped, undefined, false);
    const id = this.slotOwner[row] ?? -1;
    if (id < 0) return undefined; // a slot never given: nothing can have counted there
    const base = this.baseline.get(row);
    if (base) {
      emitted -= base.emitted;
      dropped -= base.dropped;
      userDropped -= base.userDropped;
    }
    const live = this.byId.get(id);
    return this.targetRow(id, row, emitted, dropped, userDropped, live ?? this.retired.get(id)?.info, live === undefined);
  }

  private reportListenerError(err: unknown, batch: EventBatch): void {
    if (this.listenerCount('listener-error') === 0) return;
    try {
      this.emit('listener-error', err, batch);
    } catch {
      // The report's own listener failed: the loss is counted already.
    }
  }

  private statsFrom(s: NativeStats, attach: 'tp_btf' | 'tracepoint'): CollectorStats {
    const key = `${this.targetsVersion}:${this.jsDropped.batches}:${this.jsDropped.events}:${this.listenerLost.batches}:${this.listenerLost.events}`;
    if (key !== this.cacheKey) {
      this.cacheKey = key;
      this.rowCache.fill(undefined);
      this.retiredCache = undefined;
    }
    // Removed targets whose slot went to another: their final counts.
    const rows: TargetStats[] = (this.retiredCache ??= this.retiredRows()).slice();
    // Every slot's counts since its current owner took it.
    for (const row of this.rowsSeen) {
      let r = this.rowCache[row];
      if (r === undefined) r = this.rowCache[row] = this.slotRow(row) ?? null;
      if (r) rows.push(r);
    }
    const listenerErrors = { batches: this.listenerLost.batches, events: this.listenerLost.events };
    const js = this.jsDropped;
    return {
      attach,
      drains: Number(s.drains),
      kernel: { matched: Number(s.matched), emitted: Number(s.emitted), dropped: Number(s.dropped) },
      user: {
        batches: Number(s.batchesDelivered) - js.batches - listenerErrors.batches,
        events: Number(s.eventsDelivered) - js.events - listenerErrors.events,
        droppedBatches: Number(s.userDroppedBatches) + js.batches + listenerErrors.batches,
        droppedEvents: Number(s.userDroppedEvents) + js.events + listenerErrors.events,
        listenerErrors,
      },
      fairShare: { episodes: s.shedEpisodes, shedNow: s.shedNow },
      perSlot: rows,
      proc: {
        available: s.proc.available,
        emitted: s.proc.emitted,
        kernelDropped: s.proc.kernelDropped,
        delivered: s.proc.delivered - js.proc - this.listenerLost.proc,
        userDropped: s.proc.userDropped + js.proc + this.listenerLost.proc,
        unknown: this.procUnknown,
        unfollowed: s.proc.unfollowed,
      },
      uring: s.uring,
      rings: { cpusPerRing: s.cpusPerRing, full: s.ringFull },
      routed: { ...s.routed },
    };
  }
}

function minus(a: SlotCounts, b: SlotCounts): SlotCounts {
  return { emitted: a.emitted - b.emitted, dropped: a.dropped - b.dropped, userDropped: a.userDropped - b.userDropped };
}

/** Batches lost in JavaScript for one reason: in all, and events per target id. */
class BatchLoss {
  batches = 0;
  events = 0;
  /** Process events that came with the lost batches. */
  proc = 0;
  private readonly byId = new Map<number, number>();

  /** Count a lost batch (per id in one pass: records of one target come in runs). */
  add(batch: EventBatch): void {
    // Batches of syscall records, as the addon counts them: one of process events only counts in `proc` alone.
    if (batch.count > 0) this.batches++;
    this.events += batch.count;
    this.proc += batch.proc.length;
    let id = -1;
    let run = 0;
    for (let i = 0; i < batch.count; i++) {
      const t = batch.targetId(i);
      if (t !== id && run > 0) {
        this.byId.set(id, (this.byId.get(id) ?? 0) + run);
        run = 0;
      }
      id = t;
      run++;
    }
    if (run > 0) this.byId.set(id, (this.byId.get(id) ?? 0) + run);
  }

  /** Events of target `id` lost this way. */
  of(id: number): number {
    return this.byId.size === 0 ? 0 : (this.byId.get(id) ?? 0);
  }
}

/** Processes bounded per target when its cgroups are read at watch time (the kernel's map holds SW_MAX_FOLLOWED in all). */
const SEED_PROCESSES = 1 << 16;

/**
 * The processes in a cgroup and the cgroups below it (cgroup.procs), as far
 * as they can be read: a cgroup removed meanwhile has none.
 */
function processesIn(dir: string): number[] {
  const pids: number[] = [];
  const stack = [dir];
  while (stack.length > 0 && pids.length < SEED_PROCESSES) {
    const d = stack.pop()!;
    try {
      for (const line of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.push(Number(line));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) stack.push(join(d, e.name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
