import { SyswardenError } from '../errors.js';
import { checkOutputPath } from '../io/safe-file.js';
import type { AlertRecord, AlertsLostRecord } from './alert.js';
import { parseFormat, type AlertFormat } from './format.js';
import { NatsOutput } from './nats-output.js';
import type { AlertOutput, LossListener, OutputStats } from './output.js';
import { AlertWriter } from './sink.js';
import { WebhookOutput } from './webhook-output.js';

/** Where --output sends records. */
export type OutputSpec =
  | { kind: 'stdout' }
  | { kind: 'file'; path: string }
  | { kind: 'nats'; server: string; subject: string }
  | { kind: 'webhook'; url: URL };

export const OUTPUT_HELP = `--output <dest> (repeatable): '-' (stdout), a file path (appended), nats://host:port/<subject>, or http(s)://host[:port]/path (a webhook)`;

export const DEFAULT_OUTPUT_BUFFER = 10_000;
export const DEFAULT_FLUSH_TIMEOUT_S = 5;

/** A NATS subject to publish on: dot-separated tokens, no wildcards, no spaces. */
const SUBJECT = /^[^\s.*>]+(\.[^\s.*>]+)*$/;

function bad(v: string, why: string, fix: string): SyswardenError {
  return new SyswardenError('ERR_USAGE', `--output ${v}: ${why}. Fix: ${fix}.`);
}

/** One --output value, checked for its form (a file path is checked by checkOutputs). Errors are usage errors (exit 2). */
export function parseOutputSpec(v: string): OutputSpec {
  if (v === '-') return { kind: 'stdout' };
  if (v.length === 0) throw bad("''", 'it is empty', `give ${OUTPUT_HELP}`);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(v)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'file', path: v };
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw bad(v, 'it is not a valid URL', 'check its spelling');
  }
  if (scheme === 'nats') {
    const example = `nats://127.0.0.1:4222/syswarden.alerts`;
    if (url.username || url.password) throw bad(v, 'credentials in the URL are not supported', 'use a NATS server or account that takes this connection without them');
    if (!url.hostname) throw bad(v, 'it names no server', `write it as nats://host:port/subject, e.g. ${example}`);
    if (!url.port) throw bad(v, "it gives no port (NATS's is usually 4222)", `write it as nats://host:port/subject, e.g. ${example}`);
    if (url.search || url.hash) throw bad(v, 'a NATS output takes no query or fragment', `write it as nats://host:port/subject, e.g. ${example}`);
    const subject = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (!subject) throw bad(v, 'it names no subject to publish on', `add one after the port, e.g. ${example}`);
    if (!SUBJECT.test(subject)) throw bad(v, `'${subject}' is not a subject one can publish on (dot-separated tokens, no '*', '>', spaces or empty tokens)`, `use e.g. ${example}`);
    return { kind: 'nats', server: url.host, subject };
  }
  if (scheme === 'http' || scheme === 'https') {
    if (!url.hostname) throw bad(v, 'it names no host', 'write it as http(s)://host[:port]/path');
    return { kind: 'webhook', url };
  }
  throw bad(v, `'${scheme}://' is not an output syswarden can write to`, `give ${OUTPUT_HELP}`);
}

/** A destination, for messages and to find the same one twice. */
function nameOf(s: OutputSpec): string {
  switch (s.kind) {
    case 'stdout':
      return 'stdout';
    case 'file':
      return s.path;
    case 'nats':
      return `nats://${s.server}/${s.subject}`;
    case 'webhook':
      return `${s.url.protocol}//${s.url.host}${s.url.pathname}`;
  }
}

export interface DeliveryOptions {
  specs: OutputSpec[];
  format: AlertFormat;
  /** Records each network output keeps while its destination is down. */
  buffer: number;
  flushTimeoutS: number;
}

/**
 * The delivery options of a command, parsed: --output (repeatable) and its
 * former spelling --out, --format (and its former spelling --pretty),
 * --output-buffer, --flush-timeout. No output given is stdout.
 */
