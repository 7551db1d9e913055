import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { targetContainer, type Alert, type AlertContainer, type AlertRecord, type AlertsLostRecord, type EscapeRecord, type NewExecutableRecord } from '../alert/alert.js';
import type { ExecEvent, MoveEvent, ProcEvent } from '../capture/proc-event.js';
import type { Collector, TargetInfo } from '../capture/collector.js';
import { ProgramStarts } from '../capture/runtime.js';
import { EventBatch, SLOT_U16, TID_U32, U16_PER_RECORD, U32_PER_RECORD } from '../capture/record.js';
import { modelFromBytes, readModelBytes, readModelBytesSync } from '../detect/model-file.js';
import type { Calibration } from '../detect/calibration.js';
import { SyswardenError } from '../errors.js';
import { ProcessTable } from '../process/table.js';
import { checkRouteUnits, createRouteRing, DEFAULT_ROUTE_UNITS, MARK_EXEC, MARK_EXIT, MARK_FORK, MODEL_ASSIGN, MODEL_RELEASE, ROUTE_READ, routeBacklog, routeHeader } from './route-ring.js';
import { NO_MODEL, ownerOf, PROGRESS_BYTES, PROGRESS_RING_READ, PROGRESS_UNJUDGED, PROGRESS_UNSCORED, progressViews, seqReached, type FromWorker, type ToWorker, type WorkerAlert, type WorkerInit } from './protocol.js';
import { ModelTable, type ModelEntry } from './model-table.js';

export { MAX_MODELS } from './model-table.js';

/**
 * A model checked on the calling thread: decoded, its detector restored
 * (name, version and state), its threshold one that some window can reach.
 * Every worker restores the same bytes, so a model that passes here cannot
 * fail there; checking first means a bad model is a clear error before any
 * worker, capture or output exists, not a worker that dies at start.
 */
/** Drift records remembered per (container, executable), so each is reported once; the oldest are forgotten past this. */
const MAX_DRIFT_KEYS = 1 << 16;

export class PipelineModel {
  readonly detector: string;
  readonly windowSize: number;
  readonly threshold: number;
  readonly calibration: Calibration;
  /** Executables the model learnt as normal (undefined: it knows none, and there are no drift records). */
  readonly executables: ReadonlySet<string> | undefined;
  /** Per-executable models: each profiled executable's index (empty: one profile, the model's own). */
  readonly profileOf: ReadonlyMap<string, number>;
  /** Trained per executable (even if no executable earned a profile): an exec starts a thread's windows afresh, as in training. */
  readonly perExe: boolean;
  /** What the fitted detector is made of, when it says (hybrid: its parts), for watch to print. */
  readonly summary: string | undefined;

  constructor(
    readonly bytes: Uint8Array,
    /** How alerts and messages name the model. */
    readonly name: string,
  ) {
    const { file, detector } = modelFromBytes(bytes, name);
    this.detector = file.detector;
    this.summary = detector.summary?.();
    this.windowSize = file.windowSize;
    this.threshold = file.threshold;
    this.calibration = file.calibration;
    this.executables = file.executables ? new Set(file.executables) : undefined;
    this.profileOf = new Map((file.profiles ?? []).map((p, i) => [p.exe, i]));
    this.perExe = file.profiles !== undefined;
  }

  /** Read and check a model file (named by its path unless `name` is given). */
  static async read(path: string, name = path): Promise<PipelineModel> {
    return new PipelineModel(await readModelBytes(path), name);
  }

  /** read() on the calling thread: the same checks and errors. */
  static readSync(path: string, name = path): PipelineModel {
    return new PipelineModel(readModelBytesSync(path), name);
  }

  private hash: string | undefined;
  /** A digest of the model's bytes: a pipeline loads models with equal bytes once. */
  get contentHash(): string {
    this.hash ??= createHash('sha256').update(this.bytes).digest('hex');
    return this.hash;
  }
}

/**
 * Workers the pipeline starts when not told: one per core available, at most
 * 16. Every worker is a JavaScript isolate with its own copy of the model's
 * tables and, today, it scans every batch for its own threads (issue: native
 * demultiplexing), so past a few workers each one adds memory and scanning
 * for little scoring: a host with hundreds of CPUs gets 16, not an error.
 */
export const MAX_DEFAULT_WORKERS = 16;
export function defaultWorkers(cores: number = availableParallelism()): number {
  return Math.max(1, Math.min(MAX_DEFAULT_WORKERS, Math.floor(cores) || 1));
}

/** The scoring workers' nice value syswarden's own commands ask for (see PipelineOptions.workerNice). */
export const AGENT_WORKER_NICE = -5;

export interface PipelineOptions {
  /**
   * The default model, which scores every target that has no model of its
   * own (assignModel): a model file path, its bytes, or a model already
   * checked with PipelineModel. Without one, only the targets given a model
   * are scored; the events of the others are counted (stats().unscoredEvents).
   */
  model?: string | Uint8Array | PipelineModel;
  /** A name for the model in alerts (default: the path, or 'model'). */
  modelName?: string;
  /** Scoring workers (1..256); default: defaultWorkers() of the cores available. */
  workers?: number;
  /**
   * Batches a worker may have queued before new ones are dropped for it
   * (counted). Default 256. From half of it on, containers taking more than
   * their share of a batch are shed first (counted too).
   */
  maxInFlight?: number;
  /**
   * Events a worker may have queued (in all its batches) before new batches
   * are dropped for it, the same way. Default 1 Mi (16 MiB of records).
   * The two bounds together let a worker that the scheduler left out for a
   * while (a busy host) catch up on many small batches, while a flood of
   * large ones is still held to a fixed amount of memory.
   */
  maxQueuedEvents?: number;
  /**
   * Nice value for the scoring threads. Default: not set, they keep the
   * priority they inherit (a library changes no priority unless told). An
   * agent that is the whole process may raise them (syswarden's commands
   * pass AGENT_WORKER_NICE) so that a watched container saturating the
   * CPUs cannot starve its own detection. Raising needs root or
   * CAP_SYS_NICE; without it the value is quietly left as it was.
   */
  workerNice?: number;
  /** An incident ends after this many non-alarming windows of its thread. Default 200. */
  quietWindows?: number;
  /** A thread with no call for this long is forgotten (ms, kernel clock). Default 60000. */
  idleMs?: number;
  /**
   * Records each worker's ring holds when attached to a collector (a power
   * of two, 64..2^26). Default 2^18 (4 MiB per worker). A worker that falls
   * this far behind loses what does not fit (counted per container); from
   * a quarter full its backlog makes the collector shed the flooding
   * containers in the kernel.
   */
  ringRecords?: number;
  /** Closes the pipeline when aborted. */
  signal?: AbortSignal;
}

