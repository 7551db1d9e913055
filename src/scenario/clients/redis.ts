/**
 * A minimal Redis client (RESP2) for scenario workloads: one connection,
 * commands sent as arrays of bulk strings, replies matched to commands in
 * order. Every call is bounded in time; a timeout closes the connection.
 */
import { connect, type Socket } from 'node:net';
import { SyswardenError } from '../../errors.js';

/** A reply: simple and bulk strings as strings, a nil as null, integers as numbers, arrays as arrays. */
export type RedisValue = string | number | null | RedisValue[];

/** The server answered a command with an error reply (-ERR ...): the connection is still usable. */
export class RedisReplyError extends SyswardenError {
  constructor(command: string, message: string) {
    super('ERR_SCENARIO', `redis ${command}: ${message}`);
  }
}

interface Pending {
  command: string;
  resolve(v: RedisValue): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

// A parsed reply and where the next one starts, or undefined when the buffer holds only part of it.
type Parsed = { value: RedisValue | RedisReplyError; end: number } | undefined;

const MAX_BUFFER = 16 << 20;

function parse(buf: Buffer, at: number, command: string): Parsed {
  if (at >= buf.length) return undefined;
  const eol = buf.indexOf('\r\n', at + 1);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (String.fromCharCode(buf[at]!)) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RedisReplyError(command, line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const n = Number(line);
      if (!Number.isInteger(n)) throw new SyswardenError('ERR_SCENARIO', `redis ${command}: bad bulk length '${line}'`);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return undefined;
      return { value: buf.toString('utf8', next, next + n), end: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (!Number.isInteger(n)) throw new SyswardenError('ERR_SCENARIO', `redis ${command}: bad array length '${line}'`);
      if (n < 0) return { value: null, end: next };
      const items: RedisValue[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, pos, command);
        if (!item) return undefined;
        // An error inside an array (EXEC) is kept as its text.
        items.push(item.value instanceof RedisReplyError ? item.value.message : item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new SyswardenError('ERR_SCENARIO', `redis ${command}: not a RESP2 reply (first byte 0x${buf[at]!.toString(16)})`);
  }
}

export class RedisClient {
  private buf: Buffer = Buffer.alloc(0);
  private pending: Pending[] = [];
  private failed: Error | undefined;

  private constructor(private readonly socket: Socket, private readonly timeoutMs: number) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new SyswardenError('ERR_SCENARIO', 'redis closed the connection')));
  }

  /** Connect to 127.0.0.1:`port`; `timeoutMs` bounds the connection and then every call. */
  static connect(port: number, timeoutMs = 5000): Promise<RedisClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SyswardenError('ERR_SCENARIO', `could not connect to redis on 127.0.0.1:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RedisClient(socket, timeoutMs));
      });
    });
  }

  /** Send one command; resolves with its reply, rejects with a RedisReplyError on an error reply. */
  call(...args: (string | number)[]): Promise<RedisValue> {
    const command = String(args[0] ?? '').toUpperCase();
    if (this.failed) return Promise.reject(this.failed);
    const parts = [`*${args.length}\r\n`];
    for (const a of args) {
      const s = String(a);
      parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new SyswardenError('ERR_SCENARIO', `redis ${command}: no reply within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.pending.push({ command, resolve, reject, timer });
      this.socket.write(parts.join(''));
    });
  }

  close(): void {
    this.fail(new SyswardenError('ERR_SCENARIO', 'redis connection closed'));
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    if (this.buf.length > MAX_BUFFER) return this.fail(new SyswardenError('ERR_SCENARIO', 'redis reply larger than 16 MiB'));
    let at = 0;
    for (;;) {
      const head = this.pending[0];
      if (!head) break;
      let r: Parsed;
      try {
        r = parse(this.buf, at, head.command);
      } catch (e) {
        return this.fail(e as Error);
      }
      if (!r) break;
      at = r.end;
      this.pending.shift();
      clearTimeout(head.timer);
      if (r.value instanceof RedisReplyError) head.reject(r.value);
      else head.resolve(r.value);
    }
    this.buf = this.buf.subarray(at);
  }

  /** Close the connection and reject every call still waiting. */
  private fail(e: Error): void {
    this.failed ??= e;
    this.socket.destroy();
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(this.failed);
    }
  }
}
