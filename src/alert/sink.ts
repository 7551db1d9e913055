import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import { SyswardenError } from '../errors.js';
import { formatAlert, type Alert } from './alert.js';

/** Writes alerts as JSON lines (or readable lines with `pretty`) to stdout or a file, appending. */
export class AlertWriter {
  private readonly fd: number;
  private readonly owned: boolean;

  constructor(
    out: string | undefined,
    private readonly pretty = false,
  ) {
    if (out === undefined || out === '-') {
      this.fd = 1;
      this.owned = false;
    } else {
      // Alerts name containers and processes, and syswarden runs as root in
      // directories others may write: a new file is root's alone (0600), and a
      // symlink planted at the path is refused (O_NOFOLLOW), not appended through.
      const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW } = constants;
      let fd: number;
      try {
        fd = openSync(out, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
          throw new SyswardenError('ERR_IO', `alert file ${out} is a symbolic link, which syswarden will not follow. Fix: remove the link or pass --out with a regular file.`);
        }
        throw new SyswardenError('ERR_IO', `cannot open alert file ${out}: ${(err as Error).message}. Fix: check the directory exists and is writable.`);
      }
      const st = fstatSync(fd);
      // A FIFO or a terminal is a fine destination; a directory cannot be opened for writing anyway.
      if (!st.isFile() && !st.isFIFO() && !st.isCharacterDevice()) {
        closeSync(fd);
        throw new SyswardenError('ERR_IO', `alert file ${out} is not a regular file. Fix: pass --out with a regular file.`);
      }
      this.fd = fd;
      this.owned = true;
    }
  }

  private broken = false;

  write(a: Alert): void {
    if (this.broken) return;
    try {
      writeSync(this.fd, (this.pretty ? formatAlert(a) : JSON.stringify(a)) + '\n');
    } catch (err) {
      // The reader went away (`| head`): stop writing, keep detecting.
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') this.broken = true;
      else throw err;
    }
  }

  close(): void {
    if (this.owned) closeSync(this.fd);
  }
}
