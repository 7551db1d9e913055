import { decodeProcEvents, PROC_LAYOUT } from './proc-event.js';
import { closeSync, ftruncateSync, writeSync, fsyncSync, read, readSync } from 'node:fs';
import { promisify } from 'node:util';
import { arch, release } from 'node:os';
import { Packr } from '../msgpack.js';
import { SyswardenError } from '../errors.js';
import { openInputFile, openOutputFd } from '../io/safe-file.js';
import { field, unpackPlain } from '../safe-msgpack.js';
import type { CollectorStats, TargetInfo } from './collector.js';
import { EventBatch, RECORD_LAYOUT, type ProcBatch } from './record.js';
import type { ContainerIdentity } from './targets.js';

/*
 * A recording is:  "SWREC\0" u16le(format)  then frames  u32le(length) msgpack(frame).
 * Length-prefixed frames make a file cut short by a crash readable up to its
 * last complete frame, and a foreign file recognisable by its first bytes.
 */
export const RECORDING_MAGIC = Buffer.from('SWREC\0', 'latin1');
/** 2: process events carry vtid/vpid (592 bytes, was 576). */
export const RECORDING_FORMAT = 2;
/** The oldest format this reader still reads: format 1's process events are widened as they are read (their vtid/vpid read 0, unknown). */
const OLDEST_FORMAT = 1;
/** Format 1's process event: PROC_LAYOUT up to vtid, padded to 576 bytes. */
const PROC_V1_SIZE = 576;

function procSizeOf(format: number): number {
  return format === 1 ? PROC_V1_SIZE : PROC_LAYOUT.size;
}

/** Format 1's process events in today's layout: every field in place, vtid/vpid and child_vtid/child_vpid 0 (unknown). */
function widenProcV1(bytes: Uint8Array): Uint8Array {
  const n = bytes.byteLength / PROC_V1_SIZE;
  const out = new Uint8Array(n * PROC_LAYOUT.size);
  for (let i = 0; i < n; i++) out.set(bytes.subarray(i * PROC_V1_SIZE, i * PROC_V1_SIZE + PROC_LAYOUT.vtid), i * PROC_LAYOUT.size);
  return out;
}
const PREAMBLE = RECORDING_MAGIC.length + 2;
/** A frame larger than this is corruption, not data (a batch is at most 16 MiB of records). */
const MAX_FRAME = 1 << 28;
/** The most records and process events one batch frame holds (16 KiB and 36 KiB): see writeBatch. */
const FRAME_EVENTS = 1024;
const FRAME_PROC = 64;

export interface RecordedTarget {
  slot: number;
  spec: string;
  kind: string;
  cgroupPath: string;
  cgroupId: string;
  container?: ContainerIdentity;
}

export interface RecordingHeader {
  type: 'header';
  format: number;
  arch: string;
  kernel: string;
  /** Wall-clock start (ms since the epoch) and the monotonic clock at that instant (ns), to place kernel timestamps in time. */
  startTime: number;
  startMonoNs: number;
  recordSize: number;
  allProcesses: boolean;
  targets: RecordedTarget[];
  tool: string;
}

export interface RecordingBatch {
  type: 'batch';
  drainedNs: number;
  events: Uint8Array;
  /** The process events that came with the batch: raw sw_proc_event records (absent when none, and in recordings made before them). */
  proc?: Uint8Array;
}

export interface RecordingTrailer {
  type: 'trailer';
  endTime: number;
  stats: CollectorStats;
  /** Targets that went away during the recording (e.g. the container stopped). */
  gone: number[];
}

export type RecordingFrame = RecordingHeader | RecordingBatch | RecordingTrailer;

const packr = new Packr({ useRecords: false, moreTypes: false });

export function describeTarget(t: TargetInfo): RecordedTarget {
  const out: RecordedTarget = {
    slot: t.id, // what its events carry (slot + generation)
    spec: t.spec,
    kind: t.kind,
    cgroupPath: t.cgroup.path,
    cgroupId: t.cgroup.id.toString(),
  };
  if (t.container) out.container = { ...t.container };
  return out;
}

