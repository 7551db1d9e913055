import type { AlertRecord, AlertsLostRecord } from './alert.js';
import { BoundedQueue } from './bounded-queue.js';
import { encodeRecord, type AlertFormat } from './format.js';
import type { AlertOutput, LossListener, OutputStats } from './output.js';

/** One record waiting to be sent. */
export interface Outgoing {
  /** The encoded record (JSON, no line end). */
  body: Buffer;
  /** Its number on this output, from 1, in order: a receiver drops a record sent twice by it (NATS: the Nats-Msg-Id header). */
  seq: number;
  type: AlertRecord['type'];
}

/**
 * What one send did with the first records of the batch it was given:
 * `delivered`: the first n were taken (n may be 0 only with `retry`);
 * `retry`: a failure worth waiting out (the bus is down, HTTP 5xx);
 * `refused`: the destination refused the first record for good (HTTP 4xx):
 * a configuration error; the record is counted as lost and the next one goes.
 */
export type SendResult = { delivered: number; retry?: string } | { refused: string; fix: string };

export interface NetworkOutputOptions {
  format: AlertFormat;
  /** Records that wait while the destination is down (the --output-buffer bound). */
  buffer: number;
  /** Where failures, recoveries and losses are reported (default: stderr). */
  report?: (message: string) => void;
  onLoss?: LossListener;
  /** First and longest wait between attempts while sends fail, ms. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** The byte bound goes with the record bound: records are small (a window and a bounded command line), this only stops a pathological one. */
const BYTES_PER_RECORD = 4096;

/**
 * What every network output shares: the bounded queue (BoundedQueue, like
 * the file writer), one sender at a time so records leave in order, retry
 * with backoff, the counts, the reports (the failure and the recovery once
 * each; a refusal once, with its fix), the 'alerts-lost' mark in its own
 * stream where records are missing, and the bounded wait at close.
 * Delivery is at least once: a batch whose confirmation was lost is sent
 * again, with the same sequence numbers.
 */
export abstract class NetworkOutput implements AlertOutput {
  abstract readonly where: string;
  /** Most records one send() gets. */
  protected abstract readonly maxBatch: number;
  protected readonly format: AlertFormat;
  private readonly queue: BoundedQueue<Outgoing>;
  private readonly report: (message: string) => void;
  private readonly onLoss: LossListener | undefined;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private seq = 0;
  private delivered = 0;
  private refusedCount = 0;
  private failing: string | undefined;
  /** Records lost since the last delivery: told in the recovery report. */
  private lostSinceDelivery = 0;
  private refusalReported = false;
  private pumping: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private closing = false;
  /** Aborts a send in flight when close() gives up waiting. */
  protected readonly abort = new AbortController();

  constructor(options: NetworkOutputOptions) {
    this.format = options.format;
    this.queue = new BoundedQueue<Outgoing>({ maxItems: options.buffer, maxBytes: Math.min(options.buffer * BYTES_PER_RECORD, 1 << 30), sizeOf: (o) => o.body.length });
    this.report = options.report ?? ((m) => console.error(`syswarden: ${m}`));
    this.onLoss = options.onLoss;
    this.retryMinMs = options.retryMinMs ?? 100;
    this.retryMaxMs = options.retryMaxMs ?? 2000;
  }

  /** Send the first records of `batch`, in order; may throw (a network error is a retry). */
  protected abstract send(batch: Outgoing[], signal: AbortSignal): Promise<SendResult>;
  /** Release the connection. */
  protected abstract shutdown(): Promise<void>;

  write(record: AlertRecord): void {
    if (this.closing) return;
    const item = this.encode(record);
    if (this.queue.push(item, this.gapMark)) {
      // Numbered once queued, after the gap mark queued before it.
      item.seq = ++this.seq;
    } else {
      this.lostSinceDelivery++;
      // A lost mark is counted but not announced again: two failing outputs must not tell each other forever.
      if (record.type !== 'alerts-lost') this.onLoss?.(1, `its buffer of ${this.queue.maxItems} records was full${this.failing !== undefined ? ` (${this.failing})` : ''}`);
      return;
    }
    this.kick();
  }

  stats(): OutputStats {
    return {
      delivered: this.delivered,
      waiting: this.queue.length,
      lost: this.lost(),
      ...(this.failing !== undefined ? { failing: this.failing } : {}),
    };
  }

