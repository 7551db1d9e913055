import { GrowableInt32, GrowableUint16 } from '../trace/growable.js';
import type { SyscallFilter } from './filter.js';
import type { WindowSet } from './window-set.js';
import { checkWindowSize } from './windows.js';

/** The last size-1 calls of one thread, as a ring. */
interface History {
  ring: Uint16Array;
  /** Calls seen so far (saturates are not needed: only `>= size-1` matters). */
  seen: number;
  /** Next write position in the ring. */
  head: number;
  /** The windower's clock when this thread last made a call (see tick()). */
  lastSeen: number;
}

/**
 * Sliding windows over live, interleaved events, one history per thread id.
 * Completed windows accumulate in a growable output until take(). Pushing a
 * whole trace event by event yields exactly the windows of windowStreams()
 * over its threads (ordered by completion time instead of by thread).
 */
export class IncrementalWindower {
  readonly size: number;
  private readonly threads = new Map<number, History>();
  private readonly out: GrowableUint16;
  private readonly src: GrowableInt32;
  private readonly tags: GrowableInt32;
  private readonly drop: Uint8Array | undefined;
  private clock = 0;
  // Consecutive events mostly come from one thread: skip the map lookup then.
  private lastTid = -1;
  private lastHistory: History | undefined;

  constructor(size: number, opts: { filter?: SyscallFilter; initialWindows?: number } = {}) {
    this.size = checkWindowSize(size);
    const initial = opts.initialWindows ?? 4096;
    this.out = new GrowableUint16(initial * size);
    this.src = new GrowableInt32(initial);
    this.tags = new GrowableInt32(initial);
    this.drop = opts.filter && opts.filter.dropped > 0 ? opts.filter.drop : undefined;
  }

  /** Threads currently holding history. */
  get liveThreads(): number {
    return this.threads.size;
  }

  /** Windows waiting in the output. */
  get pending(): number {
    return this.src.length;
  }

  /**
   * One call of thread `tid`. `tag` travels with the window the call
   * completes (live capture passes the event's index in its batch, to find
   * the window's timestamp and container again).
   */
  push(tid: number, nr: number, tag = 0): void {
    if (this.drop !== undefined && this.drop[nr] === 1) return;
    let h = tid === this.lastTid ? this.lastHistory : this.threads.get(tid);
    if (h === undefined) {
      h = { ring: new Uint16Array(this.size), seen: 0, head: 0, lastSeen: this.clock };
      this.threads.set(tid, h);
    }
    if (tid !== this.lastTid) {
      this.lastTid = tid;
      this.lastHistory = h;
      h.lastSeen = this.clock;
    }
    const size = this.size;
    const ring = h.ring;
    ring[h.head] = nr;
    h.head = h.head + 1 === size ? 0 : h.head + 1;
    h.seen++;
    if (h.seen >= size) {
      // The oldest call of the window sits at head (the ring is exactly one window long).
      const base = this.out.length;
      const buf = this.out.reserve(base + size);
      // Element by element: subarray() + set() would allocate two views per window.
      let k = base;
      for (let j = h.head; j < size; j++) buf[k++] = ring[j]!;
      for (let j = 0; j < h.head; j++) buf[k++] = ring[j]!;
      this.out.length = base + size;
      this.src.push(tid);
      this.tags.push(tag);
    }
  }

  /** Pushes `count` events: `nrs[i]` made by thread `tids[i]`. */
  pushBatch(tids: Int32Array | Uint32Array, nrs: Uint16Array, count = nrs.length): void {
    for (let i = 0; i < count; i++) this.push(tids[i]!, nrs[i]!);
  }

  /** Drops an exited thread's history, so long-running capture does not leak per-thread state; returns the calls it had made (0: none held). */
  forget(tid: number): number {
    const calls = this.threads.get(tid)?.seen ?? 0;
    this.threads.delete(tid);
    if (tid === this.lastTid) {
      this.lastTid = -1;
      this.lastHistory = undefined;
    }
    return calls;
  }

  /** Advance the idle clock (e.g. once per batch or per second). */
  tick(now: number): void {
    this.clock = now;
    this.lastTid = -1; // the next call of any thread refreshes its lastSeen
    this.lastHistory = undefined;
  }

  /** Forget every thread whose last call is older than `before` on the idle clock; returns their ids. */
  forgetIdle(before: number): number[] {
    const gone: number[] = [];
    for (const [tid, h] of this.threads) {
      if (h.lastSeen < before) gone.push(tid);
    }
    for (const tid of gone) this.forget(tid);
    return gone;
  }

  /** The windows completed so far (source = thread id), and an empty output. */
  take(): WindowSet {
    return this.takeTagged().windows;
  }

  /**
   * The windows completed so far as views into this windower's buffers,
   * valid only until the next push: for a consumer that scores them at once
   * (the pipeline worker), it saves copying every window once per batch.
   */
  drainTagged(): { windows: WindowSet; tags: Int32Array } {
    const count = this.src.length;
    const windows: WindowSet = { size: this.size, count, data: this.out.view(), source: this.src.view() };
    const tags = this.tags.view();
    this.out.clear();
    this.src.clear();
    this.tags.clear();
    return { windows, tags };
  }

  /** Like take(), with the tag of the call that completed each window. */
  takeTagged(): { windows: WindowSet; tags: Int32Array } {
    const count = this.src.length;
    const windows: WindowSet = { size: this.size, count, data: this.out.toArray(), source: this.src.toArray() };
    const tags = this.tags.toArray();
    this.out.clear();
    this.src.clear();
    this.tags.clear();
    return { windows, tags };
  }
}
