// Types of the raw addon (native/). Internal: the public API is Collector.

export interface NativeCollectorOptions {
  ringBytes?: number;
  pollMs?: number;
  maxBatchEvents?: number;
  maxQueuedBatches?: number;
  matchAll?: boolean;
  selfTgid?: number;
  attach?: 'auto' | 'tp_btf' | 'tracepoint';
  fairShare?: boolean;
}

export interface NativeSlotStats {
  slot: number;
  matched: number;
  emitted: number;
  dropped: number;
  userDropped: number;
}

export interface NativeStats {
  matched: bigint;
  emitted: bigint;
  dropped: bigint;
  perSlot: NativeSlotStats[];
  batchesDelivered: bigint;
  eventsDelivered: bigint;
  userDroppedBatches: bigint;
  userDroppedEvents: bigint;
  malformedRecords: bigint;
  drains: bigint;
  shedEpisodes: number;
  shedNow: number;
  inFlight: number;
}

export interface NativeCollector {
  attachMode(): 'tp_btf' | 'tracepoint';
  setTarget(cgroupId: bigint, slot: number): void;
  deleteTarget(cgroupId: bigint): boolean;
  setTargetLevels(mask: number): void;
  stats(): NativeStats;
  pause(): void;
  resume(): void;
  close(): void;
  programId(): number;
}

export interface NativeAddon {
  NativeCollector: new (
    options: NativeCollectorOptions,
    onBatch: (buffer: ArrayBuffer, drainedNs: bigint) => void,
  ) => NativeCollector;
  recordLayout: { size: number; ts_ns: number; tid: number; nr: number; slot: number };
  slotAll: number;
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
