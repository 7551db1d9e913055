import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { connect, type NatsConnection } from '@nats-io/transport-node';

/** The Debian package's server; a test that needs it fails (never skips) when it is missing. */
export const NATS_SERVER = ['/usr/bin/nats-server', '/usr/sbin/nats-server'].find((p) => existsSync(p)) ?? 'nats-server';

/** A port nothing listens on right now, on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Poll `cond` every 20 ms until it holds; fail naming `what` after `timeoutMs`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const holds = async () => {
    try {
      return await cond();
    } catch {
      return false; // a server coming back answers errors for a moment
    }
  };
  while (!(await holds())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A real nats-server with JetStream on 127.0.0.1:`port`, its store in
 * `storeDir` (so a stream outlives a restart). start() resolves once it
 * accepts clients; stop() ends it (SIGTERM) and resolves once it has exited.
 */
export class NatsServer {
  private child: ChildProcess | undefined;
  private log = '';

  constructor(
    readonly port: number,
    private readonly storeDir: string,
  ) {}

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.log = '';
    const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    let exited = false;
    child.once('exit', () => (exited = true));
    await until(() => exited || /Server is ready/.test(this.log), 'nats-server to be ready');
    if (exited) throw new Error(`nats-server exited while starting:\n${this.log}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await gone;
    clearTimeout(timer);
  }
}

/** A JetStream stream (file storage) capturing `subject`: the subscriber that keeps what it got across a server restart. */
export async function createStream(nc: NatsConnection, name: string, subject: string): Promise<void> {
  const r = await nc.request(`$JS.API.STREAM.CREATE.${name}`, JSON.stringify({ name, subjects: [subject], storage: 'file', duplicate_window: 120_000_000_000 }), { timeout: 10_000 });
  const answer = r.json<{ error?: unknown }>();
  if (answer.error) throw new Error(`cannot create stream ${name}: ${JSON.stringify(answer.error)}`);
}

/** Messages the stream holds. */
export async function streamCount(nc: NatsConnection, name: string): Promise<number> {
  const r = await nc.request(`$JS.API.STREAM.INFO.${name}`, '', { timeout: 10_000 });
  return r.json<{ state: { messages: number } }>().state.messages;
}

/** Every message of the stream, in stream order, parsed as JSON. */
export async function streamRecords(nc: NatsConnection, name: string): Promise<Array<Record<string, unknown>>> {
  const n = await streamCount(nc, name);
  const out: Array<Record<string, unknown>> = [];
  for (let seq = 1; seq <= n; seq++) {
    const r = await nc.request(`$JS.API.STREAM.MSG.GET.${name}`, JSON.stringify({ seq }), { timeout: 10_000 });
    const m = r.json<{ message: { data: string } }>().message;
    out.push(JSON.parse(Buffer.from(m.data, 'base64').toString('utf8')) as Record<string, unknown>);
  }
  return out;
}

/** A test-side client that keeps trying while the server restarts. */
export function client(server: NatsServer): Promise<NatsConnection> {
  return connect({ servers: server.url, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 100, waitOnFirstConnect: true, timeout: 5000 });
}
