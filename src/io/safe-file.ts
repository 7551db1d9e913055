import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, ftruncateSync, lstatSync, openSync, read, readSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { SyswardenError } from '../errors.js';

/*
 * The one way syswarden opens files. It runs as root and is pointed at paths
 * in directories others can write (/tmp, a shared results folder), so every
 * output refuses what an attacker could plant there: a symbolic link (the
 * write would land on its target), a hard link or a file of another user
 * (writing into it changes or shows what they hold), a device. Every input
 * must be a regular file of bounded size, so a FIFO without a writer cannot
 * hang a command and /dev/zero cannot fill its memory. No message ever quotes
 * what a file holds.
 */

export interface OutputOptions {
  /** What the file is, for messages: 'recording', 'model', 'JSON report'. */
  what: string;
  /** Replace an existing file (the CLI's --force). */
  force?: boolean;
  /** Append to an existing file (alert logs); a pipe or terminal is welcome too. */
  append?: boolean;
}

export interface InputOptions {
  /** What the file is, for messages: 'model', 'trace', 'recording'. */
  what: string;
  /** Largest size read; a larger file is refused before anything is read. */
  maxBytes: number;
}

const euid = (): number => process.geteuid?.() ?? 0;

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

function bytes(n: number): string {
  if (n >= 2 ** 30 && n % 2 ** 30 === 0) return `${n / 2 ** 30} GiB`;
  if (n >= 2 ** 20 && n % 2 ** 20 === 0) return `${n / 2 ** 20} MiB`;
  return `${n} bytes`;
}

function outputError(code: string, o: OutputOptions, path: string, why: string, fix: string, cause?: unknown): SyswardenError {
  return new SyswardenError(code, `cannot write ${o.what} ${path}: ${why}. Fix: ${fix}.`, cause === undefined ? undefined : { cause });
}

function exists(o: OutputOptions, path: string): SyswardenError {
  return new SyswardenError('ERR_EXISTS', `${o.what} ${path} already exists; syswarden will not replace it. Fix: pass --force to replace it, or choose another path.`);
}

/**
 * Why an existing file must not be written, or undefined. Streams (a FIFO,
 * a terminal, /dev/null) are fine when the caller appends or forces: there is
 * nothing to replace. The owner and link rules stop a file planted by another
 * user, or a hard link to a file elsewhere, from being written through.
 */
function refusal(st: Stats, o: OutputOptions, path: string): SyswardenError | undefined {
  if (st.isSymbolicLink()) return outputError('ERR_OUTPUT', o, path, 'it is a symbolic link, which syswarden will not follow', 'remove the link or choose another path');
  if (st.isDirectory()) return outputError('ERR_OUTPUT', o, path, 'it is a directory', 'name a file (inside the directory, if that was meant)');
  const stream = st.isFIFO() || st.isCharacterDevice();
  if (!st.isFile() && !stream) return outputError('ERR_OUTPUT', o, path, `it is ${kindOf(st)}, not a regular file`, 'choose a regular file path');
  if (!o.force && !o.append) return exists(o, path);
  // A device node cannot be planted without privilege; a FIFO or a file can, by anyone who can write the directory.
  if (!st.isCharacterDevice() && st.uid !== euid()) {
    return outputError('ERR_OUTPUT', o, path, `it belongs to uid ${st.uid}, not to uid ${euid()} that syswarden runs as, and its owner could read or change what syswarden writes`, 'remove it first or choose another path');
  }
  if (st.isFile() && st.nlink > 1) {
    return outputError('ERR_OUTPUT', o, path, `it has ${st.nlink} hard links, and writing into it would change the file under every other name too`, 'remove it first (that unlinks only this name) or choose another path');
  }
  return undefined;
}

/**
 * Checks an output path before anything is attached to the kernel or
 * computed: its directory exists, and whatever already sits at the path may
 * be written (see refusal()). Throws a SyswardenError naming the path, the
 * problem and the fix. The open itself checks again: this is for early,
 * clear failure, not for safety.
 */
