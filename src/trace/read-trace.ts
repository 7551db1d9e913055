import { closeSync, createReadStream, read } from 'node:fs';
import { promisify } from 'node:util';
import { SyswardenError } from '../errors.js';
import { openInputFile } from '../io/safe-file.js';
import { isZipFile, looksLikeZip, readZipDirectory, zipMemberBytes, type ZipDirectory, type ZipMember } from '../io/zip.js';
import { GrowableFloat64, GrowableUint16 } from './growable.js';
import { emptyIssues, reportLine, type TraceIssues } from './issues.js';
import { PlainParser, looksLikePlain } from './plain.js';
import type { EventSink, LineParser } from './sink.js';
import { StraceParser, looksLikeStrace } from './strace.js';
import { SysdigParser, looksLikeSysdig } from './sysdig.js';
import { recordingTraceFormat } from './recording-format.js';
import { parseAbi, type Abi } from './syscalls.js';
import { traceMember } from './paths.js';

export type { TraceIssues } from './issues.js';

/** Events in arrival order: `calls[i]` was made by stream `threads[i]`. */
export interface TraceBatch {
  readonly count: number;
  readonly threads: Int32Array;
  readonly calls: Uint16Array;
  /** Streams that ended after (not before) every event of this batch. */
  readonly ended: readonly number[];
}

export interface ReadTraceOptions {
  /** 'auto' (default) sniffs the head of the file; otherwise a registered format name. */
  format?: string;
  /** Skip and count bad lines instead of failing on the first one. */
  lenient?: boolean;
  /** Events per batch (default 8192). */
  batchSize?: number;
  /**
   * Syscall numbering of the traced process (default 'x86_64'): the strace
   * and plain readers read names and numbers in it, and deliver canonical ids
   * (see syscalls.ts). Recordings carry their own numbering and ignore it.
   */
  abi?: Abi;
  /** readTrace: keep each call's time too (TraceThread.times), where the format records it. */
  times?: boolean;
}

/**
 * A trace file format. `sniff` sees the first bytes of the file (up to 64 KiB);
 * `events` streams the file into the sink, never holding the whole file.
 * Recordings plug in here via registerTraceFormat().
 */
export interface TraceFormat {
  readonly name: string;
  readonly description: string;
  /** Higher wins when several formats accept the head; binary formats with a magic should use 100. */
  readonly priority: number;
  sniff(head: Buffer): boolean;
  /**
   * Feeds the file's events into the sink. Yields (no value) every so often
   * so a consumer can drain what the sink holds: that pause is the
   * backpressure which keeps a large file from piling up in memory.
   */
  events(path: string, sink: EventSink, issues: TraceIssues, lenient: boolean, abi: Abi): AsyncIterable<void>;
  /** Whether it reads a zip archive's trace member as well as a file (the line formats, through traceBytes). */
  readonly inArchives?: boolean;
}

const formats = new Map<string, TraceFormat>();

export function registerTraceFormat(format: TraceFormat): void {
  formats.set(format.name, format);
}

export function traceFormats(): TraceFormat[] {
  return [...formats.values()];
}

/** Longest line a reader accepts: real strace lines are a few KiB; a longer one is hostile or broken. */
export const MAX_LINE_BYTES = 1 << 20;

/** Traces are streamed, never held whole, so their size is not limited; only what they are (a regular file). */
const MAX_TRACE_BYTES = Number.MAX_SAFE_INTEGER;

/** Opens a trace for reading: a regular file only (a FIFO without a writer would hang the read), and not an empty one. */
function openTraceFile(path: string): { fd: number; size: number } {
  const opened = openInputFile(path, { what: 'trace', maxBytes: MAX_TRACE_BYTES });
  if (opened.size === 0) {
    closeSync(opened.fd);
    throw new SyswardenError('ERR_EMPTY_INPUT', `trace ${path} is empty (0 bytes): there are no syscalls to read. Fix: give a trace or recording that holds some (an empty file is left when a capture failed at once).`);
  }
  return opened;
}