export interface PipelineStats {
  /** Events the workers windowed, and windows they scored. */
  events: number;
  windows: number;
  /** Alarming windows, incidents opened. */
  alarms: number;
  incidents: number;
  /**
   * Events not scored because a worker was behind or died, in total and per
   * container slot. Live, the records no worker ring could take (full, with
   * the collector's room to wait used up) are
   * in the total; per container they are the collector's user-space losses
   * (its stats().perSlot, and 'degraded' records).
   */
  droppedEvents: number;
  droppedBySlot: Record<number, number>;
  /** Batches waiting in workers now (live: records waiting in their rings), and threads the workers hold windows for. */
  inFlight: number;
  threads: number;
  workers: number;
  workerRestarts: number;
  /** 'degraded' alerts raised (a container lost events). */
  degraded: number;
  /** 'escape' records raised (a watched process moved out of its container's cgroup). */
  escapes: number;
  /** 'new-executable' records raised (drift: an executable the model never saw exec'd). */
  drift: number;
  /**
   * Alerts the async iterator could not queue: its reader was more than
   * MAX_QUEUED_ALERTS behind. Reported in the iterated stream too, as an
   * 'alerts-lost' record where they are missing. ('alert' listeners miss nothing.)
   */
  alertsDropped: number;
  /** Syscall-to-alert latency of alerts so far (live capture only), ms. */
  latency: { count: number; p50: number; p99: number; max: number };
  /** Distinct models loaded now (the default one included; identical bytes are one model). */
  models: number;
  /** Targets with a model of their own (assignModel). */
  assignedTargets: number;
  /** Events of targets that had no model (none of their own and no default): not scored, no alert. */
  unscoredEvents: number;
  /**
   * Threads that ended having made fewer calls than their model's window
   * size plus its frame's trim (twice the window, by default): none of their
   * windows could alarm, whatever they did (a server that starts a thread or
   * a process per request; see docs/detection.md).
   */
  unjudgedThreads: number;
}

/**
 * The pipeline's running counts as they stand, read without the copies and
 * the sort stats() makes (cheap: a metrics scrape reads them). Unlike
 * stats().droppedEvents, `droppedEvents` here is the pipeline's own losses
 * alone: the records a full worker ring could not take are the collector's
 * (its stats().user.droppedEvents and per container userDropped).
 */
export interface PipelineCounts {
  events: number;
  windows: number;
  alarms: number;
  incidents: number;
  droppedEvents: number;
  /** Live: the pipeline's own losses by target id. Read-only, it is the pipeline's own record. */
  droppedBySlot: Readonly<Record<number, number>>;
  /** The part of droppedEvents shed for fair share (containers over their share while a worker was behind). */
  shedEvents: number;
  workers: number;
  workerRestarts: number;
  degraded: number;
  escapes: number;
  drift: number;
  alertsDropped: number;
  /** See PipelineStats.unjudgedThreads. */
  unjudgedThreads: number;
}

interface Slot {
  worker: Worker;
  index: number;
  generation: number;
  /** Batches sent and not yet seen finished: seq -> event count, in the order sent. */
  inFlight: Map<number, number>;
  /** The sum of inFlight's event counts. */
  queuedEvents: number;
  /** The worker's progress (protocol.ts: WorkerProgress). */
  progress: { seq: Int32Array; totals: Float64Array };
  /** Sync requests sent and not answered: seq -> what to call when answered (or when the worker ends). */
  syncs: Map<number, () => void>;
  ready: Promise<void>;
  started: boolean;
  /** The thread has ended: nothing sent to it will be acknowledged. */
  exited: boolean;
  /** Model ids the worker has loaded (its initial table, then each 'model-loaded'). */
  loaded: Set<number>;
}

/** A change of the workers' table, sent in data order once every worker has loaded the model it names. */
type ModelOp = { op: typeof MODEL_ASSIGN; target: number; model: number } | { op: typeof MODEL_RELEASE; model: number };

interface Pending {
  remaining: number;
  live: boolean;
  shared: SharedArrayBuffer;
}

/**
 * Reuses the shared buffers batches travel in: a buffer goes back to the
 * pool when every worker has acknowledged its batch, so a steady stream
 * allocates nothing and memory stays flat. Buffers are kept by power-of-two
 * size class, a few per class.
 */
class SharedPool {
  private readonly free = new Map<number, SharedArrayBuffer[]>();
  /** Keep at most `perClass` free buffers of a class, and at most `classBytes` of each class. */
  constructor(
    private readonly perClass: number,
    private readonly classBytes = 32 << 20,
  ) {}

  take(bytes: number): SharedArrayBuffer {
    const cls = Math.max(4096, 2 ** Math.ceil(Math.log2(Math.max(1, bytes))));
    return this.free.get(cls)?.pop() ?? new SharedArrayBuffer(cls);
  }

  give(buf: SharedArrayBuffer): void {
    let list = this.free.get(buf.byteLength);
    if (!list) this.free.set(buf.byteLength, (list = []));
    if (list.length < this.perClass && (list.length + 1) * buf.byteLength <= Math.max(this.classBytes, buf.byteLength)) list.push(buf);
  }
}

// Under a TypeScript test runner this module runs from src/, where there is
// no worker.js to start a thread from: use the build's.
const WORKER_URL = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/pipeline/worker.js', import.meta.url)
  : new URL('./worker.js', import.meta.url);

/**
 * Light containers' batches, once the heavy ones are shed, may be this many
 * times maxInFlight batches behind (their events stay within twice the event
 * bound): a worker busy with a flood's big batches sees many small ones queue.
 */
const LIGHT_BATCH_RESERVE = 8;

/**
 * How often, while batches are in flight, the main thread looks at the
 * workers' progress when no new batch makes it look (ms): it frees their
 * shared buffers and ends the backlog signal after a flood.
 */
const REAP_MS = 10;

/** Records the async iterator holds for a reader that is behind; beyond that they are dropped and counted. */
export const MAX_QUEUED_ALERTS = 10_000;

function checkInt(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(`${name} must be a whole number from ${lo} to ${hi}, got ${String(v)}`);
  }
  return v;
}

/** A target id as records carry it (TargetInfo.id, a u16). */
function checkTargetId(id: unknown): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffff) {
    throw new RangeError(`a target id is a whole number from 0 to 65535 (TargetInfo.id), got ${String(id)}`);
  }
  return id;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/**
 * Scores batches of syscalls in worker threads and emits alerts. Feed it
 * with push() (recordings, traces) or attach() a Collector. Iterate it for
 * alert records (alerts, incident ends, 'degraded', 'target-gone'), or
 * listen to 'alert' for the same; 'worker-exit' reports a worker that died
 * (it is replaced at once). close() ends open incidents and stops the workers.
 */