export function checkOutputPath(path: string, opts: OutputOptions): void {
  if (typeof path !== 'string' || path.length === 0) throw outputError('ERR_OUTPUT', opts, "''", 'the path is empty', 'give a file path');
  const dir = dirname(path);
  let dst: Stats;
  try {
    dst = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw outputError('ERR_OUTPUT', opts, path, `the directory ${dir} does not exist`, `create it first (mkdir -p ${dir}) or choose another path`, e);
    if (code === 'ENOTDIR') throw outputError('ERR_OUTPUT', opts, path, `${dir} is not a directory`, 'choose a path inside a directory', e);
    throw outputError('ERR_OUTPUT', opts, path, `its directory ${dir} cannot be read (${code ?? String(e)})`, 'check the permissions of the directory', e);
  }
  if (!dst.isDirectory()) throw outputError('ERR_OUTPUT', opts, path, `${dir} is not a directory`, 'choose a path inside a directory');
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw outputError('ERR_OUTPUT', opts, path, `it cannot be examined (${code ?? String(e)})`, 'check the path and its permissions', e);
  }
  const why = refusal(st, opts, path);
  if (why) throw why;
}

function openFailure(e: unknown, path: string, o: OutputOptions): SyswardenError {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ELOOP':
      return outputError('ERR_OUTPUT', o, path, 'it is a symbolic link, which syswarden will not follow', 'remove the link or choose another path', e);
    case 'ENOENT':
      return outputError('ERR_OUTPUT', o, path, `the directory ${dirname(path)} does not exist`, `create it first (mkdir -p ${dirname(path)}) or choose another path`, e);
    case 'EEXIST':
      return exists(o, path);
    case 'EISDIR':
      return outputError('ERR_OUTPUT', o, path, 'it is a directory', 'name a file (inside the directory, if that was meant)', e);
    case 'EACCES':
    case 'EPERM':
      return outputError('ERR_OUTPUT', o, path, `permission denied (${code})`, `check that ${dirname(path)} is writable by this user`, e);
    case 'EROFS':
      return outputError('ERR_OUTPUT', o, path, 'the file system is read-only (EROFS)', 'choose a path on a writable file system', e);
    case 'ENOSPC':
    case 'EDQUOT':
      return outputError('ERR_DISK_FULL', o, path, `the disk is full (${code})`, `free space on the file system of ${dirname(path)} or choose another disk`, e);
    default:
      return outputError('ERR_OUTPUT', o, path, `${code ?? (e as Error).message}`, 'check the path and the file system', e);
  }
}

/**
 * The one way to open an output for writing. Creates `path` with mode 0600
 * (never following a symbolic link at it), refuses an existing one unless
 * `force` or `append`, and checks the opened descriptor (what it is, who owns
 * it, how many names it has) before anything is written: an existing file is
 * truncated (and narrowed to 0600) only once those checks pass. A FIFO opens
 * once a reader has it open, as with a shell redirection. The caller closes
 * the returned descriptor.
 */
export function openOutputFd(path: string, opts: OutputOptions): number {
  checkOutputPath(path, opts);
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_APPEND } = constants;
  const flags = O_WRONLY | O_CREAT | O_NOFOLLOW | (opts.append ? O_APPEND : 0) | (opts.force || opts.append ? 0 : O_EXCL);
  let fd: number;
  try {
    fd = openSync(path, flags, 0o600);
  } catch (e) {
    throw openFailure(e, path, opts);
  }
  try {
    // The descriptor is what will be written: judge it again (the path may have changed since the check).
    const st = fstatSync(fd);
    const why = refusal(st, { ...opts, force: true }, path);
    if (why) throw why;
    if (st.isFile() && opts.force && !opts.append) {
      ftruncateSync(fd, 0);
      // An existing file keeps its old mode; what syswarden writes is root's alone.
      fchmodSync(fd, 0o600);
    }
    return fd;
  } catch (e) {
    closeSync(fd);
    if (e instanceof SyswardenError) throw e;
    throw openFailure(e, path, opts);
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done);
}

