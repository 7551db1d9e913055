/** A small HTTP/1.1 client for scenario workloads: one request per connection, bounded in time and size. */
import { request } from 'node:http';
import { SyswardenError } from '../../errors.js';
import type { ScenarioContext } from '../types.js';

export interface HttpResponse {
  status: number;
  body: string;
}

export interface HttpRequest {
  port: number;
  path: string;
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

// CGI scripts end header lines with a bare LF, which busybox httpd passes on: the lenient parser takes them.
const MAX_BODY = 4 << 20;

export function http(req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Connection: 'close', ...(req.headers ?? {}) };
    if (req.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(req.body));
    const r = request(
      { host: '127.0.0.1', port: req.port, path: req.path, method: req.method ?? 'GET', headers, insecureHTTPParser: true, timeout: req.timeoutMs ?? 10_000, ...(req.signal ? { signal: req.signal } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_BODY) chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new SyswardenError('ERR_SCENARIO', `no answer from 127.0.0.1:${req.port}${req.path} within ${req.timeoutMs ?? 10_000} ms`)));
    r.on('error', reject);
    r.end(req.body);
  });
}

/** GET or POST and insist on a 2xx answer (a normal user's request that fails is a broken run). */
export async function httpOk(req: HttpRequest): Promise<HttpResponse> {
  const res = await http(req);
  if (res.status < 200 || res.status > 299) throw new SyswardenError('ERR_SCENARIO', `${req.method ?? 'GET'} ${req.path} answered ${res.status}`);
  return res;
}

/** One request of a normal user's session: logged as "METHOD path" for the run's action list, ended with the run, insisting on 2xx. */
export function visit(ctx: ScenarioContext, req: { path: string; method?: string; body?: string | undefined; headers?: Record<string, string> }): Promise<HttpResponse> {
  const method = req.method ?? 'GET';
  ctx.log(`${method} ${req.path}`);
  return httpOk({ port: ctx.port, path: req.path, method, ...(req.body !== undefined ? { body: req.body } : {}), ...(req.headers ? { headers: req.headers } : {}), signal: ctx.signal });
}