function monoNowNs(): number {
  return Number(process.hrtime.bigint());
}

/**
 * Appends frames to a new recording. Each frame is written whole with one
 * write, so a crash leaves at most one partial frame at the end.
 */
export class RecordingWriter {
  private fd: number | undefined;
  private events = 0;
  private batches = 0;
  /** Bytes of complete frames: where the file is cut back to if a write fails. */
  private offset = 0;
  private failed: SyswardenError | undefined;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /**
   * Create `path` (refusing to overwrite unless `overwrite`; see openOutputFd
   * for what else is refused) and write the header.
   */
  static create(
    path: string,
    info: { targets: RecordedTarget[]; allProcesses: boolean },
    options: { overwrite?: boolean } = {},
  ): RecordingWriter {
    // A recording shows what a container ran: it is created 0600, never through a planted link.
    const fd = openOutputFd(path, { what: 'recording', force: options.overwrite === true });
    const w = new RecordingWriter(path, fd);
    try {
      const preamble = Buffer.alloc(PREAMBLE);
      RECORDING_MAGIC.copy(preamble);
      preamble.writeUInt16LE(RECORDING_FORMAT, RECORDING_MAGIC.length);
      w.frameBytes(preamble);
      const header: RecordingHeader = {
        type: 'header',
        format: RECORDING_FORMAT,
        arch: arch(),
        kernel: release(),
        startTime: Date.now(),
        startMonoNs: monoNowNs(),
        recordSize: RECORD_LAYOUT.size,
        allProcesses: info.allProcesses,
        targets: info.targets,
        tool: 'syswarden',
      };
      w.frame(header);
    } catch (err) {
      w.close();
      throw err;
    }
    return w;
  }

  get eventCount(): number {
    return this.events;
  }

  /**
   * Append a batch, as frames of at most FRAME_EVENTS records and
   * FRAME_PROC process events: a batch may hold a million records (a busy
   * or starved reader gets larger batches), and on a disk that fills up the
   * recording keeps everything up to the last frame that fit, not up to the
   * last whole batch.
   */
  writeBatch(batch: EventBatch): void {
    const drainedNs = Number(batch.drainedNs);
    const proc = batch.procBytes ? new Uint8Array(batch.procBytes) : undefined;
    const procs = proc ? proc.byteLength / PROC_LAYOUT.size : 0;
    const view = proc ? new DataView(proc.buffer, proc.byteOffset, proc.byteLength) : undefined;
    const at = (q: number): number => view!.getUint32(q * PROC_LAYOUT.size + PROC_LAYOUT.at, true);
    // Each process event stays between the same two records: a frame's
    // records run up to the next process event that does not fit in it.
    // (A batch with neither still makes its one frame.)
    let a = 0;
    let p = 0;
    do {
      let b = Math.min(a + FRAME_EVENTS, batch.count);
      let q = p;
      while (q < procs && q - p < FRAME_PROC && (b === batch.count || at(q) < b)) q++;
      if (q < procs && q - p === FRAME_PROC && at(q) < b) b = Math.max(a, at(q));
      const frame: RecordingBatch = { type: 'batch', drainedNs, events: new Uint8Array(batch.buffer, a * RECORD_LAYOUT.size, (b - a) * RECORD_LAYOUT.size) };
      if (q > p) {
        const part = proc!.slice(p * PROC_LAYOUT.size, q * PROC_LAYOUT.size);
        const pv = new DataView(part.buffer);
        for (let i = 0; i < q - p; i++) pv.setUint32(i * PROC_LAYOUT.size + PROC_LAYOUT.at, at(p + i) - a, true);
        frame.proc = part;
      }
      this.frame(frame);
      this.events += b - a;
      this.batches++;
      a = b;
      p = q;
    } while (a < batch.count || p < procs);
  }

  /** Why writing stopped, if it did (the file is readable up to the last complete batch). */
  get failure(): SyswardenError | undefined {
    return this.failed;
  }

