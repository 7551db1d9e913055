/**
 * A small FTP client for scenario workloads: one control connection, passive
 * data connections to 127.0.0.1 (the server is on the host's loopback, so
 * the address in a 227 reply is not trusted), every call bounded in time.
 */
import { connect, type Socket } from 'node:net';
import { SyswardenError } from '../../errors.js';

export interface FtpReply {
  code: number;
  /** Every line of the reply, joined by '\n'. */
  text: string;
}

export interface FtpOptions {
  port: number;
  /** Bound of each call (a command and its reply, a whole transfer). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const MAX_DATA = 16 << 20;

function ftpError(message: string): SyswardenError {
  return new SyswardenError('ERR_SCENARIO', message);
}

/** Open a TCP connection to 127.0.0.1:port within `timeoutMs`. */
function dial(port: number, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    const fail = (e: Error) => {
      cleanup();
      s.destroy();
      reject(e);
    };
    const onAbort = () => fail(ftpError(`connection to 127.0.0.1:${port} aborted`));
    const t = setTimeout(() => fail(ftpError(`no connection to 127.0.0.1:${port} within ${timeoutMs} ms`)), timeoutMs);
    const cleanup = () => {
      clearTimeout(t);
      s.off('error', fail);
      signal?.removeEventListener('abort', onAbort);
    };
    s.once('error', fail);
    signal?.addEventListener('abort', onAbort, { once: true });
    s.once('connect', () => {
      cleanup();
      resolve(s);
    });
  });
}

