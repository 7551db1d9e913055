// Types of the raw addon (native/). Internal: the public API is Collector.

export interface NativeCollectorOptions {
  ringBytes?: number;
  pollMs?: number;
  deliverMs?: number;
  maxBatchEvents?: number;
  maxQueuedBatches?: number;
  matchAll?: boolean;
  selfTgid?: number;
  attach?: 'auto' | 'tp_btf' | 'tracepoint';
  fairShare?: boolean;
  /** Nice value for the consumer thread; absent: it keeps the one it inherits. */
  consumerNice?: number;
  /** 0: one ring for every CPU; N: a ring (of ringBytes) per group of N CPUs. */
  cpusPerRing?: number;
}

/**
 * Per-slot counters in NativeStats.slotChanges: the rows that changed since
 * the previous stats() call, SLOT_CHANGE_FIELDS numbers each: slot (target
 * id & 0xfff, or SLOT_ALL), matched, emitted, dropped, userDropped, each
 * cumulative over every target the slot had (the Collector keeps them and
 * baselines them per target).
 */
export const SLOT_CHANGE_FIELDS = 5;

export interface NativeStats {
  matched: bigint;
  emitted: bigint;
  dropped: bigint;
  /** The slots whose counters changed since the last call (see SLOT_CHANGE_FIELDS): a reading costs what changed, not every slot. */
  slotChanges: Float64Array;
  batchesDelivered: bigint;
  eventsDelivered: bigint;
  userDroppedBatches: bigint;
  userDroppedEvents: bigint;
  malformedRecords: bigint;
  /** Batches whose JavaScript callback threw (a backstop: the Collector catches its listeners' errors); counted in userDropped too. */
  callbackErrors: number;
  drains: bigint;
  shedEpisodes: number;
  shedNow: number;
  inFlight: number;
  /** After close: the final counters agreed (no program invocation was still running); false if the wait for that timed out. */
  settled: boolean;
  /** Process events (exec, fork, exit, attach, escape), counted apart from syscall records. */
  proc: NativeProcStats;
  /** io_uring operations are recorded (the kernel has the io_uring_submit_req tracepoint). */
  uring: boolean;
  /** Failed reservations per ring (its CPUs summed), and the CPUs per ring (0: one shared ring). */
  ringFull: number[];
  cpusPerRing: number;
  /** Routed to workers' rings (route()): records written, records a full ring could not take (in userDroppedEvents too), markers lost, and whether a ring is behind. */
  routed: { events: number; dropped: number; marksDropped: number; behind: boolean };
}

export interface NativeProcStats {
  /** The kernel reports them (BTF tracepoints attached); false with the tracepoint fallback. */
  available: boolean;
  emitted: number;
  kernelDropped: number;
  delivered: number;
  userDropped: number;
  /** Processes of watched containers the kernel could not follow (its map was full): a move out of the container by one of them goes unseen. */
  unfollowed: number;
}

export interface NativeCollector {
  attachMode(): 'tp_btf' | 'tracepoint';
  /** Watch a cgroup under a target id (slot | generation << 12; below TARGET_ID_LIMIT). */
  setTarget(cgroupId: bigint, targetId: number): void;
  deleteTarget(cgroupId: bigint): boolean;
  setTargetLevels(mask: number): void;
  /** Follow these processes (already in the target's cgroups) under the target id: returns how many the map took. */
  followProcesses(targetId: number, pids: number[]): number;
  /** Adoption: new child cgroups of this parent become targets in the kernel as they are made (on), or no more (off; returns whether it was on). */
  adoptUnder(parentCgroupId: bigint, on: boolean): boolean;
  /** Give the kernel these target ids for adopted cgroups: returns how many its queue took. Without ids: empties the queue and returns what it held. */
  reserveAdoptIds(ids?: number[]): number | number[];
  /** A removed target's processes are followed no more: returns how many were. */
  unfollowTarget(targetId: number): number;
  stats(): NativeStats;
  pause(): void;
  resume(): void;
  /** The scorer's queues are behind (true) or caught up (false): pressure for the fair share, as a full ring is. */
  setScoringBehind(behind: boolean): void;
  close(): void;
  programId(): number;
  /** Write each record into the ring of the worker that owns its thread (src/pipeline/route-ring.ts); profiles: a per-executable model's executables, else null. */
  route(rings: Uint8Array[], profiles: readonly string[] | null): void;
  /** Records go to JavaScript again. */
  unroute(): void;
  /** While routing: JavaScript gets the records too (true), or process events alone. */
  routeTee(on: boolean): void;
  /** While routing: a model marker (route_ring.h kRouteMarkModel) to every worker's ring, after what was routed so far; false when not routing. */
  routeModel(target: number, model: number, op: number): boolean;
  /** Batches queued for JavaScript and not yet taken. */
  queuedBatches(): number;
  /** [records routed, records a full worker ring dropped]. */
  routedCounts(): [number, number];
}

export interface NativeAddon {
  NativeCollector: new (
    options: NativeCollectorOptions,
    onBatch: (buffer: ArrayBuffer, drainedNs: bigint, proc: ArrayBuffer | undefined) => void,
  ) => NativeCollector;
  /** In a worker thread: run `callback` on this thread whenever the collector writes to `ring` while its reader sleeps. */
  wakeOn(ring: Uint8Array, callback: () => void): void;
  /** pidfd_open(2): a close-on-exec fd pinning the process (close it with fs.closeSync). Throws an Error with `code` (ESRCH...). */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2) through that fd: never reaches another process given the same pid. Signal 0 checks the process was not reaped. */
  pidfdSendSignal(fd: number, signal: number): void;
  /** The task_ids iterator (bpf/event.h struct sw_task_ids, taskIdsFields u32 each): by 0 every task of this pid namespace, 1 the process with pid `value` here, 2 the process pidfd `value` holds. Throws an Error with `code` and `stage`. */
  taskIds(by: 0 | 1 | 2 | number, value: number): Uint32Array;
  taskIdsFields: number;
  recordLayout: { size: number; ts_ns: number; tid: number; nr: number; slot: number };
  slotAll: number;
  targetId: { slotBits: number; slotMask: number; generationMask: number; limit: number };
}

/** Shape of an Error thrown by the addon's BPF calls. */
export interface NativeBpfError extends Error {
  code: string;
  errno: number;
  stage: string;
  detail: string;
  /** When the tp_btf attach failed and the classic tracepoint failed after it: how tp_btf failed. */
  firstMessage?: string;
}
