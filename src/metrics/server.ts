import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SyswardenError } from '../errors.js';
import { formatAddress, type MetricsAddress } from './address.js';

/** What the server serves at /metrics. */
export type RenderMetrics = () => Promise<{ contentType: string; body: string }>;

/** Connections served at once: a scraper or two, and a person with curl; more wait in the kernel's backlog. */
const MAX_CONNECTIONS = 16;
/** A client that takes longer than this to send its request is dropped (a slow client must not hold a connection). */
const REQUEST_TIMEOUT_MS = 10_000;

const BIND_FAILURES: Record<string, string> = {
  EADDRINUSE: 'the port is in use by another process; choose another port, or stop that process',
  EADDRNOTAVAIL: 'that address is not one of this host\'s; use one of its addresses, e.g. 127.0.0.1',
  EACCES: 'no permission to listen there (ports below 1024 need CAP_NET_BIND_SERVICE); choose a port from 1024 up',
  EAFNOSUPPORT: 'this host does not support that address family; use an IPv4 address such as 127.0.0.1',
};

/**
 * The HTTP endpoint Prometheus scrapes: GET /metrics, nothing else. It
 * binds exactly where it is told (listen() refuses a busy port or an address
 * the host does not have, before anything else starts) and serves whatever
 * `render` gives, set later with serve(): until then /metrics answers 503.
 */
export class MetricsServer {
  private render: RenderMetrics | undefined;

  private constructor(
    private readonly server: Server,
    /** Where it listens (the port the kernel gave, when asked for port 0). */
    readonly address: MetricsAddress,
  ) {}

  /** Bind, or throw an ERR_USAGE SyswardenError naming the address and the fix. */
  static async listen(at: MetricsAddress): Promise<MetricsServer> {
    const server = createServer();
    server.maxConnections = MAX_CONNECTIONS;
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.headersTimeout = REQUEST_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const why = BIND_FAILURES[err.code ?? ''] ?? `${err.code ?? 'error'}: ${err.message}`;
        reject(new SyswardenError('ERR_USAGE', `--metrics ${formatAddress(at)}: cannot listen: ${why}.`, { cause: err }));
      };
      server.once('error', onError);
      server.listen({ host: at.host, port: at.port, exclusive: true }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const bound = server.address() as AddressInfo;
    const self = new MetricsServer(server, { ...at, port: bound.port });
    server.on('request', (req, res) => void self.handle(req, res));
    return self;
  }

  /** The URL to scrape. */
  get url(): string {
    return `http://${formatAddress(this.address)}/metrics`;
  }

  /** Serve these metrics at /metrics from now on. */
  serve(render: RenderMetrics): void {
    this.render = render;
  }

  /** Stop listening and end open connections (a scraper keeps one alive). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'only GET and HEAD\n', { allow: 'GET, HEAD' });
    if (path === '/') return reply(res, 200, 'syswarden: metrics at /metrics\n');
    if (path !== '/metrics') return reply(res, 404, 'not found: metrics are at /metrics\n');
    if (!this.render) return reply(res, 503, 'syswarden is starting: no metrics yet\n');
    try {
      const { contentType, body } = await this.render();
      reply(res, 200, req.method === 'HEAD' ? '' : body, { 'content-type': contentType });
    } catch (err) {
      reply(res, 500, `cannot read the metrics: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(body);
}