export class Pipeline extends EventEmitter implements AsyncIterable<AlertRecord> {
  /** The default model's name ('' without a default model). */
  readonly modelName: string;
  /** Executables the default model learnt as normal; an exec of another is a 'new-executable' record (undefined: none). */
  readonly knownExecutables: ReadonlySet<string> | undefined;
  /** The default model and the targets' own ones (model-table.ts). */
  private readonly table: ModelTable;
  /** Table changes not yet sent to the workers (each waits until every worker has loaded its model), in order. */
  private readonly modelOps: ModelOp[] = [];
  private readonly opsWaiters: Array<() => void> = [];
  /** Routed: the listener the collector was given (route() is called again when the profiled executables grow). */
  private routeListener: ((b: EventBatch) => void) | undefined;
  /** Live, attached: each worker's ring, which the collector writes its records into (route-ring.ts). */
  private routeRings: SharedArrayBuffer[] | undefined;
  private readonly routeUnits: number;
  /** The attached collector that routes to the rings, until detached (its routed counts are the workers'). */
  private router: Collector | undefined;
  /** Container and executable pairs already reported as drift. */
  private readonly driftSeen = new Set<string>();
  /** Targets that have exec'd a program other than their runtime's own re-exec; a removed target leaves. */
  private readonly programStarts = new ProgramStarts();
  /** The default model's detector and window size ('' and 0 without a default model). */
  readonly detector: string;
  readonly windowSize: number;
  private readonly init: Omit<WorkerInit, 'index' | 'progress' | 'models' | 'defaultModel' | 'assigned'>;
  private readonly slots: Slot[] = [];
  private readonly maxInFlight: number;
  private readonly maxQueuedEvents: number;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly drainWaiters: Array<() => void> = [];
  private containers: (slot: number) => AlertContainer = (slot) => ({ slot });
  private readonly incidentNumbers = new Map<string, number>();
  private incidentCount = 0;
  private closed = false;
  /** The attached collector's backpressure switch (Collector.setScoringBehind), and its last setting. */
  private scoringBehind?: (behind: boolean) => void;
  private scoringBehindOn = false;
  private closing: Promise<void> | undefined;
  private readonly latencies: number[] = [];
  private readonly queue: AlertRecord[] = [];
  /** The watched containers' processes, from the kernel's process events (live batches). */
  readonly processes = new ProcessTable();
  private readonly waiters: Array<(r: IteratorResult<AlertRecord>) => void> = [];
  private iterated = false;
  /** Alerts the iterator dropped since its last 'alerts-lost' record. */
  private unreported = 0;
  private readonly counters = { droppedEvents: 0, workerRestarts: 0, degraded: 0, escapes: 0, drift: 0, alertsDropped: 0 };
  /** Totals of workers that ended (the live ones' are in their progress). */
  private readonly retired = { events: 0, windows: 0, alarms: 0, unscored: 0, unjudged: 0 };
  private syncSeq = 0;
  private reapTimer: NodeJS.Timeout | undefined;
  /** Routed alerts waiting for this thread to take the batches named by `until` (onAck). */
  private readonly held: Array<{ until: number; slot: Slot; alerts: WorkerAlert[] }> = [];
  /** Batches of process events taken from the routing collector. */
  private batchesTaken = 0;
  /** A detached collector's routed counts, as it last reported them. */
  private routedBefore = { events: 0, dropped: 0 };
  private readonly droppedBySlot: Record<number, number> = {};
  /** Events shed for fair share (shedHeavy), also in droppedEvents. */
  private shedEvents = 0;
  /** Scratch space for per-batch counts by container slot (a record's slot is a u16); all zero between uses. */
  private readonly slotTally = new Uint32Array(1 << 16);
  private readonly slotKeep = new Uint8Array(1 << 16);
  /** Events per container slot pushed under pressure lately (each push decays the old sums by 1/8). */
  private readonly recentBySlot = new Map<number, number>();
  private readonly pool: SharedPool;

  private constructor(model: PipelineModel | undefined, options: PipelineOptions) {
    super();
    this.table = new ModelTable(model);
    this.modelName = model?.name ?? '';
    this.detector = model?.detector ?? '';
    this.knownExecutables = model?.executables;
    this.windowSize = model?.windowSize ?? 0;
    const workers = checkInt('workers', options.workers ?? defaultWorkers(), 1, 256);
    this.maxInFlight = checkInt('maxInFlight', options.maxInFlight ?? 256, 1, 1 << 16);
    this.maxQueuedEvents = checkInt('maxQueuedEvents', options.maxQueuedEvents ?? 1 << 20, 1, 1 << 28);
    this.init = {
      workers,
      quietWindows: checkInt('quietWindows', options.quietWindows ?? 200, 1, 1 << 30),
      idleNs: checkInt('idleMs', options.idleMs ?? 60_000, 1, 86_400_000) * 1e6,
      nice: options.workerNice === undefined ? null : Math.round(Number(options.workerNice)),
    };
    if (this.init.nice !== null && !(this.init.nice >= -20 && this.init.nice <= 19)) throw new RangeError(`workerNice must be from -20 to 19, got ${String(options.workerNice)}`);
    this.pool = new SharedPool(workers * this.maxInFlight + 2);
    this.routeUnits = checkRouteUnits(options.ringRecords ?? DEFAULT_ROUTE_UNITS);
  }

  /**
   * Check the model here (see PipelineModel: a bad one is a clear error and
   * no worker is started), then start the workers and wait until each has
   * restored it.
   */
  static async create(options: PipelineOptions): Promise<Pipeline> {
    let model: PipelineModel | undefined;
    if (options.model === undefined) {
      model = undefined;
    } else if (options.model instanceof PipelineModel) {
      model = options.model;
    } else if (typeof options.model === 'string') {
      model = await PipelineModel.read(options.model, options.modelName ?? options.model);
    } else if (options.model instanceof Uint8Array) {
      model = new PipelineModel(options.model, options.modelName ?? 'model');
    } else {
      throw new TypeError('model must be a file path, the bytes of a model file, or a PipelineModel (or absent: no default model)');
    }
    const p = new Pipeline(model, options);
    for (let i = 0; i < p.init.workers; i++) p.slots.push(p.spawn(i, 0));
    try {
      await Promise.all(p.slots.map((s) => s.ready));
    } catch (err) {
      await p.close();
      throw err;
    }
    options.signal?.addEventListener('abort', () => void p.close(), { once: true });
    return p;
  }

  /** Tell a worker to read its ring (a replacement reads on where the one before it stopped). */
  private sendRing(s: Slot): void {
    const ring = this.routeRings?.[s.index];
    if (!ring || s.exited) return;
    const msg: ToWorker = { type: 'ring', ring };
    s.worker.postMessage(msg);
  }

  /** Stop the collector writing to the rings; what they still hold is scored by the next drain(). */
  private unroute(): void {
    const c = this.router;
    this.router = undefined;
    this.routeListener = undefined;
    if (!c) return;
    // Routed counts are read before the routing ends: the pipeline reports them as its own.
    this.routedBefore = c.routedCounts();
    if (!c.closed) c.unroute();
    this.releaseHeld(true);
  }

  /** How alerts name a container slot (attach() sets this from the collector). */
  setContainers(resolve: (slot: number) => AlertContainer): void {
    this.containers = resolve;
  }