  /** Write the trailer and close. After a failed write, close without a trailer (readers warn). */
  finish(stats: CollectorStats, gone: number[] = []): void {
    if (!this.failed) {
      try {
        this.frame({ type: 'trailer', endTime: Date.now(), stats, gone });
      } catch {
        /* recorded in this.failed; the file still reads up to its last batch */
      }
    }
    if (this.fd === undefined) return;
    try {
      fsyncSync(this.fd);
    } catch (err) {
      // Pipes and character devices cannot be synced; that is fine. Any
      // other failure (EIO: a disk often reports it only here, the writes
      // having gone to the page cache) is the recording's failure, unless
      // an earlier one already is: the first cause is the one to report.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EINVAL' && code !== 'EROFS' && code !== 'ENOTSUP') {
        this.failed ??= new SyswardenError(
          'ERR_IO',
          `saving ${this.path} to disk failed (${code ?? (err as Error).message}) at the end of the recording: what was written (${this.batches} batches, ${this.events} events) may not all be on the disk. Check the file system and record again.`,
          { cause: err },
        );
      }
    } finally {
      try {
        closeSync(this.fd);
      } catch {
        /* the descriptor is released either way */
      }
      this.fd = undefined;
    }
  }

  private close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private frame(f: RecordingFrame): void {
    const body = packr.pack(f);
    const buf = Buffer.allocUnsafe(4 + body.length);
    buf.writeUInt32LE(body.length, 0);
    body.copy(buf, 4);
    this.frameBytes(buf);
  }

  /** Write `buf` whole, or cut the file back to its last complete frame and record why. */
  private frameBytes(buf: Buffer): void {
    if (this.failed) throw this.failed;
    if (this.fd === undefined) throw new SyswardenError('ERR_CLOSED', `recording ${this.path} is already finished.`);
    try {
      // A full disk can take part of a frame: keep writing until all of it is in or the write fails.
      for (let done = 0; done < buf.length; ) done += writeSync(this.fd, buf, done, buf.length - done);
      this.offset += buf.length;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Cut the half-written frame off, so the file ends on a whole batch.
      try {
        ftruncateSync(this.fd, this.offset);
      } catch {
        /* a pipe or device: nothing to cut */
      }
      const full = e.code === 'ENOSPC' || e.code === 'EDQUOT';
      this.failed = new SyswardenError(
        full ? 'ERR_DISK_FULL' : 'ERR_IO',
        `${full ? 'the disk is full' : `writing failed (${e.code ?? e.message})`} while recording to ${this.path}: the recording ends after ${this.batches} batches (${this.events} events) and reads back up to there. ` +
          (full ? 'Free space (or record to another disk) and record again.' : 'Check the file system and record again.'),
        { cause: err },
      );
      throw this.failed;
    }
  }
}

export interface ReadRecordingResult {
  header: RecordingHeader;
  trailer?: RecordingTrailer;
  /** Set when the file ends inside a frame or has no trailer (the recorder was killed). */
  truncated?: string;
}

/**
 * A file that does not start with the preamble. The message never quotes the
 * file: a recording path may be a link to a secret (/etc/shadow), and its
 * first bytes would end up on a terminal or in a log.
 */
