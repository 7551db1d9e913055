/**
 * `watch --respond`: acting on incidents, opt-in. Fed every record of the
 * alert stream (handle()), it acts on the first record of each incident
 * ('alert') and on every 'escape' (a process leaving its container is the
 * clearest sign of an attack there is), and writes what it did as records of
 * the same stream (`write`). Drift ('new-executable'), 'incident-end' and
 * 'degraded' never trigger an action.
 *
 * freeze: the container's cgroup v2 is frozen, and thawed after
 * `freezeForMs` (0: when the responder closes), and always when it closes.
 * kill: the offending process gets SIGKILL through a pidfd, after checking
 * it still belongs to the container (kill.ts).
 * Both go through the disarmer (disarmer.ts). See docs/response.md.
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import type { Alert, AlertContainer, AlertRecord, EscapeRecord, ResponseRecord } from '../alert/alert.js';
import { cgroup2Mount, cgroupPathOfPid } from '../capture/cgroup.js';
import { SyswardenError } from '../errors.js';
import { setLongTimeout } from '../long-timer.js';
import { Disarmer } from './disarmer.js';
import { freezeRequested, waitFrozen, writeFreeze } from './freezer.js';
import { checkProcess, cgroupWithin } from './kill.js';
import { ThawGuard } from './thaw-guard.js';

export type ResponseAction = 'freeze' | 'kill';
export const RESPONSE_ACTIONS: readonly ResponseAction[] = ['freeze', 'kill'];

export interface ResponderOptions {
  action: ResponseAction;
  /** Where its records go (watch: the alert writer). */
  write: (record: AlertRecord) => void;
  /** How long a freeze lasts, ms; 0: until close(). Default 60 000. */
  freezeForMs?: number;
  /** Actions per container per window before the disarmer stops them. Default 3. */
  limit?: number;
  /** The disarmer's window, and the quiet time that re-arms it, ms. Default 60 000. */
  windowMs?: number;
  /** How long to wait for cgroup.events to say frozen, ms. Default 2000. */
  freezeTimeoutMs?: number;
}

export interface ResponderStats {
  /** Actions taken (freezes and kills the disarmer let through), and those of them that failed. */
  actions: number;
  failed: number;
  /** Incidents refused before any action (a pid that left the container, a cgroup syswarden runs in...). */
  refused: number;
  /** Thaws, incidents that needed nothing (already frozen, already exited), incidents the disarmer suppressed. */
  thaws: number;
  skipped: number;
  suppressed: number;
  /** Containers frozen by this responder now. */
  frozen: number;
}

interface Frozen {
  dir: string;
  container: AlertContainer;
  since: number;
  timer?: { clear(): void };
  /** Incidents in it while it was frozen: counted here and told on the thaw, not a record each (a flood would write thousands). */
  incidents: number;
}

/** The records that set off an action: an 'alert' (an incident's first record) or an 'escape'. */
type Trigger = Alert | EscapeRecord;

const DEFAULTS = { freezeForMs: 60_000, limit: 3, windowMs: 60_000, freezeTimeoutMs: 2000 };

export class Responder {
  readonly action: ResponseAction;
  private readonly freezeForMs: number;
  private readonly freezeTimeoutMs: number;
  private readonly windowMs: number;
  private readonly disarmer: Disarmer;
  /** Containers this responder froze (or is freezing), by cgroup path. */
  private readonly frozen = new Map<string, Frozen>();
  /** Freezes still waiting for the kernel: close() waits for them before it thaws. */
  private readonly pending = new Set<Promise<void>>();
  /** The containers the disarmer knows, by cgroup path (to name them in its records). */
  private readonly containers = new Map<string, AlertContainer>();
  private readonly counts = { actions: 0, failed: 0, refused: 0, thaws: 0, skipped: 0, suppressed: 0 };
  private readonly ownCgroup: string;
  private closed = false;

  private constructor(
    private readonly options: ResponderOptions,
    private readonly guard: ThawGuard | undefined,
  ) {
    this.action = options.action;
    this.freezeForMs = options.freezeForMs ?? DEFAULTS.freezeForMs;
    this.freezeTimeoutMs = options.freezeTimeoutMs ?? DEFAULTS.freezeTimeoutMs;
    this.windowMs = options.windowMs ?? DEFAULTS.windowMs;
    this.ownCgroup = cgroupPathOfPid(process.pid);
    this.disarmer = new Disarmer({
      limit: options.limit ?? DEFAULTS.limit,
      windowMs: this.windowMs,
      onDisarm: (key, actions) =>
        this.emit({ type: 'response-disarmed', time: new Date().toISOString(), container: this.containers.get(key) ?? { slot: 0, cgroup: key }, action: this.action, actions, windowS: this.windowMs / 1000 }),
      onRearm: (key, suppressed) => {
        this.counts.suppressed += suppressed - 1;
        this.emit({ type: 'response-rearmed', time: new Date().toISOString(), container: this.containers.get(key) ?? { slot: 0, cgroup: key }, action: this.action, suppressed, windowS: this.windowMs / 1000 });
      },
    });
  }

