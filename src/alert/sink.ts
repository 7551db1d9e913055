import { closeSync, fstatSync, ftruncateSync, writeSync } from 'node:fs';
import { openOutputFd } from '../io/safe-file.js';
import type { AlertRecord, AlertsLostRecord } from './alert.js';
import { BoundedQueue } from './bounded-queue.js';
import { encodeRecord, type AlertFormat } from './format.js';

export interface AlertWriterOptions {
  /** How records are written (default 'json': JSON lines). */
  format?: AlertFormat;
  /** Former spelling of format: 'pretty'. */
  pretty?: boolean;
  /** Records kept in memory while the output cannot be written (default 10 000); beyond that new ones are lost, counted. */
  maxBuffered?: number;
  /** The same bound in bytes (default 4 MiB). */
  maxBufferedBytes?: number;
  /** How often a failed output is tried again, ms (default 1000). Every new record tries too. */
  retryMs?: number;
  /** Where write failures and recoveries are reported (default: stderr). */
  report?: (message: string) => void;
  /** Called for each record refused because the buffer was full (so other outputs can say so). */
  onLoss?: (record: AlertRecord) => void;
}

export interface AlertWriterStats {
  /** Records written whole. */
  written: number;
  /** Records waiting in memory for the output to take them. */
  buffered: number;
  /** Records lost: the memory bound was reached while the output failed, or they were still unwritten at close(). */
  lost: number;
  /** Write attempts that failed (other than a full pipe, which is only waited for). */
  writeErrors: number;
  /** The reader of the output went away (EPIPE): nothing is written any more, by its choice. */
  readerGone: boolean;
}

const DEFAULTS = { maxBuffered: 10_000, maxBufferedBytes: 4 << 20, retryMs: 1000 };
/** A pipe whose reader is slow is tried again soon: that is back-pressure, not a failure. */
const PIPE_FULL_RETRY_MS = 20;

function positiveInt(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new RangeError(`${name} must be a whole number from 1 to ${max}, got ${String(v)}`);
  return v;
}

function fixFor(code: string): string {
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'free space on that file system (or raise the quota)';
  if (code === 'EIO') return 'check the disk and the kernel log';
  if (code === 'EFBIG') return 'rotate the alert file';
  return 'check the output and its file system';
}

/**
 * Writes alert records as JSON lines (or readable lines with `pretty`) to
 * stdout or a file, appending. Detection must outlive its output: when a
 * write fails (a full disk), records wait in a bounded buffer and are written
 * as soon as the output takes them again (retried on a timer and with every
 * new record); what does not fit is counted as lost and marked in the output
 * by an 'alerts-lost' record where it is missing. The failure and the
 * recovery are reported once each. write() never throws.
 *
 * Each record is one line written in order, and a write the kernel took only
 * in part goes on from where it stopped, so the file never holds half a line
 * followed by another record; close() cuts off a half line it cannot finish.
 */
export class AlertWriter {
  private readonly fd: number;
  private readonly owned: boolean;
  readonly where: string;
  private readonly format: AlertFormat;
  private readonly maxBuffered: number;
  private readonly maxBufferedBytes: number;
  private readonly retryMs: number;
  private readonly report: (message: string) => void;
  private readonly onLoss: ((record: AlertRecord) => void) | undefined;
  /** Encoded lines not yet written whole; `headDone` bytes of the first one are written already. */
  private readonly pending: BoundedQueue<Buffer>;
  private headDone = 0;
  private readonly counts = { written: 0, writeErrors: 0 };
  private readerGone = false;
  /** The error code while writes fail, and what was lost since they started failing. */
  private failing: string | undefined;
  private lostWhileFailing = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerMs = 0;
  private closed = false;

  /**
   * `out` undefined or '-' is stdout. A file is opened by the one safe opener
   * (appending, created 0600, never through a symbolic link): an unusable
   * path throws a SyswardenError here, before anything is watched.
   */
  constructor(out: string | undefined, options: AlertWriterOptions = {}) {
    this.format = options.format ?? (options.pretty === true ? 'pretty' : 'json');
    this.maxBuffered = positiveInt('maxBuffered', options.maxBuffered ?? DEFAULTS.maxBuffered, 1 << 24);
    this.maxBufferedBytes = positiveInt('maxBufferedBytes', options.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes, 1 << 30);
    this.pending = new BoundedQueue<Buffer>({ maxItems: this.maxBuffered, maxBytes: this.maxBufferedBytes, sizeOf: (b) => b.length });
    this.retryMs = positiveInt('retryMs', options.retryMs ?? DEFAULTS.retryMs, 3_600_000);
    this.report = options.report ?? ((m) => console.error(`syswarden: ${m}`));
    this.onLoss = options.onLoss;
    if (out === undefined || out === '-') {
      this.fd = 1;
      this.owned = false;
      this.where = 'stdout';
    } else {
      this.fd = openOutputFd(out, { what: 'alert file', append: true });
      this.owned = true;
      this.where = out;
    }
  }