/**
 * Writes a whole file (a model, a JSON report) so that a crash or a full
 * disk leaves the old file or the new one, never half of one: the data goes
 * to a temporary file beside `path` (random name, O_EXCL|O_NOFOLLOW, 0600),
 * is synced, and takes the name. Without `force` the name is taken with
 * link(), which fails if a file appeared there meanwhile. An existing FIFO or
 * terminal (with `force`) is written directly: there is nothing to replace.
 */
export async function writeFileSafely(path: string, data: string | Uint8Array, opts: { what: string; force?: boolean }): Promise<void> {
  const o: OutputOptions = { what: opts.what, force: opts.force === true };
  checkOutputPath(path, o);
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let existing: Stats | undefined;
  try {
    existing = lstatSync(path);
  } catch {
    existing = undefined;
  }
  if (existing && (existing.isFIFO() || existing.isCharacterDevice())) {
    const fd = openOutputFd(path, o);
    try {
      writeAll(fd, buf);
    } catch (e) {
      throw openFailure(e, path, o);
    } finally {
      closeSync(fd);
    }
    return;
  }

  const dir = dirname(path);
  // 128 random bits: a name nobody can guess and plant first; O_EXCL|O_NOFOLLOW refuse it if they do.
  const tmp = join(dir, `.${basename(path)}.${randomBytes(16).toString('hex')}.tmp`);
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
  let fh;
  let created = false;
  try {
    fh = await open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    created = true;
    await fh.writeFile(buf);
    await fh.sync();
    await fh.close();
    fh = undefined;
    if (o.force) {
      // rename() replaces what sits at `path`, a link planted since the check included, without following it.
      await rename(tmp, path);
    } else {
      try {
        await link(tmp, path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw exists(o, path);
        // A file system without hard links: fall back on the check made above.
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
        await rename(tmp, path);
      }
      await unlink(tmp).catch(() => {});
    }
    created = false;
  } catch (e) {
    await fh?.close().catch(() => {});
    if (created) await unlink(tmp).catch(() => {});
    if (e instanceof SyswardenError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw outputError(
        'ERR_DISK_FULL',
        o,
        path,
        `the disk is full (${code}); ${existing ? 'the old file is unchanged' : 'nothing was written'}`,
        `free space on the file system of ${dir} or choose another disk`,
        e,
      );
    }
    throw openFailure(e, path, o);
  }
  syncDirectory(dir);
}

/** Make the new name durable. Some file systems cannot sync a directory; the data itself is synced already. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch {
    /* best effort */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function inputError(code: string, o: InputOptions, path: string, why: string, fix: string, cause?: unknown): SyswardenError {
  return new SyswardenError(code, `cannot read ${o.what} ${path}: ${why}. Fix: ${fix}.`, cause === undefined ? undefined : { cause });
}

function inputRefusal(st: Stats, o: InputOptions, path: string): SyswardenError | undefined {
  if (!st.isFile()) {
    if (st.isDirectory()) return inputError('ERR_INPUT', o, path, 'it is a directory', `give a ${o.what} file`);
    const risk = st.isFIFO() ? 'a pipe with no writer would hang the command' : st.isSocket() ? 'a socket is not a file' : 'a device can be endless (/dev/zero) and fill memory';
    return inputError('ERR_INPUT', o, path, `it is ${kindOf(st)}, not a regular file (${risk})`, `save the ${o.what} to a regular file and give that`);
  }
  if (st.size > o.maxBytes) {
    return inputError('ERR_INPUT_TOO_LARGE', o, path, `it is ${bytes(st.size)}, more than the ${bytes(o.maxBytes)} syswarden reads for a ${o.what}`, `check that this is the right file`);
  }
  return undefined;
}

/**
 * The one way to open an input. The path is looked at before it is opened
 * (opening some devices has effects of its own), opened with O_NONBLOCK (so a
 * FIFO swapped in meanwhile cannot hang the open), and the opened descriptor
 * must be a regular file of at most `maxBytes`. The caller closes `fd`.
 */
export function openInputFile(path: string, opts: InputOptions): { fd: number; size: number } {
  const failed = (e: unknown): SyswardenError => {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return inputError('ERR_INPUT', opts, path, 'ENOENT (no such file)', 'check the path', e);
    if (code === 'EACCES' || code === 'EPERM') return inputError('ERR_INPUT', opts, path, `permission denied (${code})`, 'check the permissions of the file and its directories', e);
    if (code === 'ENOTDIR') return inputError('ERR_INPUT', opts, path, 'ENOTDIR (a part of the path is not a directory)', 'check the path', e);
    return inputError('ERR_INPUT', opts, path, code ?? (e as Error).message, 'check the path', e);
  };
  if (typeof path !== 'string' || path.length === 0) throw inputError('ERR_INPUT', opts, "''", 'the path is empty', `give a ${opts.what} file`);
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw failed(e);
  }
  const early = inputRefusal(st, opts, path);
  if (early) throw early;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    throw failed(e);
  }
  try {
    st = fstatSync(fd);
  } catch (e) {
    closeSync(fd);
    throw failed(e);
  }
  const why = inputRefusal(st, opts, path);
  if (why) {
    closeSync(fd);
    throw why;
  }
  return { fd, size: st.size };
}