  /**
   * Score the target's windows with `model` from now on (its detector,
   * window size, frame decision, per-executable profiles, and its known
   * executables for 'new-executable' records); null: the target goes back to
   * the default model, or without one, its events are counted as unscored.
   * Models with equal bytes are loaded once, shared by their targets (and
   * named, in alerts, by the first one's name); past MAX_MODELS distinct
   * models this throws ERR_TOO_MANY_MODELS and changes nothing. A model no
   * target uses any more is unloaded. An attached collector's removed
   * targets lose their assignment.
   *
   * Where it takes effect: each worker first loads the model, then the
   * change goes into the data path, after every record routed (or pushed)
   * so far, and the target's records after that point are scored by the new
   * model. Records before it keep the model they had (none: counted as
   * unscored), including records of a target the kernel adopted before this
   * call. A thread's windows never mix calls of two models: a thread whose
   * target changes model starts its windows and frame afresh, and its open
   * incident ends. assignmentsApplied() resolves once every change made so
   * far is in the data path.
   */
  assignModel(targetId: number, model: PipelineModel | null): void {
    if (this.closing) throw new SyswardenError('ERR_CLOSED', 'the pipeline is closed: no model can be assigned.');
    checkTargetId(targetId);
    if (model !== null && !(model instanceof PipelineModel)) {
      throw new TypeError(`assignModel takes a PipelineModel (PipelineModel.read or readSync) or null, got ${model === undefined ? 'undefined' : typeof model}`);
    }
    const change = this.table.assign(targetId, model);
    if (!change.changed) return;
    if (change.added) this.loadModel(change.added);
    this.modelOps.push({ op: MODEL_ASSIGN, target: targetId, model: change.entry?.id ?? NO_MODEL });
    if (change.released) this.modelOps.push({ op: MODEL_RELEASE, model: change.released.id });
    this.sendModelOps();
  }

  /** assignModel(targetId, null). */
  unassignModel(targetId: number): void {
    this.assignModel(targetId, null);
  }

  /** The model that scores the target's windows: its own, else the default one; null: none (its events are unscored). */
  modelOf(targetId: number): PipelineModel | null {
    return this.table.modelFor(checkTargetId(targetId))?.model ?? null;
  }

  /** The models loaded now (the default one, and every one assigned to some target), with how many targets each scores (the default: those without one of their own). */
  loadedModels(): Array<{ model: PipelineModel; targets: number; isDefault: boolean }> {
    return [...this.table.entries()].map((e) => ({ model: e.model, targets: e.targets, isDefault: e === this.table.default }));
  }

  /** Resolves when every assignment made so far is in the data path (see assignModel). */
  assignmentsApplied(): Promise<void> {
    if (this.modelOps.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.opsWaiters.push(resolve));
  }

  /** Every running worker loads a model added to the table. */
  private loadModel(e: ModelEntry): void {
    const msg: ToWorker = { type: 'model', model: this.table.workerModel(e) };
    for (const s of this.slots) if (!s.exited) s.worker.postMessage(msg);
    // Routed, the collector names profiled executables by their index in the table's list, which may have grown.
    if (e.model.perExe && this.router && this.routeRings && this.routeListener && !this.router.closed) {
      this.router.route(this.routeRings, [...this.table.profileExes], this.routeListener);
    }
  }

  /**
   * Send the table changes, in order: routed, as markers among the records
   * in every ring (after what was routed so far), each once every running
   * worker has loaded its model (the ring and the messages are two paths: a
   * marker must not overtake the model it names); else as messages among
   * the pushed batches, after the model's own message (one path, in order).
   */
  private sendModelOps(): void {
    while (this.modelOps.length > 0) {
      const op = this.modelOps[0]!;
      if (this.router && op.op === MODEL_ASSIGN && op.model !== NO_MODEL && !this.slots.every((s) => s.exited || s.loaded.has(op.model))) break;
      this.modelOps.shift();
      const target = op.op === MODEL_ASSIGN ? op.target : 0;
      if (this.router?.routeModel(target, op.model, op.op)) continue;
      const msg: ToWorker = op.op === MODEL_ASSIGN ? { type: 'assign', target: op.target, model: op.model } : { type: 'release', model: op.model };
      for (const s of this.slots) if (!s.exited) s.worker.postMessage(msg);
    }
    if (this.modelOps.length === 0) for (const w of this.opsWaiters.splice(0)) w();
  }

  /**
   * Score everything `collector` delivers, live; report lost events per
   * container as 'degraded' alerts (checked every `degradedCheckMs`, and
   * when the collector closes) and a target that went away as a
   * 'target-gone' record. Returns a function that detaches. `route`
   * (default true): the collector writes records straight into the
   * workers' rings; false pushes every batch through this thread.
   */
  attach(collector: Collector, options: { degradedCheckMs?: number; route?: boolean } = {}): () => void {
    // route: see below.
    // The collector names every id it handed out, removed targets' too
    // (their last events and incidents' ends arrive after they are gone).
    this.setContainers((id) => {
      const t = collector.target(id);
      return t ? targetContainer(t) : { slot: id };
    });
    // A removed target's own model goes with it (its last records in flight are scored by the default model, or counted unscored).
    const onRemoved = (t: TargetInfo) => {
      this.programStarts.forget(t.id);
      if (!this.closing && this.table.ownOf(t.id)) this.unassignModel(t.id);
    };
    const onGone = (t: TargetInfo) => {
      if (this.closed) return;
      this.deliver({ type: 'target-gone', time: new Date().toISOString(), container: targetContainer(t), remaining: collector.targets().length });
    };
    const onBatch = (b: EventBatch) => {
      // The collector's last batches may land after close(): count them, don't throw at the emitter.
      if (this.closed) {
        this.counters.droppedEvents += b.count;
        return;
      }
      // Routed, the records are in the workers' rings already (a batch here carries them only for another listener).
      if (this.router === collector) {
        this.batchesTaken++;
        this.handProcesses(b, true);
        this.releaseHeld(false);
      } else this.push(b, { live: true });
    };
    // The fair share is decided in one place, the collector: the workers'
    // backlog is one more pressure for it, so a flooding container is shed
    // in the kernel before its events cost the consumer, this thread and the
    // workers. Shedding here (shedHeavy) is left for what was already on
    // its way, and for batches pushed without a collector (replay).
    const signal = (behind: boolean) => {
      if (!collector.closed) collector.setScoringBehind(behind);
    };
    this.scoringBehind = signal;
    this.scoringBehindOn = false;
    const reported = new Map<number, { kernel: number; user: number; scoring: number }>();
    const check = () => this.reportLoss(collector, reported);
    // Native demultiplexing (the default; route: false pushes every batch
    // through this thread instead): the collector's consumer thread writes
    // each worker's records into that worker's ring, and this thread sees
    // only the process events. One collector at a time (a second one is
    // pushed). A worker that dies leaves its ring to its replacement, which
    // reads on (nothing in the ring is lost).
    const routed = options.route !== false && !collector.closed && this.router === undefined;
    if (routed) {
      this.routeRings ??= this.slots.map(() => createRouteRing(this.routeUnits));
      for (const s of this.slots) this.sendRing(s);
      this.router = collector;
      this.routeListener = onBatch;
      collector.route(this.routeRings, this.table.perExe ? [...this.table.profileExes] : null, onBatch);
    }
    // Closed, the collector has handed over every batch: nothing is left for held alerts to wait for.
    const onClose = () => {
      if (this.router === collector) this.releaseHeld(true);
      check();
    };
    collector.on('batch', onBatch);
    collector.on('close', onClose);
    collector.on('target-gone', onGone);
    collector.on('target-removed', onRemoved);
    const timer = setInterval(check, checkInt('degradedCheckMs', options.degradedCheckMs ?? 1000, 10, 3_600_000));
    timer.unref();
    return () => {
      clearInterval(timer);
      if (routed && this.router === collector) this.unroute();
      if (this.scoringBehind === signal) {
        if (this.scoringBehindOn) signal(false);
        this.scoringBehind = undefined;
        this.scoringBehindOn = false;
      }
      collector.off('batch', onBatch);
      collector.off('close', onClose);
      collector.off('target-gone', onGone);
      collector.off('target-removed', onRemoved);
    };
  }

