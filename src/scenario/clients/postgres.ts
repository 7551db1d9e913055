/**
 * A minimal PostgreSQL client (frontend/backend protocol 3.0) for scenario
 * workloads: startup with trust authentication only, simple queries, rows
 * as text. Every step is bounded in time; a timeout closes the connection.
 */
import { connect, type Socket } from 'node:net';
import { SyswardenError } from '../../errors.js';

export interface QueryResult {
  /** Rows of every statement in the query string, in order, as text (null for NULL). */
  rows: (string | null)[][];
  /** The command tags (SELECT 3, INSERT 0 1, ...). */
  commands: string[];
}

/** The server answered a query with an ErrorResponse: the connection is still usable. */
export class PgQueryError extends SyswardenError {
  constructor(readonly sqlState: string, message: string) {
    super('ERR_SCENARIO', `postgres: ${message} (SQLSTATE ${sqlState})`);
  }
}

interface Message {
  type: string;
  body: Buffer;
}

const PROTOCOL_3 = 196608;
const MAX_MESSAGE = 16 << 20;

/** ErrorResponse / NoticeResponse fields: a type byte and a C string each, then a zero byte. */
function errorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    if (end < 0) break;
    fields.set(String.fromCharCode(body[at]!), body.toString('utf8', at + 1, end));
    at = end + 1;
  }
  return fields;
}

function dataRow(body: Buffer): (string | null)[] {
  const n = body.readInt16BE(0);
  const row: (string | null)[] = [];
  let at = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(at);
    at += 4;
    if (len < 0) row.push(null);
    else {
      row.push(body.toString('utf8', at, at + len));
      at += len;
    }
  }
  return row;
}

export interface PgConnectOptions {
  port: number;
  user: string;
  database: string;
  /** Bounds the connection and startup, then every query. */
  timeoutMs?: number;
}

export class PgClient {
  private buf: Buffer = Buffer.alloc(0);
  private queue: Message[] = [];
  private waiter: (() => void) | undefined;
  private failed: Error | undefined;

  private constructor(private readonly socket: Socket, private readonly timeoutMs: number) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new SyswardenError('ERR_SCENARIO', 'postgres closed the connection')));
  }

  /** Connect to 127.0.0.1 and start a session; only trust authentication is accepted. */
  static async connect(o: PgConnectOptions): Promise<PgClient> {
    const timeoutMs = o.timeoutMs ?? 5000;
    const socket = connect({ host: '127.0.0.1', port: o.port });
    const client = new PgClient(socket, timeoutMs);
    try {
      const params = Buffer.from(`user\0${o.user}\0database\0${o.database}\0application_name\0syswarden-scenario\0\0`);
      const head = Buffer.alloc(8);
      head.writeInt32BE(8 + params.length, 0);
      head.writeInt32BE(PROTOCOL_3, 4);
      socket.write(Buffer.concat([head, params]));
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = await client.next(deadline, 'startup');
        if (m.type === 'R') {
          const code = m.body.readInt32BE(0);
          if (code !== 0) throw new SyswardenError('ERR_SCENARIO', `postgres asks user ${o.user} for authentication method ${code}; this client speaks trust only. Fix: trust 127.0.0.1 in pg_hba.conf.`);
        } else if (m.type === 'E') {
          const f = errorFields(m.body);
          throw new PgQueryError(f.get('C') ?? '?', f.get('M') ?? 'startup refused');
        } else if (m.type === 'Z') return client;
        // ParameterStatus, BackendKeyData and notices are not needed here.
      }
    } catch (e) {
      client.fail(e as Error);
      throw e;
    }
  }

  /** Run a simple query (one or more statements); rejects with PgQueryError once the server is ready again. */
  async query(sql: string): Promise<QueryResult> {
    if (this.failed) throw this.failed;
    const body = Buffer.from(`${sql}\0`);
    const head = Buffer.alloc(5);
    head.write('Q', 0);
    head.writeInt32BE(4 + body.length, 1);
    this.socket.write(Buffer.concat([head, body]));
    const deadline = Date.now() + this.timeoutMs;
    const result: QueryResult = { rows: [], commands: [] };
    let error: PgQueryError | undefined;
    for (;;) {
      const m = await this.next(deadline, 'query');
      if (m.type === 'D') result.rows.push(dataRow(m.body));
      else if (m.type === 'C') result.commands.push(m.body.toString('utf8', 0, Math.max(0, m.body.length - 1)));
      else if (m.type === 'E') {
        const f = errorFields(m.body);
        error = new PgQueryError(f.get('C') ?? '?', f.get('M') ?? 'error');
      } else if (m.type === 'G' || m.type === 'H') {
        // COPY ... FROM STDIN / TO STDOUT is not what this client is for: end it.
        throw this.fail(new SyswardenError('ERR_SCENARIO', 'postgres started a COPY to or from the client, which this client does not speak'));
      } else if (m.type === 'Z') break;
    }
    if (error) throw error;
    return result;
  }

  /** Say goodbye (Terminate) and close. */
  close(): void {
    if (this.failed) return;
    this.failed = new SyswardenError('ERR_SCENARIO', 'postgres connection closed');
    // The server closes on Terminate; the timer only bounds a server that does not.
    this.socket.end(Buffer.from([0x58, 0, 0, 0, 4]));
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let at = 0;
    while (this.buf.length - at >= 5) {
      const len = this.buf.readInt32BE(at + 1);
      if (len < 4 || len > MAX_MESSAGE) {
        this.fail(new SyswardenError('ERR_SCENARIO', `postgres sent a message of length ${len}`));
        return;
      }
      if (this.buf.length - at < 1 + len) break;
      this.queue.push({ type: String.fromCharCode(this.buf[at]!), body: this.buf.subarray(at + 5, at + 1 + len) });
      at += 1 + len;
    }
    this.buf = this.buf.subarray(at);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next message from the server, or a rejection at `deadline`. */
  private async next(deadline: number, what: string): Promise<Message> {
    for (;;) {
      const m = this.queue.shift();
      if (m) return m;
      if (this.failed) throw this.failed;
      const left = deadline - Date.now();
      if (left <= 0) throw this.fail(new SyswardenError('ERR_SCENARIO', `postgres ${what}: no answer within ${this.timeoutMs} ms`));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Close the connection for good; returns the first failure (to throw). */
  private fail(e: Error): Error {
    this.failed ??= e;
    this.socket.destroy();
    this.wake();
    return this.failed;
  }
}