export function parseDelivery(values: { out?: string; output?: string[]; format?: string; pretty?: boolean; buffer?: number; flushTimeoutS?: number }): DeliveryOptions {
  const given = [...(values.out !== undefined ? [values.out] : []), ...(values.output ?? [])];
  const specs = given.length === 0 ? [{ kind: 'stdout' } as const] : given.map(parseOutputSpec);
  let format = parseFormat(values.format) ?? 'json';
  if (values.pretty === true) {
    if (values.format !== undefined && format !== 'pretty') throw new SyswardenError('ERR_USAGE', `--pretty and --format ${format} contradict each other. Fix: give one of them.`);
    format = 'pretty';
  }
  const seen = new Set<string>();
  for (const s of specs) {
    const n = nameOf(s);
    if (seen.has(n)) throw new SyswardenError('ERR_USAGE', `--output ${n} is given twice. Fix: give each destination once.`);
    seen.add(n);
    if (format === 'pretty' && (s.kind === 'nats' || s.kind === 'webhook')) {
      throw new SyswardenError('ERR_USAGE', `--format pretty is for people, not for ${n}. Fix: use --format json or --format falco with a bus or a webhook.`);
    }
  }
  return { specs, format, buffer: values.buffer ?? DEFAULT_OUTPUT_BUFFER, flushTimeoutS: values.flushTimeoutS ?? DEFAULT_FLUSH_TIMEOUT_S };
}

/**
 * Check every file output can be written, before anything is attached. A
 * file given with --output that cannot be is a usage error (exit 2);
 * `legacyOut`, the path of --out, keeps its exit 1.
 */
export function checkOutputs(d: DeliveryOptions, legacyOut?: string): void {
  for (const s of d.specs) {
    if (s.kind !== 'file') continue;
    try {
      checkOutputPath(s.path, { what: 'alert file', append: true });
    } catch (e) {
      if (s.path === legacyOut || !(e instanceof SyswardenError)) throw e;
      throw new SyswardenError('ERR_USAGE', `--output: ${e.message}`, { cause: e });
    }
  }
}

/** stdout or a file, through the AlertWriter. */
class FileOutput implements AlertOutput {
  readonly where: string;
  private readonly writer: AlertWriter;

  constructor(path: string | undefined, format: AlertFormat, buffer: number, onLoss: LossListener, report: (message: string) => void) {
    this.writer = new AlertWriter(path, {
      format,
      maxBuffered: buffer,
      report,
      onLoss: (r) => {
        if (r.type !== 'alerts-lost') onLoss(1, `${this.where} could not be written and its buffer was full`);
      },
    });
    this.where = this.writer.where;
  }

  write(record: AlertRecord): void {
    this.writer.write(record);
  }

  stats(): OutputStats {
    const s = this.writer.stats();
    return { delivered: s.written, waiting: s.buffered, lost: s.lost };
  }

  async close(flushTimeoutMs: number): Promise<void> {
    // The writer retries on its own timer; at exit it gets the same bounded wait as the network outputs.
    const deadline = Date.now() + flushTimeoutMs;
    while (!this.writer.flush() && Date.now() < deadline) await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
    this.writer.close();
  }
}

/** How often, at most, the outputs that work are told that another one lost records. */
const NOTICE_EVERY_MS = 1000;

/**
 * Every output of a command: each record goes to each output. When one loses
 * records, the others get an 'alerts-lost' record naming it and the count
 * (at most one a second per failing output, summed), so a loss is visible
 * where the records do arrive.
 */