  /** A 'degraded' alert for every container that lost events since the last check. */
  private reportLoss(collector: Collector, reported: Map<number, { kernel: number; user: number; scoring: number }>): void {
    if (this.closed) return;
    const slots = collector.stats().perSlot ?? [];
    for (const p of slots) {
      const now = { kernel: p.kernelDropped, user: p.userDropped, scoring: this.droppedBySlot[p.id] ?? 0 };
      const before = reported.get(p.id) ?? { kernel: 0, user: 0, scoring: 0 };
      const delta = now.kernel - before.kernel + (now.user - before.user) + (now.scoring - before.scoring);
      if (delta <= 0) continue;
      reported.set(p.id, now);
      this.counters.degraded++;
      const model = this.table.modelFor(p.id)?.model;
      this.deliver({
        type: 'degraded',
        time: new Date().toISOString(),
        container: this.containers(p.id),
        tid: 0,
        window: [],
        score: 0,
        threshold: 0,
        detector: model?.detector ?? '',
        model: model?.name ?? '',
        count: delta,
        eventTsNs: 0,
        incident: 0,
        lost: now,
      });
    }
  }

  /**
   * Hand a batch to the workers. A worker that already holds maxInFlight
   * batches does not get it: its share of the batch is dropped and counted
   * per container. Returns false when anything was dropped.
   */
  push(batch: EventBatch, options: { live?: boolean } = {}): boolean {
    if (this.closed) throw new SyswardenError('ERR_CLOSED', 'the pipeline is closed.');
    const whole = this.hand(batch, options);
    this.updateScoringBehind();
    return whole;
  }

  /** A batch's process events: the process table, escapes, drift. Never shed: they are what names the process behind an alert. */
  private handProcesses(batch: EventBatch, live: boolean): void {
    for (const e of batch.proc) {
      this.processes.apply(e, live);
      if (e.kind === 'escape' || (e.kind === 'attach' && e.fromTargetId !== undefined)) this.reportEscape(e, live);
      else if (e.kind === 'exec') {
        // Until a target's first exec of its own, its runtime may re-exec itself there (runc init).
        if (!this.programStarts.isProgram(e.targetId, e.exe, e.args)) continue;
        // The executables the target's own model knows (its model when the exec reaches this thread).
        const known = this.table.modelFor(e.targetId)?.model.executables;
        if (known && !known.has(e.exe)) this.reportDrift(e, live);
      }
    }
  }

  private hand(batch: EventBatch, options: { live?: boolean }): boolean {
    this.reap();
    this.handProcesses(batch, options.live === true);
    // A batch of process events alone still tells the workers what ends a
    // thread's windows (an exit) or changes its profile (an exec or fork,
    // per executable): the kernel may put them in a batch of their own.
    const perExe = this.table.perExe;
    if (batch.count === 0 && !batch.proc.some((e) => e.kind === 'exit' || (perExe && e.kind !== 'attach' && e.kind !== 'escape'))) return true;
    // Half full is the warning: shed the containers taking more than their
    // share, so one flooding container cannot push the others' events out.
    let reserve = 1;
    let shedSome = false;
    if (batch.count > 0 && this.slots.some((s) => this.behind(s, 0.5))) {
      const shed = this.shedHeavy(batch);
      if (shed.batch.count === 0) return false;
      // What is left is the light containers' share: small, and worth a reserve above the limit.
      if (shed.light) reserve = 2;
      shedSome = shed.batch !== batch;
      batch = shed.batch;
    }
    const marks = marksOf(batch, shedSome, perExe ? this.table.profileMap : undefined);
    // Workers that are behind (or gone, while closing) do not get the batch: their share is counted as lost.
    // What is left for the light containers is judged by its events: many small batches queued behind
    // a flood's big ones are little work, and counting them as batches would drop them first.
    const batchReserve = reserve === 2 ? LIGHT_BATCH_RESERVE : reserve;
    const takers = this.slots.filter((s) => !s.exited && !this.behind(s, reserve, batchReserve));
    if (takers.length < this.slots.length) this.countDropped(batch.buffer, batch.count, takers.length === 0 ? null : this.slots.map((s) => !takers.includes(s)));
    if (takers.length === 0) return false;
    const shared = this.pool.take(batch.buffer.byteLength);
    new Uint8Array(shared).set(new Uint8Array(batch.buffer));
    const seq = ++this.seq;
    const live = options.live === true;
    this.pending.set(seq, { remaining: takers.length, live, shared });
    for (const slot of takers) {
      slot.inFlight.set(seq, batch.count);
      slot.queuedEvents += batch.count;
      const msg: ToWorker = { type: 'batch', seq, buffer: shared, count: batch.count, live };
      if (marks) msg.marks = marks;
      slot.worker.postMessage(msg);
    }
    this.armReap();
    return takers.length === this.slots.length;
  }

  /**
   * Tell the attached collector whether the workers are behind: on when a
   * worker's queue is a quarter full, off once every queue is under an
   * eighth (the collector's own thresholds for a late JavaScript thread).
   */
  private updateScoringBehind(): void {
    if (!this.scoringBehind) return;
    const behind = this.slots.some((s) => this.behind(s, this.scoringBehindOn ? 1 / 8 : 1 / 4));
    if (behind === this.scoringBehindOn) return;
    this.scoringBehindOn = behind;
    this.scoringBehind(behind);
  }