function notRecording(path: string, first: Buffer): SyswardenError {
  const hint = /^[a-z_0-9]+\(|^\[pid|^\d+ /.test(first.toString('latin1'))
    ? ' It looks like strace output: give it to a command that reads traces (summary, replay, train --from, eval).'
    : '';
  return new SyswardenError('ERR_NOT_RECORDING', `${path} is not a syswarden recording (it does not start with the syswarden recording preamble 'SWREC').${hint}`);
}

/*
 * The schema of a frame. Everything a reader of the recording will touch is
 * checked here, once, so summary/replay/train never meet a field of the wrong
 * type (a NaN drainedNs used to crash BigInt(), a null frame crashed `.type`).
 */
function checkFrame(v: unknown, first: boolean, fileFormat: number): RecordingFrame {
  const bad = (why: string): never => {
    throw new SyswardenError('ERR_RECORDING_FRAME', why);
  };
  const obj = (x: unknown, what: string): object => (typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x) ? x : bad(`${what} is not a map`));
  const str = (o: object, k: string, what: string, max = 4096): string => {
    const x = field(o, k);
    return typeof x === 'string' && x.length <= max ? x : bad(`${what}.${k} is not a string of at most ${max} characters`);
  };
  const num = (o: object, k: string, what: string, min = 0): number => {
    const x = field(o, k);
    return typeof x === 'number' && Number.isFinite(x) && x >= min ? x : bad(`${what}.${k} is ${String(x)}, not a finite number >= ${min}`);
  };
  const int = (o: object, k: string, what: string, min: number, max: number): number => {
    const x = field(o, k);
    return typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max ? x : bad(`${what}.${k} is ${String(x)}, not an integer in [${min}, ${max}]`);
  };
  const f = obj(v, 'the frame');
  const type = field(f, 'type');
  if (first && type !== 'header') bad(`the first frame is of type '${String(type)}', not a header`);
  if (type === 'header') {
    if (!first) bad('a second header frame was found');
    const format = int(f, 'format', 'header', 0, 0xffff);
    const recordSize = int(f, 'recordSize', 'header', 0, 1 << 20);
    if (format !== fileFormat || recordSize !== RECORD_LAYOUT.size) {
      throw new SyswardenError('ERR_RECORDING_VERSION', `the header declares format ${format} with ${recordSize}-byte records (the file's preamble says format ${fileFormat}); this syswarden reads formats ${OLDEST_FORMAT}–${RECORDING_FORMAT} with ${RECORD_LAYOUT.size}-byte records. Fix: read it with the syswarden that recorded it, or re-record it.`);
    }
    const allProcesses = field(f, 'allProcesses');
    if (typeof allProcesses !== 'boolean') bad('header.allProcesses is not a boolean');
    const targetsIn = field(f, 'targets');
    if (!Array.isArray(targetsIn) || targetsIn.length > 0x10000) bad('header.targets is not an array of at most 65536 targets');
    const targets = (targetsIn as unknown[]).map((t, i): RecordedTarget => {
      const what = `header.targets[${i}]`;
      const o = obj(t, what);
      const out: RecordedTarget = {
        slot: int(o, 'slot', what, 0, 0xffff),
        spec: str(o, 'spec', what),
        kind: str(o, 'kind', what),
        cgroupPath: str(o, 'cgroupPath', what),
        cgroupId: str(o, 'cgroupId', what, 32),
      };
      const c = field(o, 'container');
      if (c !== undefined && c !== null) {
        const co = obj(c, `${what}.container`);
        out.container = { id: str(co, 'id', `${what}.container`, 256) };
        for (const k of ['name', 'image', 'imageId'] as const) if (field(co, k) !== undefined) out.container[k] = str(co, k, `${what}.container`, 256);
      }
      return out;
    });
    return {
      type: 'header', format, recordSize, allProcesses: allProcesses as boolean, targets,
      arch: str(f, 'arch', 'header', 64),
      kernel: str(f, 'kernel', 'header', 256),
      startTime: num(f, 'startTime', 'header'),
      startMonoNs: num(f, 'startMonoNs', 'header'),
      tool: str(f, 'tool', 'header', 256),
    };
  }
  if (type === 'batch') {
    const events = field(f, 'events');
    if (!(events instanceof Uint8Array) || events.byteLength % RECORD_LAYOUT.size !== 0) {
      bad(`a batch holds ${events instanceof Uint8Array ? `${events.byteLength} bytes, not whole ${RECORD_LAYOUT.size}-byte records` : 'no event bytes'}`);
    }
    const drainedNs = field(f, 'drainedNs');
    if (typeof drainedNs !== 'number' || !Number.isInteger(drainedNs) || drainedNs < 0) bad(`a batch has drainedNs ${String(drainedNs)}, not a whole number of ns`);
    const proc = field(f, 'proc');
    const procSize = procSizeOf(fileFormat);
    if (proc !== undefined && (!(proc instanceof Uint8Array) || proc.byteLength % procSize !== 0)) {
      bad(`a batch's process events are ${proc instanceof Uint8Array ? `${proc.byteLength} bytes, not whole ${procSize}-byte records` : 'not bytes'}`);
    }
    const out: RecordingBatch = { type: 'batch', events: events as Uint8Array, drainedNs: drainedNs as number };
    if (proc !== undefined) out.proc = fileFormat === 1 ? widenProcV1(proc as Uint8Array) : (proc as Uint8Array);
    return out;
  }
  if (type === 'trailer') {
    const stats = obj(field(f, 'stats'), 'trailer.stats');
    const kernel = obj(field(stats, 'kernel'), 'trailer.stats.kernel');
    const user = obj(field(stats, 'user'), 'trailer.stats.user');
    const attach = field(stats, 'attach');
    if (attach !== 'tp_btf' && attach !== 'tracepoint') bad(`trailer.stats.attach is '${String(attach)}', not tp_btf or tracepoint`);
    const gone = field(f, 'gone');
    if (!Array.isArray(gone) || !gone.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff)) bad('trailer.gone is not an array of target slots');
    return {
      type: 'trailer',
      endTime: num(f, 'endTime', 'trailer'),
      gone: gone as number[],
      stats: {
        attach: attach as CollectorStats['attach'],
        kernel: { matched: num(kernel, 'matched', 'trailer.stats.kernel'), emitted: num(kernel, 'emitted', 'trailer.stats.kernel'), dropped: num(kernel, 'dropped', 'trailer.stats.kernel') },
        user: {
          batches: num(user, 'batches', 'trailer.stats.user'),
          events: num(user, 'events', 'trailer.stats.user'),
          droppedBatches: num(user, 'droppedBatches', 'trailer.stats.user'),
          droppedEvents: num(user, 'droppedEvents', 'trailer.stats.user'),
        },
      },
    };
  }
  return bad(`a frame has the unknown type '${String(type).slice(0, 40)}'`);
}