export class FtpClient {
  private buffer = '';
  /** The lines of a multi-line reply read so far. */
  private partial: string[] = [];
  private replies: FtpReply[] = [];
  private waiter: ((r: FtpReply | Error) => void) | undefined;
  private failure: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly port: number,
    private readonly timeoutMs: number,
    private readonly signal?: AbortSignal,
  ) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    const end = (e?: Error) => this.fail(e ?? ftpError(`the FTP server on 127.0.0.1:${port} closed the control connection`));
    socket.on('error', end);
    socket.on('close', () => end());
  }

  /** Connect and read the server's greeting (220). */
  static async open(o: FtpOptions): Promise<FtpClient> {
    const timeoutMs = o.timeoutMs ?? 10_000;
    const c = new FtpClient(await dial(o.port, timeoutMs, o.signal), o.port, timeoutMs, o.signal);
    const hello = await c.reply();
    if (hello.code !== 220) {
      c.close();
      throw ftpError(`FTP greeting on 127.0.0.1:${o.port} was ${hello.code} ${hello.text}`);
    }
    return c;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      this.partial.push(line);
      // A reply ends on "ddd " (or a bare "ddd"); "ddd-" opens a multi-line one, whose inner lines may be anything.
      const m = /^(\d{3})(?: |$)/.exec(line);
      const first = /^(\d{3})/.exec(this.partial[0]!);
      if (!m || !first || m[1] !== first[1]) continue;
      const reply = { code: Number(m[1]), text: this.partial.join('\n') };
      this.partial = [];
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w(reply);
      else this.replies.push(reply);
    }
    if (this.buffer.length > 64 << 10) this.fail(ftpError(`an FTP reply line from 127.0.0.1:${this.port} is over 64 KiB`));
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(this.failure);
  }

  /** The next reply, within the call's time bound. */
  private reply(): Promise<FtpReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    const signal = this.signal;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.fail(ftpError('FTP session aborted'));
      const t = setTimeout(() => {
        this.waiter = undefined;
        signal?.removeEventListener('abort', onAbort);
        this.socket.destroy();
        reject(ftpError(`no FTP reply from 127.0.0.1:${this.port} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiter = (r) => {
        clearTimeout(t);
        signal?.removeEventListener('abort', onAbort);
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
    });
  }

  /** Send one command and read its reply (whatever the code). */
  async send(command: string): Promise<FtpReply> {
    if (this.failure) throw this.failure;
    this.socket.write(`${command}\r\n`);
    return this.reply();
  }

  /** Send a command and insist on a reply code in [lo, hi]. */
  private async expect(command: string, lo: number, hi = lo + 99): Promise<FtpReply> {
    const r = await this.send(command);
    if (r.code < lo || r.code > hi) throw ftpError(`FTP ${command.startsWith('PASS ') ? 'PASS ****' : command} answered ${r.code} ${r.text}`);
    return r;
  }

  /** USER then PASS; true when the server let us in (230), false when it refused the password (530). */
  async login(user: string, password: string): Promise<boolean> {
    const u = await this.send(`USER ${user}`);
    if (u.code === 230) return true;
    if (u.code !== 331) throw ftpError(`FTP USER ${user} answered ${u.code} ${u.text}`);
    const p = await this.send(`PASS ${password}`);
    if (p.code === 230) return true;
    if (p.code === 530) return false;
    throw ftpError(`FTP PASS for ${user} answered ${p.code} ${p.text}`);
  }

  /** The working directory (257 "path"). */
  async pwd(): Promise<string> {
    const r = await this.expect('PWD', 257, 257);
    return /"((?:[^"]|"")*)"/.exec(r.text)?.[1]?.replace(/""/g, '"') ?? '';
  }

  async cwd(dir: string): Promise<void> {
    await this.expect(`CWD ${dir}`, 250, 250);
  }

  /** Binary transfers from here on. */
  async binary(): Promise<void> {
    await this.expect('TYPE I', 200, 200);
  }

  async mkd(dir: string): Promise<void> {
    await this.expect(`MKD ${dir}`, 257, 257);
  }

  async dele(path: string): Promise<void> {
    await this.expect(`DELE ${path}`, 250, 250);
  }

  /** SITE CHMOD; returns the reply, since a server may refuse it (chmod_enable=NO). */
  async chmod(mode: number, path: string): Promise<FtpReply> {
    return this.send(`SITE CHMOD ${mode.toString(8)} ${path}`);
  }

  /** PASV, then a data connection to 127.0.0.1 and the port of the 227 reply. */
  private async passive(): Promise<Socket> {
    const r = await this.expect('PASV', 227, 227);
    const m = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(r.text);
    if (!m) throw ftpError(`FTP PASV reply without an address: ${r.text}`);
    return dial(Number(m[5]) * 256 + Number(m[6]), this.timeoutMs, this.signal);
  }

  /** A command that sends data to us (LIST, RETR): its bytes, after the final 2xx. */
  private async download(command: string): Promise<Buffer> {
    const data = await this.passive();
    const chunks: Buffer[] = [];
    let size = 0;
    const ended = new Promise<void>((resolve, reject) => {
      data.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_DATA) data.destroy(ftpError(`FTP ${command} sent over ${MAX_DATA} bytes`));
        else chunks.push(c);
      });
      data.once('end', resolve);
      data.once('error', reject);
    });
    try {
      await this.expect(command, 100, 199);
      await this.bounded(ended, command);
      await this.expect2xx(command);
    } finally {
      data.destroy();
    }
    return Buffer.concat(chunks);
  }

  /** The reply that closes a transfer (226). */
  private async expect2xx(command: string): Promise<void> {
    const r = await this.reply();
    if (r.code < 200 || r.code > 299) throw ftpError(`FTP ${command} ended with ${r.code} ${r.text}`);
  }

  private async bounded<T>(p: Promise<T>, what: string): Promise<T> {
    let t: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(ftpError(`FTP ${what} took longer than ${this.timeoutMs} ms`)), this.timeoutMs)))]);
    } finally {
      clearTimeout(t);
    }
  }

  /** LIST (of `path`, or of the working directory): the listing's lines. */
  async list(path?: string): Promise<string[]> {
    const text = (await this.download(path ? `LIST ${path}` : 'LIST')).toString('utf8');
    return text.split(/\r?\n/).filter((l) => l.length > 0);
  }

  /** NLST: bare names. */
  async names(path?: string): Promise<string[]> {
    const text = (await this.download(path ? `NLST ${path}` : 'NLST')).toString('utf8');
    return text.split(/\r?\n/).filter((l) => l.length > 0);
  }

  async retr(path: string): Promise<Buffer> {
    return this.download(`RETR ${path}`);
  }

  async stor(path: string, body: Buffer | string): Promise<void> {
    const data = await this.passive();
    try {
      await this.expect(`STOR ${path}`, 100, 199);
      await this.bounded(new Promise<void>((resolve, reject) => {
        data.once('error', reject);
        data.end(body, resolve);
      }), `STOR ${path}`);
      await this.expect2xx(`STOR ${path}`);
    } finally {
      data.destroy();
    }
  }

  /** QUIT politely, then close. */
  async quit(): Promise<void> {
    try {
      if (!this.failure) await this.send('QUIT');
    } finally {
      this.close();
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