  /**
   * Keep the events of containers at or under their fair share and drop
   * (and count) the rest. Shares are of the events pushed lately (a decaying
   * sum over the batches pushed under pressure), not of this batch alone: a
   * batch that happens to hold only a light container is still light.
   * `light` says the result holds only containers well under their share
   * (they get a reserve above the limit); with one container in sight there
   * is nobody to shed for.
   */
  private shedHeavy(batch: EventBatch): { batch: EventBatch; light: boolean } {
    const u16 = new Uint16Array(batch.buffer, 0, batch.count * U16_PER_RECORD);
    const slots = this.tally(u16, batch.count);
    const recent = this.recentBySlot;
    let total = 0;
    for (const [s, n] of recent) {
      const m = n * 0.875;
      if (m < 1) recent.delete(s);
      else recent.set(s, m);
    }
    for (const s of slots) recent.set(s, (recent.get(s) ?? 0) + this.slotTally[s]!);
    for (const n of recent.values()) total += n;
    if (recent.size < 2) {
      for (const s of slots) this.slotTally[s] = 0;
      return { batch, light: false };
    }
    const fair = total / recent.size;
    const keep = this.slotKeep;
    let kept = 0;
    // The reserve above the limit is for containers well under their share:
    // two equal floods taking turns are each at their share, and neither
    // may use it to hold more than the limit.
    let wellUnder = true;
    for (const s of slots) {
      const n = this.slotTally[s]!;
      if (recent.get(s)! <= fair) {
        keep[s] = 1;
        kept += n;
        if (recent.get(s)! > fair / 2) wellUnder = false;
      } else {
        this.lose(s, n);
        this.shedEvents += n;
      }
      this.slotTally[s] = 0;
    }
    let out: EventBatch = batch;
    if (kept < batch.count) {
      // Copy the light containers' records, 8 u16 each, without a view per record.
      const dst = new Uint16Array(kept * U16_PER_RECORD);
      let k = 0;
      for (let o = 0; o < u16.length; o += U16_PER_RECORD) {
        if (keep[u16[o + SLOT_U16]!] === 0) continue;
        for (let j = 0; j < U16_PER_RECORD; j++) dst[k + j] = u16[o + j]!;
        k += U16_PER_RECORD;
      }
      out = new EventBatch(dst.buffer, batch.drainedNs);
    }
    for (const s of slots) keep[s] = 0;
    return { batch: out, light: wellUnder };
  }

  /**
   * Count the records of each container slot in the batch into slotTally
   * (which the caller zeroes again) and return the slots present. One pass
   * over typed arrays: this runs on the main thread exactly when it is
   * overloaded, so it must cost about a nanosecond per record.
   */
  private tally(u16: Uint16Array, count: number): number[] {
    const tally = this.slotTally;
    const present: number[] = [];
    for (let o = SLOT_U16, end = count * U16_PER_RECORD; o < end; o += U16_PER_RECORD) {
      const s = u16[o]!;
      if (tally[s]! === 0) present.push(s);
      tally[s]!++;
    }
    return present;
  }

  /** Count `n` events of container `slot` as not scored. */
  private lose(slot: number, n: number): void {
    this.droppedBySlot[slot] = (this.droppedBySlot[slot] ?? 0) + n;
    this.counters.droppedEvents += n;
  }

  /** Batches sent to workers and not yet scored (cheap, unlike stats()); live, routed, the records waiting in the workers' rings. */
  get inFlight(): number {
    this.reap();
    let n = this.slots.reduce((k, s) => k + s.inFlight.size, 0);
    if (this.routeRings) for (const r of this.routeRings) n += routeBacklog(r);
    return n;
  }

  get workerCount(): number {
    return this.slots.length;
  }

  /** Wait until every batch pushed so far has been scored, and its alerts emitted. */
  async drain(): Promise<void> {
    this.reap();
    if (this.pending.size > 0) {
      this.armReap();
      await new Promise<void>((r) => this.drainWaiters.push(r));
    }
    // Progress is shared memory, alerts are messages: a round trip to each
    // worker lets the alerts it posted before finishing arrive first.
    await this.sync();
  }

  /**
   * Ask every worker for a 'synced' answer; resolves when all answered or
   * ended. A replacement still starting is asked too (it answers once it
   * runs, or ends): live, routed, it has its ring to read first.
   */
  private sync(): Promise<void> {
    const running = this.slots.filter((s) => !s.exited);
    if (running.length === 0) return Promise.resolve();
    const seq = ++this.syncSeq;
    return new Promise((resolve) => {
      let left = running.length;
      for (const s of running) {
        s.syncs.set(seq, () => {
          if (--left === 0) resolve();
        });
        const msg: ToWorker = { type: 'sync', seq };
        s.worker.postMessage(msg);
      }
    });
  }

  /** Take what the workers finished since the last look: settle those batches. */
  private reap(): void {
    for (const s of this.slots) this.reapSlot(s);
  }

  private reapSlot(s: Slot): void {
    if (s.inFlight.size === 0) return;
    const done = Atomics.load(s.progress.seq, 0);
    for (const [seq, count] of s.inFlight) {
      if (!seqReached(done, seq)) break;
      s.inFlight.delete(seq);
      s.queuedEvents -= count;
      this.settle(seq);
    }
  }

  /** Look again in REAP_MS while batches are in flight (pushes look too). */
  private armReap(): void {
    if (this.reapTimer || this.pending.size === 0) return;
    this.reapTimer = setTimeout(() => {
      this.reapTimer = undefined;
      this.reap();
      this.updateScoringBehind();
      this.armReap();
    }, REAP_MS);
  }

  /** Events, windows and alarms scored so far, and threads held now. */
  private scored(): { events: number; windows: number; alarms: number; threads: number; unscoredEvents: number; unjudgedThreads: number } {
    const t = { events: this.retired.events, windows: this.retired.windows, alarms: this.retired.alarms, threads: 0, unscoredEvents: this.retired.unscored, unjudgedThreads: this.retired.unjudged };
    for (const s of this.slots) {
      const v = s.progress.totals;
      t.events += v[0]!;
      t.windows += v[1]!;
      t.alarms += v[2]!;
      t.threads += v[3]!;
      t.unscoredEvents += v[PROGRESS_UNSCORED]!;
      t.unjudgedThreads += v[PROGRESS_UNJUDGED]!;
    }
    return t;
  }

  counts(): PipelineCounts {
    const { threads: _t, ...scored } = this.scored();
    return {
      ...this.counters,
      ...scored,
      incidents: this.incidentCount,
      droppedBySlot: this.droppedBySlot,
      shedEvents: this.shedEvents,
      workers: this.workerCount,
    };
  }

  stats(): PipelineStats {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const { threads, ...scored } = this.scored();
    // Records a full worker ring could not take are the collector's count
    // (per container there, as user-space losses, which 'degraded' reports).
    const routedDropped = (this.router ? this.router.routedCounts() : this.routedBefore).dropped;
    return {
      ...this.counters,
      droppedEvents: this.counters.droppedEvents + routedDropped,
      ...scored,
      incidents: this.incidentCount,
      droppedBySlot: { ...this.droppedBySlot },
      inFlight: this.inFlight,
      threads,
      workers: this.workerCount,
      models: this.table.size,
      assignedTargets: this.table.assignedCount,
      latency: {
        count: sorted.length,
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        max: sorted.length ? sorted[sorted.length - 1]! : 0,
      },
    };
  }

