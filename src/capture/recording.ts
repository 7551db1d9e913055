import { closeSync, openSync, writeSync, fsyncSync, readSync, fstatSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { arch, release } from 'node:os';
import { Packr } from 'msgpackr';
import { SyswardenError } from '../errors.js';
import type { CollectorStats, TargetInfo } from './collector.js';
import { EventBatch, RECORD_LAYOUT } from './record.js';

/*
 * A recording is:  "SWREC\0" u16le(format)  then frames  u32le(length) msgpack(frame).
 * Length-prefixed frames make a file cut short by a crash readable up to its
 * last complete frame, and a foreign file recognisable by its first bytes.
 */
export const RECORDING_MAGIC = Buffer.from('SWREC\0', 'latin1');
export const RECORDING_FORMAT = 1;
const PREAMBLE = RECORDING_MAGIC.length + 2;
/** A frame larger than this is corruption, not data (a batch is at most 16 MiB of records). */
const MAX_FRAME = 1 << 28;

export interface RecordedTarget {
  slot: number;
  spec: string;
  kind: string;
  cgroupPath: string;
  cgroupId: string;
  container?: { id: string; name?: string };
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
    slot: t.slot,
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

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Create `path` (refusing to overwrite unless `overwrite`) and write the header. */
  static create(
    path: string,
    info: { targets: RecordedTarget[]; allProcesses: boolean },
    options: { overwrite?: boolean } = {},
  ): RecordingWriter {
    let fd: number;
    try {
      fd = openSync(path, options.overwrite ? 'w' : 'wx', 0o600);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EEXIST') {
        throw new SyswardenError('ERR_EXISTS', `${path} already exists; syswarden will not overwrite a recording. Choose another --out or pass --force.`);
      }
      throw new SyswardenError('ERR_IO', `cannot create ${path}: ${e.message}`);
    }
    const w = new RecordingWriter(path, fd);
    const preamble = Buffer.alloc(PREAMBLE);
    RECORDING_MAGIC.copy(preamble);
    preamble.writeUInt16LE(RECORDING_FORMAT, RECORDING_MAGIC.length);
    writeSync(fd, preamble);
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
    return w;
  }

  get eventCount(): number {
    return this.events;
  }

  writeBatch(batch: EventBatch): void {
    this.events += batch.count;
    this.frame({ type: 'batch', drainedNs: Number(batch.drainedNs), events: new Uint8Array(batch.buffer) });
  }

  /** Write the trailer and close. */
  finish(stats: CollectorStats, gone: number[] = []): void {
    this.frame({ type: 'trailer', endTime: Date.now(), stats, gone });
    if (this.fd !== undefined) {
      try {
        fsyncSync(this.fd);
      } catch (err) {
        // Pipes and character devices (e.g. --out /dev/null) cannot be synced; that is fine.
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EINVAL' && code !== 'EROFS' && code !== 'ENOTSUP') throw err;
      }
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private frame(f: RecordingFrame): void {
    if (this.fd === undefined) throw new SyswardenError('ERR_CLOSED', `recording ${this.path} is already finished.`);
    const body = packr.pack(f);
    const buf = Buffer.allocUnsafe(4 + body.length);
    buf.writeUInt32LE(body.length, 0);
    body.copy(buf, 4);
    writeSync(this.fd, buf);
  }
}

export interface ReadRecordingResult {
  header: RecordingHeader;
  trailer?: RecordingTrailer;
  /** Set when the file ends inside a frame or has no trailer (the recorder was killed). */
  truncated?: string;
}

function notRecording(path: string, first: Buffer): SyswardenError {
  const text = first.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  const hint = /^[a-z_0-9]+\(|^\[pid|^\d+ /.test(first.toString('latin1'))
    ? ' It looks like strace output: give it to the commands that read traces (e.g. eval, replay), not to summary.'
    : '';
  return new SyswardenError('ERR_NOT_RECORDING', `${path} is not a syswarden recording (it starts with '${text.slice(0, 16)}', not 'SWREC').${hint}`);
}

/** True when the file starts with the recording magic. */
export function isRecording(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const b = Buffer.alloc(RECORDING_MAGIC.length);
    return readSync(fd, b, 0, b.length, 0) === b.length && b.equals(RECORDING_MAGIC);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Read a recording frame by frame, streaming (memory stays one frame):
 * yields each batch in order and returns the header, the trailer, and why
 * the file is incomplete if it is. Throws a clear error for a file that is
 * not a recording at all.
 */
export async function* recordingBatches(path: string): AsyncGenerator<{ batch: EventBatch; header: RecordingHeader }, ReadRecordingResult> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new SyswardenError('ERR_IO', `cannot open ${path}: ${(err as Error).message}`);
  }
  try {
    let st: Stats;
    try {
      st = fstatSync(fh.fd);
    } catch (err) {
      throw new SyswardenError('ERR_IO', `cannot read ${path}: ${(err as Error).message}`);
    }
    if (st.isDirectory()) throw new SyswardenError('ERR_IO', `${path} is a directory, not a recording.`);
    const pre = Buffer.alloc(PREAMBLE);
    const { bytesRead } = await fh.read(pre, 0, PREAMBLE, 0);
    if (bytesRead < PREAMBLE || !pre.subarray(0, RECORDING_MAGIC.length).equals(RECORDING_MAGIC)) {
      throw notRecording(path, pre.subarray(0, bytesRead));
    }
    const format = pre.readUInt16LE(RECORDING_MAGIC.length);
    if (format !== RECORDING_FORMAT) {
      throw new SyswardenError(
        'ERR_RECORDING_VERSION',
        `${path} is a recording of format ${format}; this syswarden reads format ${RECORDING_FORMAT}. ${format > RECORDING_FORMAT ? 'Upgrade syswarden.' : 'Re-record it.'}`,
      );
    }

    let pos = PREAMBLE;
    const size = st.size;
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
      await fh.read(lenBuf, 0, 4, pos);
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
      const body = Buffer.allocUnsafe(len);
      await fh.read(body, 0, len, pos + 4);
      let frame: RecordingFrame;
      try {
        frame = packr.unpack(body) as RecordingFrame;
      } catch {
        if (frameIndex === 0) throw new SyswardenError('ERR_NOT_RECORDING', `${path} has a recording preamble but an unreadable header.`);
        truncated = `frame ${frameIndex} at byte ${pos} is not valid msgpack; the rest is unreadable`;
        break;
      }
      pos += 4 + len;
      if (frameIndex === 0) {
        if (!frame || frame.type !== 'header') throw new SyswardenError('ERR_NOT_RECORDING', `${path} does not start with a recording header.`);
        header = frame;
        if (header.recordSize !== RECORD_LAYOUT.size) {
          throw new SyswardenError('ERR_RECORDING_VERSION', `${path} holds ${header.recordSize}-byte records; this syswarden reads ${RECORD_LAYOUT.size}-byte ones.`);
        }
      } else if (frame.type === 'batch') {
        const bytes = frame.events;
        if (!(bytes instanceof Uint8Array) || bytes.byteLength % RECORD_LAYOUT.size !== 0) {
          truncated = `frame ${frameIndex} is a batch of ${bytes?.byteLength} bytes, not whole records; the rest is unreadable`;
          break;
        }
        // Copy to an aligned buffer of its own: the views need 4-byte alignment.
        const own = new Uint8Array(bytes.byteLength);
        own.set(bytes);
        yield { batch: new EventBatch(own.buffer, BigInt(Math.round(frame.drainedNs))), header: header! };
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
    await fh.close();
  }
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
