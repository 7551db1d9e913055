/**
 * The one queue every alert output keeps its waiting records in: a file that
 * cannot be written (a full disk), a bus that is down, a webhook that answers
 * 503. It is bounded in records and in bytes; when it is full the NEWEST
 * record is refused, so what waited stays whole and in order (an incident's
 * first record, the one with its window and process, is never pushed out by
 * the records that follow it), and each refusal is counted. The count of
 * records refused since the last gap mark is kept, so the output can put an
 * 'alerts-lost' record where they are missing (`takeUnmarked`).
 */
export interface BoundedQueueOptions<T> {
  /** Most items waiting. */
  maxItems: number;
  /** Most bytes waiting, by `sizeOf` (default: no byte bound). */
  maxBytes?: number;
  sizeOf?: (item: T) => number;
}

/** Makes the item that marks a gap of `missing` refused items (`total` lost in all). */
export type GapMark<T> = (missing: number, total: number) => T;

export class BoundedQueue<T> {
  readonly maxItems: number;
  readonly maxBytes: number;
  private readonly sizeOf: (item: T) => number;
  private readonly items: T[] = [];
  private head = 0;
  private byteCount = 0;
  /** Items refused (full) or dropped (dropAll), in all. */
  private lostCount = 0;
  private unmarked = 0;

  constructor(options: BoundedQueueOptions<T>) {
    this.maxItems = whole('maxItems', options.maxItems, 1 << 24);
    this.maxBytes = options.maxBytes === undefined ? Number.POSITIVE_INFINITY : whole('maxBytes', options.maxBytes, 1 << 30);
    this.sizeOf = options.sizeOf ?? (() => 0);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.byteCount;
  }

  /** Items lost in all: refused because the queue was full, or dropped by dropAll. */
  get lost(): number {
    return this.lostCount;
  }

  /** Whether an item of `bytes` would be refused now. */
  full(bytes = 0): boolean {
    return this.length >= this.maxItems || this.byteCount + bytes > this.maxBytes;
  }

  /**
   * Queue `item` at the end; when full it is refused and counted (returns
   * false). When items were refused before it, `gapMark` first makes the
   * mark that goes where they are missing (see mark()).
   */
  push(item: T, gapMark?: GapMark<T>): boolean {
    if (this.full(this.sizeOf(item))) {
      this.lostCount++;
      this.unmarked++;
      return false;
    }
    if (gapMark) this.mark(gapMark);
    this.add(item);
    return true;
  }

  /**
   * If items were refused since the last mark, queue the mark `gapMark`
   * makes for them (it gets how many) — even beyond the bound: it is small,
   * there is at most one per gap, and it is what says why the rest is missing.
   */
  mark(gapMark: GapMark<T>): void {
    if (this.unmarked === 0) return;
    const missing = this.unmarked;
    this.unmarked = 0;
    this.add(gapMark(missing, this.lostCount));
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  /** The first `n` waiting items (fewer if fewer wait), oldest first, left in the queue. */
  first(n: number): T[] {
    return this.items.slice(this.head, this.head + n);
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head] = undefined as T;
    this.head++;
    this.byteCount -= this.sizeOf(item);
    // Compact now and then, so shift stays O(1) amortised and memory is given back.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return item;
  }

  /** Drop everything waiting, counted as lost (an output that gave up at exit); returns how many. */
  dropAll(): number {
    const n = this.length;
    this.clear();
    this.lostCount += n;
    return n;
  }

  /** Forget everything waiting without counting it (the reader chose to go away). */
  clear(): void {
    this.items.length = 0;
    this.head = 0;
    this.byteCount = 0;
  }

  private add(item: T): void {
    this.items.push(item);
    this.byteCount += this.sizeOf(item);
  }
}

function whole(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new RangeError(`${name} must be a whole number from 1 to ${max}, got ${String(v)}`);
  return v;
}