  /**
   * Score what is queued, end open incidents (emitting 'incident-end'), stop
   * the workers. Waits only for workers that are running: what a dead or
   * never-started worker held is counted as dropped, not awaited. Safe to
   * call more than once.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.unroute();
    await this.drain();
    // Flush: every running worker ends its open incidents.
    const running = this.slots.filter((s) => s.started && !s.exited);
    if (running.length > 0) {
      const seq = ++this.seq;
      this.pending.set(seq, { remaining: running.length, live: false, shared: new SharedArrayBuffer(0) });
      for (const s of running) {
        s.inFlight.set(seq, 0);
        const msg: ToWorker = { type: 'flush', seq };
        s.worker.postMessage(msg);
      }
      await this.drain();
    }
    this.closed = true;
    // Changes that never reached the workers never will: nobody waits for them.
    this.modelOps.length = 0;
    for (const w of this.opsWaiters.splice(0)) w();
    clearTimeout(this.reapTimer);
    this.reapTimer = undefined;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
    this.emit('close');
  }

  /**
   * Alerts, incident ends, 'degraded' and 'target-gone' records, as they
   * come. A reader more than MAX_QUEUED_ALERTS behind loses the newest
   * ones: counted (stats().alertsDropped) and marked in the stream by an
   * 'alerts-lost' record.
   */
  [Symbol.asyncIterator](): AsyncIterator<AlertRecord> {
    this.iterated = true;
    return {
      next: () => {
        const a = this.queue.shift() ?? this.lostRecord();
        if (a) return Promise.resolve({ value: a, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }

  /** Internal: the worker threads, for tests that kill one. */
  get [Symbol.for('syswarden.pipeline.workers')](): Worker[] {
    return this.slots.map((s) => s.worker);
  }

  private spawn(index: number, generation: number): Slot {
    const progress = new SharedArrayBuffer(PROGRESS_BYTES);
    // The table as it is now: a replacement reads on in its ring, where markers of later changes wait.
    const models = [...this.table.entries()].map((e) => this.table.workerModel(e));
    const init: WorkerInit = { ...this.init, index, progress, models, defaultModel: this.table.default?.id ?? NO_MODEL, assigned: this.table.assignedPairs() };
    const worker = new Worker(WORKER_URL, { workerData: init });
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    const slot: Slot = {
      worker,
      index,
      generation,
      inFlight: new Map(),
      queuedEvents: 0,
      progress: progressViews(progress),
      syncs: new Map(),
      started: false,
      exited: false,
      loaded: new Set(models.map((m) => m.id)),
      ready: new Promise<void>((res, rej) => {
        resolveReady = res;
        rejectReady = rej;
      }),
    };
    // Only create() awaits a first start; a replacement that fails to start must not be an unhandled rejection.
    slot.ready.catch(() => {});
    let fatal: string | undefined;
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ready') {
        slot.started = true;
        resolveReady();
      }
      else if (m.type === 'fatal') fatal = m.message;
      else if (m.type === 'ack') this.onAck(slot, m);
      else if (m.type === 'synced') {
        slot.syncs.get(m.seq)?.();
        slot.syncs.delete(m.seq);
      } else if (m.type === 'model-loaded') {
        slot.loaded.add(m.model);
        this.sendModelOps();
      }
    });
    worker.on('error', (err) => {
      fatal ??= err.message;
    });
    worker.on('exit', (code) => {
      slot.exited = true;
      if (this.closed) return;
      const why = fatal ?? `exit code ${code}`;
      rejectReady(new SyswardenError('ERR_WORKER', `scoring worker ${index} failed to start: ${why}`));
      // A worker that never started would fail again: that is create()'s
      // error, not a restart. Nor is one that ends while the pipeline closes.
      if (slot.started && this.slots[index] === slot && !this.closing) this.replace(slot, why);
      else this.abandon(slot);
    });
    return slot;
  }

  /** A worker died: count what it held as dropped, start another in its place, go on. */
  private replace(dead: Slot, why: string): void {
    this.counters.workerRestarts++;
    this.abandon(dead);
    const next = this.spawn(dead.index, dead.generation + 1);
    this.slots[dead.index] = next;
    this.sendRing(next);
    // A change that waited for the dead worker to load its model waits no more (the replacement starts with it).
    this.sendModelOps();
    this.emit('worker-exit', { index: dead.index, reason: why });
  }

  /** Count what a dead worker held as dropped and stop waiting for it. */
  private abandon(dead: Slot): void {
    // What it finished is scored; only the rest is lost.
    this.reapSlot(dead);
    // Routed: a stretch whose totals it published but which it died before marking read is read.
    const ring = this.routeRings?.[dead.index];
    if (ring) {
      const h = routeHeader(ring);
      const read = Atomics.load(h, ROUTE_READ) >>> 0;
      const reached = dead.progress.totals[PROGRESS_RING_READ]!;
      const ahead = (reached - read) >>> 0;
      if (ahead > 0 && ahead <= routeBacklog(ring)) Atomics.store(h, ROUTE_READ, reached | 0);
    }
    const [events, windows, alarms] = dead.progress.totals;
    this.retired.events += events!;
    this.retired.windows += windows!;
    this.retired.alarms += alarms!;
    this.retired.unscored += dead.progress.totals[PROGRESS_UNSCORED]!;
    this.retired.unjudged += dead.progress.totals[PROGRESS_UNJUDGED]!;
    dead.progress.totals.fill(0);
    for (const answer of dead.syncs.values()) answer();
    dead.syncs.clear();
    for (const [seq, count] of dead.inFlight) {
      const p = this.pending.get(seq);
      if (p) this.countDropped(p.shared, count, this.slots.map((s) => s === dead));
      this.settle(seq);
    }
    dead.inFlight.clear();
    dead.queuedEvents = 0;
    this.updateScoringBehind();
  }

  /** Whether a worker holds `batchShare` of the batch bound or `share` of the event bound, or more. */
  private behind(s: Slot, share: number, batchShare = share): boolean {
    return s.inFlight.size >= Math.max(1, Math.floor(this.maxInFlight * batchShare)) || s.queuedEvents >= this.maxQueuedEvents * share;
  }

  /**
   * Count as lost, per container, the events of the batch owned by the
   * workers marked in `behind` (null: all of them). Per-batch bookkeeping,
   * one typed-array pass per batch, no allocation per event.
   */
  private countDropped(buffer: ArrayBufferLike, count: number, behind: boolean[] | null): void {
    if (count === 0) return;
    const u16 = new Uint16Array(buffer, 0, count * U16_PER_RECORD);
    let slots: number[];
    if (behind === null) {
      slots = this.tally(u16, count);
    } else {
      const u32 = new Uint32Array(buffer, 0, count * U32_PER_RECORD);
      const tally = this.slotTally;
      const n = this.slots.length;
      slots = [];
      for (let i = 0; i < count; i++) {
        if (!behind[ownerOf(u32[i * U32_PER_RECORD + TID_U32]!, n)]) continue;
        const s = u16[i * U16_PER_RECORD + SLOT_U16]!;
        if (tally[s]! === 0) slots.push(s);
        tally[s]!++;
      }
    }
    for (const s of slots) {
      this.lose(s, this.slotTally[s]!);
      this.slotTally[s] = 0;
    }
  }

  private settle(seq: number): void {
    const p = this.pending.get(seq);
    if (!p) return;
    if (--p.remaining === 0) {
      this.pending.delete(seq);
      if (p.shared.byteLength > 0) this.pool.give(p.shared);
    }
    if (this.pending.size === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  /** A batch's alerts (its progress is read from shared memory). */
  private onAck(slot: Slot, m: Extract<FromWorker, { type: 'ack' }>): void {
    const queued = this.router && m.live ? this.router.queuedBatches() : 0;
    if (this.router && m.live && (this.held.length > 0 || queued > 0)) {
      // Routed: the process events of the records that raised these alerts
      // were queued for this thread before the records reached the worker;
      // the alerts wait until it has taken them, so that they name their
      // process (a short-lived one is gone from /proc by now). In order.
      const until = Math.max(this.batchesTaken + queued, this.held.at(-1)?.until ?? 0);
      this.held.push({ until, slot, alerts: m.alerts });
    } else {
      for (const wa of m.alerts) this.emitAlert(slot, wa, m.live);
    }
    this.reapSlot(slot);
    if (this.scoringBehindOn) this.updateScoringBehind();
  }

  /** Emit the held alerts whose process events have been taken (all: routing ends). */
  private releaseHeld(all: boolean): void {
    while (this.held.length > 0 && (all || this.held[0]!.until <= this.batchesTaken)) {
      const h = this.held.shift()!;
      for (const wa of h.alerts) this.emitAlert(h.slot, wa, true);
    }
  }

  /** A record about a process event, with the process named and (live) the kernel-to-here latency. */
  private withProcess<R extends EscapeRecord | NewExecutableRecord>(record: R, live: boolean): R {
    const proc = this.processes.context(record.tid, { readProc: live, atNs: record.eventTsNs });
    if (proc) record.process = proc;
    if (live && record.eventTsNs > 0) record.latencyMs = (Number(process.hrtime.bigint()) - record.eventTsNs) / 1e6;
    return record;
  }

  /** Drift: the first exec in a container of an executable its model never saw exec'd. */
  private reportDrift(e: ExecEvent, live: boolean): void {
    const key = `${e.targetId}\0${e.exe}`;
    if (this.driftSeen.has(key)) return;
    // Bounded: past the limit the oldest are forgotten (an executable may then be reported again, never lost).
    if (this.driftSeen.size >= MAX_DRIFT_KEYS) this.driftSeen.delete(this.driftSeen.values().next().value!);
    this.driftSeen.add(key);
    const record: NewExecutableRecord = {
      type: 'new-executable',
      time: new Date().toISOString(),
      container: this.containers(e.targetId),
      tid: e.tid,
      pid: e.pid,
      comm: e.comm,
      exe: e.exe,
      eventTsNs: e.tsNs,
    };
    this.counters.drift++;
    this.deliver(this.withProcess(record, live));
  }

  /** A watched process left its container: reported at once, whatever the model says (it stays watched). */
  private reportEscape(e: MoveEvent, live: boolean): void {
    const into = e.kind === 'attach';
    const left = this.containers(into ? e.fromTargetId! : e.targetId);
    const record: EscapeRecord = {
      type: 'escape',
      time: new Date().toISOString(),
      container: left,
      tid: e.tid,
      pid: e.pid,
      comm: e.comm,
      from: left.cgroup ?? '',
      to: e.cgroup,
      eventTsNs: e.tsNs,
    };
    if (into) record.toContainer = this.containers(e.targetId);
    this.counters.escapes++;
    this.deliver(this.withProcess(record, live));
  }

  private emitAlert(slot: Slot, wa: WorkerAlert, live: boolean): void {
    const key = `${slot.index}:${slot.generation}:${wa.incidentKey}`;
    let incident = this.incidentNumbers.get(key);
    if (incident === undefined) {
      incident = ++this.incidentCount;
      this.incidentNumbers.set(key, incident);
    }
    if (wa.type === 'incident-end') this.incidentNumbers.delete(key);
    const { slot: s, incidentKey: _k, ...rest } = wa;
    const alert: Alert = { ...rest, time: new Date().toISOString(), container: this.containers(s), incident };
    // The process table names the process: from the process events (live or recorded), and live
    // only, from /proc for one that predates the watch (a replayed tid may belong to anyone now).
    const proc = wa.type !== 'degraded' ? this.processes.context(wa.tid, { readProc: live, atNs: wa.eventTsNs }) : undefined;
    if (proc) {
      alert.pid = proc.pid;
      alert.comm = proc.comm;
      alert.process = proc;
    }
    if (live && wa.type === 'alert' && wa.eventTsNs > 0) {
      alert.latencyMs = (Number(process.hrtime.bigint()) - wa.eventTsNs) / 1e6;
      this.latencies.push(alert.latencyMs);
      if (this.latencies.length > 100_000) this.latencies.splice(0, 50_000);
    }
    this.deliver(alert);
  }

  private deliver(record: AlertRecord): void {
    this.emit('alert', record);
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter({ value: record, done: false });
      return;
    }
    // Listener-only users never iterate: queueing for nobody would only count false drops.
    if (!this.iterated && this.listenerCount('alert') > 0) return;
    // The reader caught up after a loss: mark the gap before what follows it.
    if (this.unreported > 0 && this.queue.length < MAX_QUEUED_ALERTS) this.queue.push(this.lostRecord()!);
    if (this.queue.length < MAX_QUEUED_ALERTS) {
      this.queue.push(record);
    } else {
      this.counters.alertsDropped++;
      this.unreported++;
    }
  }

  /** The 'alerts-lost' record for what the iterator dropped since the last one, if anything. */
  private lostRecord(): AlertsLostRecord | undefined {
    if (this.unreported === 0) return undefined;
    const count = this.unreported;
    this.unreported = 0;
    return {
      type: 'alerts-lost',
      time: new Date().toISOString(),
      count,
      total: this.counters.alertsDropped,
      reason: `the reader of the pipeline's alerts fell more than ${MAX_QUEUED_ALERTS} behind`,
    };
  }
}

/**
 * The process events of a batch the workers act on, as marks (ToWorker):
 * exits, and with per-executable profiles (`profileOf`) execs, each naming
 * its profile, and forks. After shedding, positions no longer match the
 * records, so every mark is placed at the batch's end.
 */
function marksOf(batch: EventBatch, shed: boolean, profileOf: ReadonlyMap<string, number> | undefined): number[] | undefined {
  let out: number[] | undefined;
  for (const e of batch.proc) {
    const at = shed ? batch.count : Math.min(e.at, batch.count);
    if (e.kind === 'exit') (out ??= []).push(at, MARK_EXIT, e.tid, 0);
    else if (profileOf && e.kind === 'exec') (out ??= []).push(at, MARK_EXEC, e.tid, profileOf.get(e.exe) ?? -1);
    else if (profileOf && e.kind === 'fork') (out ??= []).push(at, MARK_FORK, e.childTid, e.tid);
  }
  return out;
}
