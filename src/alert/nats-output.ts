import { randomBytes } from 'node:crypto';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { NetworkOutput, type NetworkOutputOptions, type Outgoing, type SendResult } from './network-output.js';

/** Most records published before the server is asked to confirm them (one PING/PONG round trip per batch). */
const NATS_BATCH = 256;
/** A confirmation that does not come in this time is a failure: the batch is sent again. */
const CONFIRM_TIMEOUT_MS = 5000;

export interface NatsTarget {
  /** host:port */
  server: string;
  subject: string;
}

/**
 * Each record is one message on a NATS subject. A batch counts as delivered
 * only when the server has answered a PING sent after it (the server handles
 * a connection's commands in order, so the PONG says it has them all); until
 * then it stays in the queue, and after a disconnect it is published again.
 * The NATS client drops what it was handed while disconnected, so nothing is
 * published while the connection is down: the records wait in our bounded
 * queue, counted. Every message carries `Nats-Msg-Id: <run>-<seq>`, so a
 * JetStream stream on the subject drops a batch sent twice.
 */
export class NatsOutput extends NetworkOutput {
  readonly where: string;
  protected readonly maxBatch = NATS_BATCH;
  private readonly target: NatsTarget;
  private readonly run = randomBytes(6).toString('hex');
  private nc: NatsConnection | undefined;
  private connected = false;
  private lastError: string;
  private readonly connecting: Promise<void>;

  constructor(target: NatsTarget, options: NetworkOutputOptions) {
    super(options);
    this.target = target;
    this.where = `nats://${target.server}/${target.subject}`;
    this.lastError = `still connecting to ${target.server}`;
    this.connecting = this.connectLoop();
  }

  /** The first connection: tried until it works (a service may start before its bus); the client reconnects by itself after that. */
  private async connectLoop(): Promise<void> {
    let wait = 100;
    while (!this.abort.signal.aborted) {
      try {
        const nc = await connect({
          servers: this.target.server,
          name: 'syswarden',
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          reconnectJitter: 100,
          timeout: 2000,
          // A dead server is noticed within about 10 s even when no RST comes.
          pingInterval: 5000,
          maxPingOut: 2,
        });
        if (this.abort.signal.aborted) {
          await nc.close();
          return;
        }
        this.nc = nc;
        this.connected = true;
        void this.followStatus(nc);
        this.kick();
        return;
      } catch (e) {
        this.lastError = `cannot connect to ${this.target.server}: ${describe(e)}`;
        await pause(wait, this.abort.signal);
        wait = Math.min(wait * 2, 2000);
      }
    }
  }

  private async followStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.connected = false;
        this.lastError = `disconnected from ${this.target.server}`;
      } else if (s.type === 'reconnect') {
        this.connected = true;
        this.kick();
      }
    }
  }

  protected async send(batch: Outgoing[], signal: AbortSignal): Promise<SendResult> {
    const nc = this.nc;
    if (!nc || !this.connected || nc.isClosed()) return { delivered: 0, retry: this.lastError };
    const max = nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    let n = 0;
    for (const o of batch) {
      if (o.body.length > max) {
        if (n > 0) break; // send what is before it first
        return { refused: `the record is ${o.body.length} bytes, more than the server's max_payload of ${max}`, fix: 'raise max_payload in the NATS server configuration' };
      }
      const h = headers();
      h.set('Nats-Msg-Id', `${this.run}-${o.seq}`);
      nc.publish(this.target.subject, o.body, { headers: h });
      n++;
    }
    await within(nc.flush(), CONFIRM_TIMEOUT_MS, signal, `${this.target.server} did not confirm within ${CONFIRM_TIMEOUT_MS / 1000} s`);
    return { delivered: n };
  }

  protected async shutdown(): Promise<void> {
    await this.connecting;
    await this.nc?.close();
  }
}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string; cause?: { code?: string } };
  return err.cause?.code ?? err.code ?? err.message ?? String(e);
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    t.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}

function within<T>(p: Promise<T>, ms: number, signal: AbortSignal, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const stop = (err: Error) => {
      clearTimeout(t);
      signal.removeEventListener('abort', onAbort);
      reject(err);
    };
    const onAbort = () => stop(new Error('stopped at exit'));
    const t = setTimeout(() => stop(new Error(what)), ms);
    t.unref();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        clearTimeout(t);
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => stop(e instanceof Error ? e : new Error(String(e))),
    );
  });
}