const readAsync = promisify(read);

/** A whole input file (see openInputFile), read without ever holding more than its checked size. */
export async function readInputFile(path: string, opts: InputOptions): Promise<Buffer> {
  const { fd, size } = openInputFile(path, opts);
  try {
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await readAsync(fd, buf, got, size - got, got);
      if (bytesRead === 0) break; // the file shrank meanwhile
      got += bytesRead;
    }
    return got === size ? buf : buf.subarray(0, got);
  } catch (e) {
    throw readFailure(e, path, opts);
  } finally {
    closeSync(fd);
  }
}

/** readInputFile on the calling thread, for callers that cannot wait (the same checks and errors). */
export function readInputFileSync(path: string, opts: InputOptions): Buffer {
  const { fd, size } = openInputFile(path, opts);
  try {
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break; // the file shrank meanwhile
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } catch (e) {
    throw readFailure(e, path, opts);
  } finally {
    closeSync(fd);
  }
}

function readFailure(e: unknown, path: string, opts: InputOptions): SyswardenError {
  if (e instanceof SyswardenError) return e;
  return inputError('ERR_INPUT', opts, path, `reading failed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the file and the file system', e);
}

/**
 * A file of records written as they are made (JSON lines): opened like every
 * output (openOutputFd), each record written and synced before it counts, so
 * a killed run keeps every record it finished. A failed write closes the
 * file and says how many records it kept; a file that kept none is removed.
 */
export class RecordFile {
  private fd: number | undefined;
  private kept = 0;

  constructor(
    readonly path: string,
    private readonly opts: OutputOptions,
  ) {
    this.fd = openOutputFd(path, opts);
  }

  /** Records written and synced so far. */
  get records(): number {
    return this.kept;
  }

  append(line: string): void {
    if (this.fd === undefined) throw new SyswardenError('ERR_OUTPUT', `${this.opts.what} ${this.path} is closed.`);
    try {
      writeSync(this.fd, line.endsWith('\n') ? line : `${line}\n`);
      fsyncSync(this.fd);
      this.kept++;
    } catch (e) {
      this.close();
      const code = (e as NodeJS.ErrnoException).code;
      const kept = this.kept === 0 ? 'nothing was written' : `it keeps the ${this.kept} records written before`;
      if (this.kept === 0) {
        try {
          unlinkSync(this.path);
        } catch {
          /* already gone */
        }
      }
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        throw outputError('ERR_DISK_FULL', this.opts, this.path, `the disk is full (${code}); ${kept}`, `free space on the file system of ${dirname(this.path)} or choose another disk`, e);
      }
      throw outputError('ERR_OUTPUT', this.opts, this.path, `${code ?? (e as Error).message}; ${kept}`, 'check the path and the file system', e);
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }
}
