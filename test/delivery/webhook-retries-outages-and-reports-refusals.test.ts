import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { AlertOutputs, parseDelivery } from '../../src/alert/outputs.js';
import { sampleAlert } from '../alert/helpers.js';
import { freePort, until } from './helpers.js';

/** A real HTTP receiver on 127.0.0.1: `answer` decides each request's status (by its number, from 1); every body it takes with 2xx is kept. */
async function receiver(port: number, answer: (n: number) => { status: number; body?: string }): Promise<{ server: Server; got: Array<Record<string, unknown>>; seqs: number[]; requests: () => number }> {
  const got: Array<Record<string, unknown>> = [];
  const seqs: number[] = [];
  let n = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const a = answer(++n);
      if (a.status >= 200 && a.status < 300) {
        expect(req.method).toBe('POST');
        expect(req.headers['content-type']).toBe('application/json');
        got.push(JSON.parse(body) as Record<string, unknown>);
        seqs.push(Number(req.headers['x-syswarden-seq']));
      }
      res.writeHead(a.status, { 'content-type': 'text/plain' }).end(a.body ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, got, seqs, requests: () => n };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function outputs(url: string, reports: string[], extra: { buffer?: number; flushTimeoutS?: number } = {}): AlertOutputs {
  const d = parseDelivery({ output: [url], ...extra });
  return new AlertOutputs(d, { report: (m) => reports.push(m) });
}

describe('an http(s) --output (webhook)', () => {
  it('waits out a receiver that is not listening yet and then answers 503, and delivers every record once, in order', async () => {
    const port = await freePort();
    const reports: string[] = [];
    const out = outputs(`http://127.0.0.1:${port}/alerts`, reports);
    const sent = Array.from({ length: 20 }, (_, i) => sampleAlert(i + 1));
    for (const a of sent) out.write(a);
    // Nothing listens: connection refused, the records wait, counted.
    await until(() => reports.some((m) => /cannot deliver alerts to http:\/\/127\.0\.0\.1:\d+\/alerts: ECONNREFUSED/.test(m)), 'the report of the refused connection');
    expect(out.stats()).toMatchObject({ waiting: 20, delivered: 0, lost: 0 });
    // Then it answers 503 to its first 5 requests, 200 after.
    const r = await receiver(port, (n) => (n <= 5 ? { status: 503, body: 'warming up' } : { status: 200 }));
    servers.push(r.server);
    await until(() => r.got.length === sent.length, 'every record at the receiver');
    await out.close();
    expect(r.got).toEqual(JSON.parse(JSON.stringify(sent)));
    expect(r.seqs).toEqual(sent.map((_, i) => i + 1));
    expect(r.requests()).toBe(sent.length + 5);
    expect(out.stats()).toMatchObject({ waiting: 0, delivered: 20, lost: 0 });
    expect(reports.filter((m) => /cannot deliver/.test(m))).toHaveLength(1);
    expect(reports.join('\n')).toMatch(/delivering alerts to http:\/\/127\.0\.0\.1:\d+\/alerts works again; nothing was lost/);
  });

  it('reports a 4xx once, as a configuration error with the status and the answer, and counts each refused record as lost', async () => {
    const port = await freePort();
    const r = await receiver(port, () => ({ status: 401, body: 'bad token' }));
    servers.push(r.server);
    const reports: string[] = [];
    const out = outputs(`http://user:secret@127.0.0.1:${port}/hook`, reports);
    for (let i = 1; i <= 3; i++) out.write(sampleAlert(i));
    await until(() => r.requests() === 3, 'the three requests');
    await out.close();
    expect(out.stats()).toMatchObject({ waiting: 0, delivered: 0, lost: 3 });
    const refusals = reports.filter((m) => /refused/.test(m));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatch(/http:\/\/127\.0\.0\.1:\d+\/hook refused an alert record: it answered HTTP 401 Unauthorized \("bad token"\)\. This is a configuration error.*Fix: check the URL path and credentials/);
    // Credentials in the URL are used, never printed.
    expect(reports.join('\n')).not.toMatch(/secret/);
    expect(out.lossSummary()).toMatch(/^3 alert record\(s\) lost: http:\/\/127\.0\.0\.1:\d+\/hook did not take 3$/);
  });

  it('gives up on what still waits after --flush-timeout, and counts it as lost', async () => {
    const port = await freePort();
    const r = await receiver(port, () => ({ status: 503 }));
    servers.push(r.server);
    const reports: string[] = [];
    const out = outputs(`http://127.0.0.1:${port}/`, reports, { flushTimeoutS: 0.3 });
    for (let i = 1; i <= 4; i++) out.write(sampleAlert(i));
    await until(() => r.requests() >= 1, 'the first request');
    const t0 = performance.now();
    await out.close();
    const closeMs = performance.now() - t0;
    expect(out.stats()).toMatchObject({ waiting: 0, delivered: 0, lost: 4 });
    expect(reports.join('\n')).toMatch(/4 alert record\(s\) waiting for http:\/\/127\.0\.0\.1:\d+\/ were not delivered within --flush-timeout 0\.3 s \(it answered HTTP 503 Service Unavailable\) and are lost/);
    // Bounded: the time-out, plus one request's answer.
    expect(closeMs).toBeLessThan(5000);
  });
});