  /** Try now (a reconnect, a new record) instead of at the end of the current wait. */
  protected kick(): void {
    if (this.wake) this.wake();
    else if (!this.pumping && this.queue.length > 0) this.pumping = this.pump();
  }

  async close(flushTimeoutMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.kick();
    const deadline = Date.now() + flushTimeoutMs;
    while (this.queue.length > 0 && this.pumping && Date.now() < deadline) {
      await Promise.race([this.pumping, delay(Math.max(1, deadline - Date.now()))]);
    }
    // Give up: stop the sender (a send in flight is aborted) and count what is left.
    this.abort.abort();
    this.wake?.();
    await this.pumping;
    const left = this.queue.dropAll();
    if (left > 0) {
      this.report(
        `${left} alert record(s) waiting for ${this.where} were not delivered within --flush-timeout ${flushTimeoutMs / 1000} s` +
          ` (${this.failing ?? 'it was still sending'}) and are lost; ${this.lost()} lost on it in all.`,
      );
      this.onLoss?.(left, `they were still waiting at exit (${this.failing ?? 'still sending'})`);
    }
    await this.shutdown().catch(() => undefined);
  }

  private lost(): number {
    return this.queue.lost + this.refusedCount;
  }

  private encode(record: AlertRecord): Outgoing {
    return { body: Buffer.from(encodeRecord(record, this.format), 'utf8'), seq: 0, type: record.type };
  }

  /** The 'alerts-lost' record that goes where records are missing from this output's own stream. */
  private readonly gapMark = (missing: number): Outgoing => {
    const mark: AlertsLostRecord = {
      type: 'alerts-lost',
      time: new Date().toISOString(),
      count: missing,
      total: this.lost(),
      reason: `${this.where} was unreachable (${this.failing ?? 'it failed'}) while more than ${this.queue.maxItems} records waited`,
    };
    const item = this.encode(mark);
    item.seq = ++this.seq;
    return item;
  };

  private async pump(): Promise<void> {
    let backoff = this.retryMinMs;
    try {
      while (this.queue.length > 0 && !this.abort.signal.aborted) {
        const batch = this.queue.first(this.maxBatch);
        let r: SendResult;
        try {
          r = await this.send(batch, this.abort.signal);
        } catch (e) {
          r = { delivered: 0, retry: e instanceof Error ? e.message : String(e) };
        }
        if ('refused' in r) {
          this.queue.shift();
          this.refusedCount++;
          if (!this.refusalReported) {
            this.refusalReported = true;
            this.report(
              `${this.where} refused an alert record: ${r.refused}. This is a configuration error, not an outage: sending it again would not help, ` +
                `so each refused record is counted as lost (exit code 1). Fix: ${r.fix}.`,
            );
          }
          if (batch[0]!.type !== 'alerts-lost') this.onLoss?.(1, `it refused it (${r.refused})`);
          continue;
        }
        for (let i = 0; i < r.delivered; i++) this.queue.shift();
        this.delivered += r.delivered;
        if (r.delivered > 0) {
          backoff = this.retryMinMs;
          this.recovered();
          if (this.queue.length === 0) this.queue.mark(this.gapMark);
        }
        if (r.retry === undefined) continue;
        this.failed(r.retry);
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.retryMaxMs);
      }
    } finally {
      this.pumping = undefined;
      // A record written while the last send was answered starts the next round.
      if (this.queue.length > 0 && !this.abort.signal.aborted) this.pumping = this.pump();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
    });
  }

  private failed(why: string): void {
    if (this.failing !== undefined) {
      this.failing = why;
      return;
    }
    this.failing = why;
    this.report(
      `cannot deliver alerts to ${this.where}: ${why}. Detection goes on: up to ${this.queue.maxItems} records wait in memory, in order, ` +
        `and are sent once it is back (retried every ${this.retryMinMs / 1000}-${this.retryMaxMs / 1000} s); beyond that the newest are lost, counted.`,
    );
  }

  private recovered(): void {
    const lost = this.lostSinceDelivery;
    this.lostSinceDelivery = 0;
    if (this.failing === undefined) return;
    this.report(
      `delivering alerts to ${this.where} works again` +
        (lost > 0 ? `; ${lost} record(s) were lost while it failed (marked by an 'alerts-lost' record).` : '; nothing was lost.'),
    );
    this.failing = undefined;
  }
}

/** Kept referenced: the wait at exit is what keeps the process alive until the records are out. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
