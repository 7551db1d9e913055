import http from 'node:http';
import https from 'node:https';
import { NetworkOutput, type NetworkOutputOptions, type Outgoing, type SendResult } from './network-output.js';

/** A request without an answer in this time is a failure, sent again. */
const ANSWER_TIMEOUT_MS = 10_000;
/** Of a refusal's body, what is quoted in the report. */
const BODY_QUOTED = 300;

/** Statuses that say "later", not "never". */
function worthRetrying(status: number): boolean {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}

/**
 * Each record is one POST of its JSON (Content-Type application/json), the
 * shape Falcosidekick and most webhook receivers take: one event per request.
 * Requests go one at a time over a kept-alive connection, so they arrive in
 * order. 2xx is delivered; a network error, a time-out, 5xx, 408, 425 and
 * 429 are waited out and the record is sent again; any other answer (4xx,
 * a redirect) is a configuration error: reported once, with the status and
 * the start of the answer, and the record is counted as lost.
 * X-Syswarden-Seq numbers the records of one run, for a receiver that drops
 * a record sent twice.
 */
export class WebhookOutput extends NetworkOutput {
  readonly where: string;
  protected readonly maxBatch = 1;
  private readonly url: URL;
  private readonly agent: http.Agent;

  constructor(url: URL, options: NetworkOutputOptions) {
    super(options);
    this.url = url;
    // Credentials in the URL are sent (basic auth) but never printed.
    this.where = `${url.protocol}//${url.host}${url.pathname}`;
    const Agent = url.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: 1 });
  }

  protected send(batch: Outgoing[], signal: AbortSignal): Promise<SendResult> {
    const o = batch[0]!;
    const request = this.url.protocol === 'https:' ? https.request : http.request;
    return new Promise<SendResult>((resolve, reject) => {
      const req = request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          signal,
          timeout: ANSWER_TIMEOUT_MS,
          headers: { 'content-type': 'application/json', 'content-length': o.body.length, 'x-syswarden-seq': String(o.seq) },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            if (body.length < BODY_QUOTED) body += d;
          });
          res.on('error', reject);
          res.on('end', () => {
            const what = `HTTP ${status} ${res.statusMessage ?? ''}`.trim();
            if (status >= 200 && status < 300) resolve({ delivered: 1 });
            else if (worthRetrying(status)) resolve({ delivered: 0, retry: `it answered ${what}` });
            else if (status >= 300 && status < 400) {
              resolve({ refused: `it answered ${what} to ${res.headers.location ?? '(no location)'}, and syswarden does not follow redirects`, fix: 'give the final URL in --output' });
            } else {
              const quoted = body.trim().slice(0, BODY_QUOTED).replace(/\s+/g, ' ');
              resolve({
                refused: `it answered ${what}${quoted ? ` (${JSON.stringify(quoted)})` : ''}`,
                fix: `check the URL path and credentials in --output, and that the receiver takes --format ${this.format} (Falcosidekick takes --format falco)`,
              });
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`)));
      req.on('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code ? `${e.code} (${e.message})` : e.message)));
      req.end(o.body);
    });
  }

  protected shutdown(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }
}