/** Recordings are read frame by frame, so memory stays one frame whatever the file's size: no size limit. */
const MAX_RECORDING_BYTES = Number.MAX_SAFE_INTEGER;

const readAt = promisify(read);

/** True when the file is a regular file that starts with the recording magic. */
export function isRecording(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openInputFile(path, { what: 'recording', maxBytes: MAX_RECORDING_BYTES }).fd;
    const b = Buffer.alloc(RECORDING_MAGIC.length);
    return readSync(fd, b, 0, b.length, 0) === b.length && b.equals(RECORDING_MAGIC);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Hands every batch of a recording to `onBatch`, in order and one at a time
 * (a promise it returns is awaited), and returns how the file ended: its
 * trailer, or why it was cut short.
 */
export async function eachRecordingBatch(path: string, onBatch: (batch: EventBatch, header: RecordingHeader) => void | Promise<void>): Promise<ReadRecordingResult> {
  const it = recordingBatches(path);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
    await onBatch(r.value.batch, r.value.header);
  }
}

/**
 * Read a recording frame by frame, streaming (memory stays one frame):
 * yields each batch in order and returns the header, the trailer, and why
 * the file is incomplete if it is. Throws a clear error for a file that is
 * not a recording at all, an empty one included.
 */
export async function* recordingBatches(path: string): AsyncGenerator<{ batch: EventBatch; header: RecordingHeader }, ReadRecordingResult> {
  // A regular file only: a FIFO with no writer must not hang summary or replay.
  const { fd, size } = openInputFile(path, { what: 'recording', maxBytes: MAX_RECORDING_BYTES });
  try {
    if (size === 0) {
      throw new SyswardenError('ERR_EMPTY_INPUT', `${path} is empty (0 bytes), not a syswarden recording. Fix: give a file written by 'syswarden record' (an empty one is left when recording failed at once).`);
    }
    const pre = Buffer.alloc(PREAMBLE);
    const { bytesRead } = await readAt(fd, pre, 0, PREAMBLE, 0);
    if (bytesRead < PREAMBLE || !pre.subarray(0, RECORDING_MAGIC.length).equals(RECORDING_MAGIC)) {
      throw notRecording(path, pre.subarray(0, bytesRead));
    }
    const format = pre.readUInt16LE(RECORDING_MAGIC.length);
    if (format < OLDEST_FORMAT || format > RECORDING_FORMAT) {
      throw new SyswardenError(
        'ERR_RECORDING_VERSION',
        `${path} is a recording of format ${format}; this syswarden reads formats ${OLDEST_FORMAT}–${RECORDING_FORMAT}. ${format > RECORDING_FORMAT ? 'Upgrade syswarden.' : 'Re-record it.'}`,
      );
    }

    let pos = PREAMBLE;
    let header: RecordingHeader | undefined;
    let trailer: RecordingTrailer | undefined;
    let truncated: string | undefined;
    const lenBuf = Buffer.alloc(4);
    let frameIndex = 0;
    while (pos < size) {
      if (size - pos < 4) {
        truncated = `the file ends inside frame ${frameIndex}'s length (${size - pos} stray bytes)`;
        break;
      }
      await readAt(fd, lenBuf, 0, 4, pos);
      const len = lenBuf.readUInt32LE(0);
      if (len === 0 || len > MAX_FRAME) {
        if (frameIndex === 0) throw new SyswardenError('ERR_NOT_RECORDING', `${path} has a recording preamble but no valid header frame.`);
        truncated = `frame ${frameIndex} at byte ${pos} has an impossible length ${len}; the rest is unreadable`;
        break;
      }
      if (size - pos - 4 < len) {
        truncated = `the file ends inside frame ${frameIndex} (${size - pos - 4} of ${len} bytes)`;
        break;
      }
      // len is at most MAX_FRAME and no more than the bytes the file holds, so this allocation is bounded by the file.
      const body = Buffer.allocUnsafe(len);
      const { bytesRead: got } = await readAt(fd, body, 0, len, pos + 4);
      if (got !== len) {
        truncated = `the file shrank while frame ${frameIndex} was read (${got} of ${len} bytes)`;
        break;
      }
      let frame: RecordingFrame;
      try {
        frame = checkFrame(unpackPlain(packr, body, `frame ${frameIndex} at byte ${pos}`), frameIndex === 0, format);
      } catch (e) {
        if (!(e instanceof SyswardenError)) throw e;
        if (e.code === 'ERR_RECORDING_VERSION') throw new SyswardenError(e.code, `${path}: ${e.message}`, { cause: e });
        if (frameIndex === 0) throw new SyswardenError('ERR_NOT_RECORDING', `${path} has a recording preamble but an unreadable header: ${e.message}. Fix: give a file written by 'syswarden record', or re-record it.`, { cause: e });
        truncated = `${e.message}; the rest is unreadable`;
        break;
      }
      pos += 4 + len;
      if (frameIndex === 0) {
        header = frame as RecordingHeader;
      } else if (frame.type === 'batch') {
        // Copy to an aligned buffer of its own: the views need 4-byte alignment.
        const own = new Uint8Array(frame.events.byteLength);
        own.set(frame.events);
        yield { batch: new EventBatch(own.buffer, BigInt(frame.drainedNs), frame.proc ? procBatch(frame.proc) : undefined), header: header! };
      } else if (frame.type === 'trailer') {
        trailer = frame;
      }
      frameIndex++;
    }
    if (!header) throw new SyswardenError('ERR_NOT_RECORDING', `${path} has a recording preamble but no header (the recorder died at once).`);
    if (!truncated && !trailer) truncated = 'the file has no trailer (the recorder was stopped before it finished)';
    const result: ReadRecordingResult = { header };
    if (trailer) result.trailer = trailer;
    if (truncated) result.truncated = truncated;
    return result;
  } finally {
    closeSync(fd);
  }
}

/** A recorded batch's process events, decoded (records of a kind this reader does not know are skipped). */
function procBatch(bytes: Uint8Array): ProcBatch {
  const own = new Uint8Array(bytes.byteLength);
  own.set(bytes);
  return { events: decodeProcEvents(own.buffer).events, bytes: own.buffer };
}

/** Read a whole recording, calling `onBatch` for each batch in order (see recordingBatches). */
export async function readRecording(
  path: string,
  onBatch: (batch: EventBatch, header: RecordingHeader) => void | Promise<void>,
): Promise<ReadRecordingResult> {
  const it = recordingBatches(path);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
    await onBatch(r.value.batch, r.value.header);
  }
}