  /** Options are checked here, and for freeze the thaw guard is started, before anything is watched. */
  static async create(options: ResponderOptions): Promise<Responder> {
    if (!RESPONSE_ACTIONS.includes(options.action)) {
      throw new SyswardenError('ERR_USAGE', `the response action must be one of ${RESPONSE_ACTIONS.join(', ')}, got '${String(options.action)}'.`);
    }
    const nonNegative = (name: string, v: number | undefined, min: number) => {
      if (v !== undefined && (!Number.isFinite(v) || v < min)) throw new SyswardenError('ERR_USAGE', `${name} must be a number >= ${min}, got ${v}.`);
    };
    nonNegative('freezeForMs', options.freezeForMs, 0);
    nonNegative('windowMs', options.windowMs, 1);
    nonNegative('freezeTimeoutMs', options.freezeTimeoutMs, 1);
    if (options.limit !== undefined && (!Number.isSafeInteger(options.limit) || options.limit < 1)) {
      throw new SyswardenError('ERR_USAGE', `the response limit must be a whole number >= 1, got ${options.limit}.`);
    }
    return new Responder(options, options.action === 'freeze' ? await ThawGuard.start() : undefined);
  }

  /** Every record of the alert stream (its own records too: they are ignored). */
  handle(record: AlertRecord): void {
    if (this.closed) return;
    if (record.type === 'target-gone') {
      this.forget(record.container);
      return;
    }
    if (record.type !== 'alert' && record.type !== 'escape') return;
    const received = performance.now();
    if (this.action === 'kill') {
      this.kill(record, received);
      return;
    }
    // An escape into another watched container freezes that one too: it now holds the process.
    const targets = record.type === 'escape' && record.toContainer ? [record.container, record.toContainer] : [record.container];
    for (const c of targets) {
      const p = this.freeze(record, c, received).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  stats(): ResponderStats {
    return { ...this.counts, frozen: this.frozen.size };
  }

  /** The thaw guard's pid (tests: it must be gone after close). */
  get guardPid(): number | undefined {
    return this.guard?.pid;
  }

  /** Thaw every container it froze (records with trigger 'exit'), then stop. Call it on every way out. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A freeze half done is finished first, so that it is thawed rather than left behind.
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    for (const f of [...this.frozen.values()]) this.thaw(f, 'exit');
    this.disarmer.close();
    this.guard?.close();
  }

  private base(r: Trigger, container: AlertContainer): Omit<ResponseRecord, 'result' | 'tookMs'> {
    const out: Omit<ResponseRecord, 'result' | 'tookMs'> = { type: 'response', time: '', action: this.action, container, trigger: r.type === 'escape' ? 'escape' : 'alert' };
    if (r.type !== 'escape') out.incident = r.incident;
    if (r.pid !== undefined) out.pid = r.pid;
    if (r.tid > 0) out.tid = r.tid;
    return out;
  }

  /** Write the record of one decision; `taken` only for an action the disarmer let through (with its trigger's kernel timestamp). */
  private done(rec: Omit<ResponseRecord, 'result' | 'tookMs'>, received: number, result: ResponseRecord['result'], reason?: string, taken?: { eventTsNs: number }): void {
    const full: ResponseRecord = { ...rec, time: new Date().toISOString(), result, tookMs: round(performance.now() - received) };
    if (reason) full.reason = reason;
    if (taken && taken.eventTsNs > 0) full.latencyMs = round((Number(process.hrtime.bigint()) - taken.eventTsNs) / 1e6);
    if (result === 'skipped') this.counts.skipped++;
    else if (rec.action === 'thaw') this.counts.thaws++;
    else if (!taken) this.counts.refused++;
    else {
      this.counts.actions++;
      if (result === 'failed') this.counts.failed++;
    }
    this.emit(full);
  }

  private emit(r: AlertRecord): void {
    this.options.write(r);
  }

  /** The disarmer's verdict on one more action for `key`: true to go on. */
  private armed(key: string, container: AlertContainer): boolean {
    this.containers.set(key, container);
    return this.disarmer.take(key);
  }

  private kill(r: Trigger, received: number): void {
    const rec = this.base(r, r.container);
    const key = r.container.cgroup;
    if (!key) return this.done(rec, received, 'failed', 'the record names no cgroup');
    if (this.disarmer.disarmed(key)) {
      this.disarmer.suppress(key);
      return;
    }
    const pid = r.pid ?? r.tid;
    // An escaped process is checked where the kernel saw it go; any other, in its container.
    const within = r.type === 'escape' ? r.to : key;
    const checked = checkProcess(pid, within);
    if (!checked.ok) return this.done({ ...rec, pid }, received, checked.result, checked.reason);
    try {
      if (!this.armed(key, r.container)) return;
      const killed = checked.process.kill();
      this.done({ ...rec, pid }, received, killed.ok ? 'ok' : 'failed', killed.ok ? undefined : killed.reason, { eventTsNs: r.eventTsNs });
    } finally {
      checked.process.release();
    }
  }

  private async freeze(r: Trigger, container: AlertContainer, received: number): Promise<void> {
    const rec = this.base(r, container);
    const key = container.cgroup;
    if (!key || !key.startsWith('/') || key.includes('\n') || key.split('/').includes('..')) {
      return this.done(rec, received, 'failed', `the record names no usable cgroup (${JSON.stringify(key ?? null)})`);
    }
    if (this.disarmer.disarmed(key)) {
      this.disarmer.suppress(key);
      return;
    }
    if (key === '/' || cgroupWithin(this.ownCgroup, key)) {
      return this.done(rec, received, 'failed', `syswarden itself runs in ${this.ownCgroup}, inside ${key}: freezing it would freeze syswarden too`);
    }
    const held = this.frozen.get(key);
    if (held) {
      held.incidents++;
      this.counts.skipped++;
      return;
    }
    const dir = join(cgroup2Mount(), key);
    try {
      if (freezeRequested(dir)) return this.done(rec, received, 'skipped', 'already frozen by someone else (cgroup.freeze is 1): syswarden leaves it, and will not thaw it');
    } catch (err) {
      return this.done(rec, received, 'skipped', `cannot read ${dir}/cgroup.freeze (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): the container is gone`);
    }
    const guardDead = this.guard!.deadReason();
    if (guardDead) return this.done(rec, received, 'failed', `the thaw guard is not running (${guardDead}): syswarden will not freeze what a crash could leave frozen`);
    if (!this.armed(key, container)) return;
    const f: Frozen = { dir, container, since: performance.now(), incidents: 0 };
    this.frozen.set(key, f);
    this.guard!.frozen(dir);
    try {
      writeFreeze(dir, true);
    } catch (err) {
      this.frozen.delete(key);
      this.guard!.thawed(dir);
      return this.done(rec, received, 'failed', `cannot write ${dir}/cgroup.freeze: ${(err as Error).message}`, { eventTsNs: r.eventTsNs });
    }
    let confirmed: boolean;
    try {
      confirmed = await waitFrozen(dir, this.freezeTimeoutMs);
    } catch {
      confirmed = false;
    }
    // Thawed on schedule whether or not the kernel confirmed: the request stands either way.
    if (this.freezeForMs > 0 && !this.closed) f.timer = setLongTimeout(() => this.thaw(f, 'timer'), this.freezeForMs);
    this.done(rec, received, confirmed ? 'ok' : 'failed', confirmed ? undefined : `asked, but cgroup.events did not say frozen within ${this.freezeTimeoutMs} ms (a task in uninterruptible sleep?); it stays asked until the thaw`, { eventTsNs: r.eventTsNs });
  }

  private thaw(f: Frozen, trigger: 'timer' | 'exit' | 'gone'): void {
    f.timer?.clear();
    const key = f.container.cgroup!;
    if (this.frozen.get(key) !== f) return;
    this.frozen.delete(key);
    const started = performance.now();
    const rec: Omit<ResponseRecord, 'result' | 'tookMs'> = { type: 'response', time: '', action: 'thaw', container: f.container, trigger, frozenMs: round(started - f.since), incidentsWhileFrozen: f.incidents };
    try {
      writeFreeze(f.dir, false);
      this.guard!.thawed(f.dir);
      this.done(rec, started, 'ok');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.guard!.thawed(f.dir);
      if (code === 'ENOENT') this.done(rec, started, 'skipped', 'the cgroup is gone (the container stopped)');
      // Left on the guard's list would be no better: it could not write either.
      else this.done(rec, started, 'failed', `cannot write ${f.dir}/cgroup.freeze: ${(err as Error).message}; thaw it by hand: echo 0 > ${f.dir}/cgroup.freeze`);
    }
  }

  /** A target is gone: its cgroup with it, so there is nothing to thaw, and the disarmer forgets it. */
  private forget(c: AlertContainer): void {
    const key = c.cgroup;
    if (!key) return;
    this.disarmer.forget(key);
    this.containers.delete(key);
    const f = this.frozen.get(key);
    if (f) this.thaw(f, 'gone');
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