/** A zip archive's trace member (see traceMember), refused when it is empty like an empty trace file. */
export function zipTrace(path: string): { zip: ZipDirectory; member: ZipMember } {
  const zip = readZipDirectory(path);
  const member = traceMember(zip);
  if (member.size === 0) {
    throw new SyswardenError('ERR_EMPTY_INPUT', `trace ${path}:${member.name} is empty (0 bytes): there are no syscalls to read. Fix: give a recording's archive that holds some.`);
  }
  return { zip, member };
}

/**
 * A trace's bytes, in chunks: the file's, or, for a zip archive (how
 * LID-DS 2021 ships each recording), its trace member's, inflated as read.
 */
function traceBytes(path: string): AsyncIterable<Buffer> {
  const { fd } = openTraceFile(path);
  if (isZipFile(fd)) {
    closeSync(fd);
    const { zip, member } = zipTrace(path);
    return zipMemberBytes(zip, member);
  }
  // The stream owns the descriptor from here and closes it, also when the reader stops early.
  return createReadStream('', { fd, autoClose: true });
}

/**
 * The file's lines, read in chunks. Unlike readline, a line is never held
 * beyond MAX_LINE_BYTES: a file with no newline in gigabytes is reported
 * (or skipped, when lenient) line by line instead of filling memory.
 */
async function* eachLine(
  path: string,
  parser: LineParser,
  issues: TraceIssues,
  lenient: boolean,
): AsyncGenerator<void> {
  let n = 0;
  let carry: Buffer[] = [];
  let carried = 0;
  let overlong = false;
  const emit = (buf: Buffer) => {
    n++;
    if (overlong) {
      reportLine(issues, lenient, 'malformed', path, n, `the line is longer than ${MAX_LINE_BYTES} bytes`);
      overlong = false;
      return;
    }
    let text = buf.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    parser.line(text, n);
  };
  for await (const chunk of traceBytes(path)) {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      emit(carried > 0 ? Buffer.concat([...carry, piece]) : piece);
      carry = [];
      carried = 0;
      start = nl + 1;
      if ((n & 1023) === 0) yield;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) continue;
    if (overlong || carried + rest.length > MAX_LINE_BYTES) {
      overlong = true; // keep nothing more of this line
      carry = [];
      carried = 0;
    } else {
      carry.push(Buffer.from(rest));
      carried += rest.length;
    }
  }
  if (carried > 0 || overlong) emit(Buffer.concat(carry));
  parser.finish();
}

/** Non-empty lines of the head, without a possibly cut last line. */
function headLines(head: Buffer): string[] {
  const text = head.toString('utf8');
  const lines = text.split(/\r?\n/);
  if (head.length >= SNIFF_BYTES) lines.pop();
  return lines.filter((l) => l.trim().length > 0).slice(0, 50);
}

function isText(head: Buffer): boolean {
  return !head.subarray(0, 4096).includes(0);
}

registerTraceFormat({
  name: 'strace',
  inArchives: true,
  description: 'strace text output (plain, -f pid prefixes, -t/-tt/-ttt timestamps, unfinished/resumed, signals)',
  priority: 20,
  sniff: (head) => isText(head) && headLines(head).some(looksLikeStrace),
  events: (path, sink, issues, lenient, abi) => eachLine(path, new StraceParser(path, sink, issues, lenient, abi), issues, lenient),
});

registerTraceFormat({
  name: 'sysdig',
  inArchives: true,
  description: "sysdig text events as the LID-DS datasets record them (2021: a recording's .sc file; 2019: its .txt file); each call counted at its entry",
  priority: 30,
  sniff: (head) => isText(head) && headLines(head).slice(0, 10).every(looksLikeSysdig),
  events: (path, sink, issues, lenient, abi) => eachLine(path, new SysdigParser(path, sink, issues, lenient, abi), issues, lenient),
});