  write(record: AlertRecord): void {
    if (this.closed || this.readerGone) return;
    const line = Buffer.from(encodeRecord(record, this.format) + '\n', 'utf8');
    // Full: the output may take something now, making room.
    if (this.pending.full(line.length)) this.flush();
    if (!this.pending.push(line, this.gapMark)) {
      if (this.failing !== undefined) this.lostWhileFailing++;
      this.onLoss?.(record);
      return;
    }
    this.flush();
  }

  /** Write what is buffered, as far as the output takes it. Returns whether nothing is left. */
  flush(): boolean {
    if (this.readerGone) return true;
    while (this.pending.length > 0) {
      const head = this.pending.peek()!;
      let n: number;
      try {
        n = writeSync(this.fd, head, this.headDone, head.length - this.headDone);
      } catch (err) {
        this.failed(err as NodeJS.ErrnoException);
        return this.readerGone;
      }
      this.headDone += n;
      if (this.headDone < head.length) {
        if (n > 0) continue; // a short write: the rest goes next, right after it
        this.retryIn(this.retryMs);
        return false;
      }
      this.pending.shift();
      this.headDone = 0;
      this.counts.written++;
      // Room again after a loss: the mark goes where the records are missing.
      if (this.pending.length === 0) this.pending.mark(this.gapMark);
    }
    this.recovered();
    return true;
  }

  stats(): AlertWriterStats {
    return { ...this.counts, lost: this.pending.lost, buffered: this.pending.length, readerGone: this.readerGone };
  }

  /**
   * Write what is buffered one last time; what the output still refuses is
   * counted as lost and reported, and a half-written line is cut off.
   */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.stopTimer();
    const left = this.readerGone ? 0 : this.pending.length;
    if (left > 0) {
      if (this.headDone > 0) this.cutHalfLine();
      this.pending.dropAll();
      this.report(`${left} alert record(s) could not be written to ${this.where} (${this.failing ?? 'the output would not take them'}) and are lost; ${this.pending.lost} lost in all.`);
    }
    this.pending.clear();
    if (this.owned) closeSync(this.fd);
  }

  /** The 'alerts-lost' record that goes where records are missing. */
  private readonly gapMark = (missing: number, total: number): Buffer => {
    const mark: AlertsLostRecord = {
      type: 'alerts-lost',
      time: new Date().toISOString(),
      count: missing,
      total,
      reason: `${this.where} could not be written (${this.failing ?? 'it failed'}) and more than ${this.maxBuffered} records or ${this.maxBufferedBytes} bytes waited`,
    };
    return Buffer.from(encodeRecord(mark, this.format) + '\n', 'utf8');
  };

  private failed(err: NodeJS.ErrnoException): void {
    const code = err.code ?? 'EIO';
    if (code === 'EPIPE') {
      // The reader went away (`| head`): stop writing, keep detecting.
      this.readerGone = true;
      this.pending.clear();
      this.headDone = 0;
      this.stopTimer();
      return;
    }
    if (code === 'EAGAIN') {
      this.retryIn(PIPE_FULL_RETRY_MS);
      return;
    }
    this.counts.writeErrors++;
    if (this.failing === undefined) {
      this.failing = code;
      this.lostWhileFailing = 0;
      this.report(
        `cannot write alerts to ${this.where}: ${err.message}. Detection goes on: up to ${this.maxBuffered} records wait in memory and are written once it works again ` +
          `(tried every ${this.retryMs / 1000} s). Fix: ${fixFor(code)}.`,
      );
    }
    this.retryIn(this.retryMs);
  }

  private recovered(): void {
    this.stopTimer();
    if (this.failing === undefined) return;
    this.report(
      `writing alerts to ${this.where} works again` +
        (this.lostWhileFailing > 0 ? `; ${this.lostWhileFailing} record(s) were lost while it failed (marked by an 'alerts-lost' record).` : '; nothing was lost.'),
    );
    this.failing = undefined;
    this.lostWhileFailing = 0;
  }

  private retryIn(ms: number): void {
    if (this.closed) return;
    if (this.timer && this.timerMs === ms) return;
    this.stopTimer();
    this.timerMs = ms;
    this.timer = setInterval(() => this.flush(), ms);
    // Retrying must not keep a finished command alive: close() makes the last attempt.
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The output ends in the first part of a line it would not take the rest of: cut it, so the file stays whole lines. */
  private cutHalfLine(): void {
    try {
      const st = fstatSync(this.fd);
      if (st.isFile() && st.size >= this.headDone) ftruncateSync(this.fd, st.size - this.headDone);
    } catch {
      /* a pipe or a device: nothing to cut */
    }
  }
}