export class AlertOutputs {
  private readonly outputs: AlertOutput[] = [];
  private readonly d: DeliveryOptions;
  /** Losses not yet told to the other outputs, by the output that lost them. */
  private readonly untold = new Map<AlertOutput, { count: number; reason: string }>();
  private noticeTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** `report`: where failures, recoveries and losses are told (default: stderr). */
  constructor(d: DeliveryOptions, options: { report?: (message: string) => void } = {}) {
    this.d = d;
    const report = options.report ?? ((m: string) => console.error(`syswarden: ${m}`));
    for (const s of d.specs) {
      let o: AlertOutput;
      const onLoss: LossListener = (count, reason) => this.lost(o, count, reason);
      const net = { format: d.format, buffer: d.buffer, onLoss, report };
      if (s.kind === 'nats') o = new NatsOutput({ server: s.server, subject: s.subject }, net);
      else if (s.kind === 'webhook') o = new WebhookOutput(s.url, net);
      else o = new FileOutput(s.kind === 'file' ? s.path : undefined, d.format, d.buffer, onLoss, report);
      this.outputs.push(o);
    }
  }

  write(record: AlertRecord): void {
    for (const o of this.outputs) o.write(record);
  }

  /** Totals over every output. */
  stats(): OutputStats & { outputs: Array<OutputStats & { where: string }> } {
    const outputs = this.outputs.map((o) => ({ where: o.where, ...o.stats() }));
    const sum = (k: 'delivered' | 'waiting' | 'lost') => outputs.reduce((a, s) => a + s[k], 0);
    return { delivered: sum('delivered'), waiting: sum('waiting'), lost: sum('lost'), outputs };
  }

  /** For the stats line: each output that waits or lost something, with its counts. */
  describe(): string {
    const s = this.stats();
    if (s.waiting === 0 && s.lost === 0) return '';
    const each = s.outputs.filter((o) => o.waiting > 0 || o.lost > 0).map((o) => `${o.where}: waiting ${o.waiting}, delivered ${o.delivered}, lost ${o.lost}`);
    return `, alert records waiting ${s.waiting} / lost ${s.lost} (${each.join('; ')})`;
  }

  /** For the last line: what was lost where, or '' when nothing was. */
  lossSummary(): string {
    const s = this.stats();
    if (s.lost === 0) return '';
    const where = s.outputs.filter((o) => o.lost > 0).map((o) => (this.isNetwork(o.where) ? `${o.where} did not take ${o.lost}` : `${o.where} could not be written`));
    return `${s.lost} alert record(s) lost: ${where.join('; ')}`;
  }

  /**
   * Network outputs first, each waiting up to --flush-timeout for what waits
   * (in parallel); what they lose is told to the files and stdout, which
   * close last.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    const ms = this.d.flushTimeoutS * 1000;
    const net = this.outputs.filter((o) => this.isNetwork(o.where));
    await Promise.all(net.map((o) => o.close(ms)));
    this.tell();
    this.closed = true;
    if (this.noticeTimer) clearTimeout(this.noticeTimer);
    await Promise.all(this.outputs.filter((o) => !net.includes(o)).map((o) => o.close(ms)));
  }

  private isNetwork(where: string): boolean {
    return /^(nats|https?):\/\//.test(where);
  }

  private lost(from: AlertOutput, count: number, reason: string): void {
    if (this.closed || this.outputs.length < 2) return;
    const u = this.untold.get(from);
    if (u) {
      u.count += count;
      u.reason = reason;
    } else this.untold.set(from, { count, reason });
    if (!this.noticeTimer) {
      this.noticeTimer = setTimeout(() => this.tell(), NOTICE_EVERY_MS);
      this.noticeTimer.unref();
    }
  }

  private tell(): void {
    this.noticeTimer = undefined;
    for (const [from, u] of this.untold) {
      const notice: AlertsLostRecord = {
        type: 'alerts-lost',
        time: new Date().toISOString(),
        count: u.count,
        total: from.stats().lost,
        reason: `${u.count} record(s) did not reach ${from.where}: ${u.reason}`,
      };
      for (const o of this.outputs) if (o !== from) o.write(notice);
    }
    this.untold.clear();
  }
}