registerTraceFormat({
  name: 'plain',
  inArchives: true,
  description: 'syscall names or numbers, one per line or whitespace-separated',
  priority: 10,
  sniff: (head) => isText(head) && headLines(head).every(looksLikePlain),
  events: (path, sink, issues, lenient, abi) => eachLine(path, new PlainParser(path, sink, issues, lenient, abi), issues, lenient),
});

registerTraceFormat(recordingTraceFormat);

const SNIFF_BYTES = 64 * 1024;

/** The first SNIFF_BYTES of a zip archive's trace member (less, when it is shorter). */
async function zipHead(path: string): Promise<Buffer> {
  const { zip, member } = zipTrace(path);
  const parts: Buffer[] = [];
  let got = 0;
  for await (const chunk of zipMemberBytes(zip, member)) {
    parts.push(chunk);
    got += chunk.length;
    if (got >= SNIFF_BYTES) break;
  }
  return Buffer.concat(parts).subarray(0, SNIFF_BYTES);
}

const readAt = promisify(read);

/**
 * The format of a file: the explicit one when given, else the best sniffing
 * match. Either way the file is checked first (a regular, non-empty file).
 */
export async function detectFormat(path: string, explicit = 'auto'): Promise<TraceFormat> {
  const chosen = explicit === 'auto' ? undefined : formats.get(explicit);
  if (explicit !== 'auto' && !chosen) {
    throw new SyswardenError('ERR_TRACE_FORMAT', `unknown trace format '${explicit}'. Fix: use one of auto, ${[...formats.keys()].join(', ')}.`);
  }
  const { fd } = openTraceFile(path);
  let head: Buffer;
  try {
    const buf = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await readAt(fd, buf, 0, SNIFF_BYTES, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    closeSync(fd);
  }
  const zipped = looksLikeZip(head);
  if (zipped) head = await zipHead(path);
  // What an archive can hold, and what the file is called in messages: the archive's trace member.
  const usable = [...formats.values()].filter((f) => !zipped || f.inArchives).map((f) => f.name);
  const match = chosen ?? [...formats.values()].filter((f) => f.sniff(head)).sort((a, b) => b.priority - a.priority)[0];
  if (zipped && match && !match.inArchives) {
    throw new SyswardenError('ERR_TRACE_FORMAT', `${path} is a zip archive; syswarden reads ${usable.join(', ')} traces in archives, not ${match.name}s. Fix: unzip it and give the file itself.`);
  }
  if (chosen) return chosen;
  if (!match) {
    const what = zipped ? `${path}:${zipTrace(path).member.name}` : path;
    throw new SyswardenError(
      'ERR_TRACE_FORMAT',
      `cannot tell the format of ${what}: it is neither strace output, sysdig (LID-DS) events, nor a plain list of syscalls. Fix: pass --format ${usable.join('|')}.`,
    );
  }
  return match;
}

/** Collects events into fixed-size batches and hands each full one to `emit`. */
class Batcher implements EventSink {
  private threads: Int32Array;
  private calls: Uint16Array;
  private n = 0;
  private ended: number[] = [];
  readonly pids: number[] = [];

  constructor(
    private readonly size: number,
    private readonly emit: (b: TraceBatch) => void,
  ) {
    this.threads = new Int32Array(size);
    this.calls = new Uint16Array(size);
  }

  thread(thread: number, pid: number): void {
    this.pids[thread] = pid;
  }

  call(thread: number, nr: number): void {
    // A stream that ended earlier in this batch must stay ended "after" the batch, so flush first.
    if (this.n === this.size || (this.ended.length > 0 && this.ended.includes(thread))) this.flush();
    this.threads[this.n] = thread;
    this.calls[this.n++] = nr;
  }

  end(thread: number): void {
    this.ended.push(thread);
  }

  flush(): void {
    if (this.n === 0 && this.ended.length === 0) return;
    this.emit({ count: this.n, threads: this.threads.subarray(0, this.n), calls: this.calls.subarray(0, this.n), ended: this.ended });
    this.threads = new Int32Array(this.size);
    this.calls = new Uint16Array(this.size);
    this.n = 0;
    this.ended = [];
  }
}

/** An opened trace: iterate it for batches; `issues` and `pids` fill in as it is read. */
export interface TraceSource extends AsyncIterable<TraceBatch> {
  readonly path: string;
  readonly format: string;
  readonly issues: TraceIssues;
  /** OS pid of each stream id seen so far. */
  readonly pids: readonly number[];
}

/**
 * Streams a trace as batches of (thread, syscall) events, for live-style
 * consumers such as IncrementalWindower.pushBatch. The parser runs ahead of
 * the consumer by at most ~1024 lines.
 */
export async function openTrace(path: string, opts: ReadTraceOptions = {}): Promise<TraceSource> {
  const abi = parseAbi(opts.abi ?? 'x86_64');
  const format = await detectFormat(path, opts.format ?? 'auto');
  const issues = emptyIssues();
  const lenient = opts.lenient ?? false;
  const size = opts.batchSize ?? 8192;
  const pids: number[] = [];
  return {
    path,
    format: format.name,
    issues,
    pids,
    async *[Symbol.asyncIterator]() {
      const ready: TraceBatch[] = [];
      const batcher = new Batcher(size, (b) => ready.push(b));
      const syncPids = () => {
        for (let t = pids.length; t < batcher.pids.length; t++) pids[t] = batcher.pids[t] ?? 0;
      };
      for await (const _ of format.events(path, batcher, issues, lenient, abi)) {
        syncPids();
        while (ready.length > 0) yield ready.shift()!;
      }
      batcher.flush();
      syncPids();
      while (ready.length > 0) yield ready.shift()!;
    },
  };
}

/** One thread's syscalls in order. */
export interface TraceThread {
  /** Stream id within this trace (0, 1, ...). */
  readonly id: number;
  /** OS pid/tid from the trace, 0 when the format has none. */
  readonly pid: number;
  readonly calls: Uint16Array;
  /** When each call was made (ns, the trace's clock): with ReadTraceOptions.times, from formats that record it. */
  readonly times?: Float64Array;
}

export interface Trace {
  readonly path: string;
  readonly format: string;
  readonly threads: TraceThread[];
  readonly issues: TraceIssues;
}

/** Reads a whole trace into per-thread streams (2 bytes per syscall, never the text twice). */
export async function readTrace(path: string, opts: ReadTraceOptions = {}): Promise<Trace> {
  const abi = parseAbi(opts.abi ?? 'x86_64');
  const format = await detectFormat(path, opts.format ?? 'auto');
  const issues = emptyIssues();
  const streams: GrowableUint16[] = [];
  const pids: number[] = [];
  // Times only when asked: 8 bytes a call beside the call's 2.
  const times: GrowableFloat64[] | undefined = opts.times ? [] : undefined;
  let timed = false;
  const sink: EventSink = {
    thread(t, pid) {
      pids[t] = pid;
      streams[t] = new GrowableUint16(256);
      if (times) times[t] = new GrowableFloat64(256);
    },
    call(t, nr, ns) {
      streams[t]!.push(nr);
      if (times) {
        times[t]!.push(ns ?? Number.NaN);
        if (ns !== undefined) timed = true;
      }
    },
    end() {},
  };
  for await (const _ of format.events(path, sink, issues, opts.lenient ?? false, abi));
  return {
    path,
    format: format.name,
    issues,
    threads: streams.map((s, id) => ({ id, pid: pids[id] ?? 0, calls: s.toArray(), ...(times && timed ? { times: times[id]!.toArray() } : {}) })),
  };
}
