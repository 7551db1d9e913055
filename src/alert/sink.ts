import { closeSync, openSync, writeSync } from 'node:fs';
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
      try {
        this.fd = openSync(out, 'a', 0o600);
      } catch (err) {
        throw new SyswardenError('ERR_IO', `cannot open alert file ${out}: ${(err as Error).message}. Fix: check the directory exists and is writable.`);
      }
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
