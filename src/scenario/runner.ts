/**
 * Runs a scenario: for each run a fresh container, a seeded normal client
 * for the whole run, in attack runs an attack at a seeded moment while the
 * normal client goes on, all of it recorded by syswarden itself, then a
 * label file. A run is done when its label exists (written last, whole), so
 * an interrupted build resumes where it stopped.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { Collector, AGENT_CONSUMER_NICE } from '../capture/collector.js';
import { recordToFile } from '../capture/record-session.js';
import { Prng } from '../detect/lib/prng.js';
import { SyswardenError } from '../errors.js';
import { writeFileSafely } from '../io/safe-file.js';
import { containerState, removeContainer, startContainer } from './engine.js';
import { buildImage, type BuildOptions } from './image.js';
import type { Listener, Scenario, ScenarioContext } from './types.js';

export const RUN_LABEL_FORMAT = 'syswarden-scenario-run';
export const RUN_LABEL_VERSION = 1;

/** The label of one run; times are CLOCK_MONOTONIC ns (the recording's clock), as decimal strings. */
export interface RunLabel {
  format: typeof RUN_LABEL_FORMAT;
  version: number;
  scenario: string;
  application: string;
  run: string;
  index: number;
  kind: 'normal' | 'attack';
  attackKind: string | null;
  /** The dataset's seed, and the run's own (derived from it, the scenario and the index). */
  datasetSeed: number;
  seed: number;
  image: string;
  recording: string;
  /** Recording start and end (monotonic ns). */
  startNs: string;
  endNs: string;
  attack: { startNs: string; endNs: string } | null;
  /** The run's planned length and, for attack runs, the planned attack offset, s. */
  plannedSeconds: number;
  attackAtSeconds: number | null;
  /** What the clients did, in order: the same seed gives the same lists. Capped at LOG_CAP entries each. */
  actions: { normal: string[]; attack: string[] };
  /** sha256 of the whole normal action list (also beyond the cap). */
  normalActionsSha256: string;
  sessions: number;
  sessionErrors: number;
  events: number;
  drops: { kernel: number; user: number };
}

const LOG_CAP = 2000;
/** The longest a container may take to answer its first request. */
const READY_MS = 90_000;
/** The longest an attack may take. */
const ATTACK_MS = 60_000;
/** Normal traffic goes on at least this long after the attack ends. */
const TAIL_MS = 2000;

export interface PlannedRun {
  index: number;
  id: string;
  kind: 'normal' | 'attack';
  seed: number;
  seconds: number;
  attackAt: number | null;
}

export interface RunPlanOptions {
  runs: number;
  seed: number;
  /** Range of run lengths, s. */
  length: readonly [number, number];
}

/** Attack runs in a build of `runs`: a third (at least one where there are two runs). */
export function attackCount(runs: number): number {
  return runs < 2 ? 0 : Math.max(1, Math.round(runs / 3));
}

function seedOf(...parts: (string | number)[]): number {
  return createHash('sha256').update(parts.join('\0')).digest().readUInt32LE(0);
}

/** The runs of a scenario, fixed by (scenario, seed, runs, length): kinds shuffled, lengths and attack moments drawn. */
export function planRuns(scenario: string, o: RunPlanOptions): PlannedRun[] {
  const attacks = attackCount(o.runs);
  const order = new Prng(seedOf('plan', scenario, o.seed)).shuffle(Array.from({ length: o.runs }, (_, i) => i));
  return order.map((slot, index) => {
    const kind = slot < attacks ? 'attack' : 'normal';
    const seed = seedOf('run', scenario, o.seed, index);
    const r = new Prng(seed);
    const seconds = o.length[0] + r.float() * (o.length[1] - o.length[0]);
    const attackAt = kind === 'attack' ? seconds * (0.25 + 0.35 * r.float()) : null;
    return { index, id: `run-${String(index).padStart(3, '0')}`, kind, seed, seconds, attackAt };
  });
}

/** A TCP port free on 127.0.0.1 at the time of asking. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

class LoopbackListener implements Listener {
  accepted = 0;
  private waiting: ((s: Socket) => void)[] = [];
  private queued: Socket[] = [];
  private constructor(private readonly server: Server, readonly port: number) {
    server.on('connection', (s) => {
      this.accepted++;
      s.on('error', () => {});
      const w = this.waiting.shift();
      if (w) w(s);
      else if (this.queued.length < 16) this.queued.push(s);
      else s.destroy();
    });
  }

  static async open(): Promise<LoopbackListener> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new LoopbackListener(server, (server.address() as { port: number }).port);
  }

  nextConnection(timeoutMs: number): Promise<Socket> {
    const q = this.queued.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== take);
        reject(new SyswardenError('ERR_SCENARIO', `nothing connected to the listener on 127.0.0.1:${this.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      const take = (s: Socket) => {
        clearTimeout(t);
        resolve(s);
      };
      this.waiting.push(take);
    });
  }

  close(): Promise<void> {
    for (const s of this.queued) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** Bound a promise in time; the message says what took too long. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new SyswardenError('ERR_SCENARIO', `${what} took longer than ${ms / 1000} s`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

export interface RunScenarioOptions extends RunPlanOptions, BuildOptions {
  out: string;
  /** Called before each run, and once at the end (done === total). */
  onProgress?: (p: { done: number; total: number; label: string }) => void;
  signal?: AbortSignal;
}

export interface ScenarioBuildResult {
  scenario: string;
  dir: string;
  runs: number;
  /** Runs already present (resumed over). */
  skipped: number;
  image: string;
}

interface ScenarioManifest {
  format: 'syswarden-scenario';
  version: 1;
  scenario: string;
  seed: number;
  runs: number;
  length: [number, number];
}

/** The scenario's directory, checked against a build already there (same seed, runs and lengths, or a clear refusal). */
function scenarioDir(scenario: Scenario, o: RunScenarioOptions): string {
  const dir = join(o.out, scenario.name);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SyswardenError('ERR_OUTPUT', `cannot make the dataset directory ${dir} (${code === 'ENOTDIR' || code === 'EEXIST' ? `${o.out} or a part of it is not a directory` : code ?? String(e)}). Fix: give --out a directory (it is created if missing).`);
  }
  const manifestPath = join(dir, 'scenario.json');
  const manifest: ScenarioManifest = { format: 'syswarden-scenario', version: 1, scenario: scenario.name, seed: o.seed, runs: o.runs, length: [o.length[0], o.length[1]] };
  if (existsSync(manifestPath)) {
    let old: ScenarioManifest;
    try {
      old = JSON.parse(readFileSync(manifestPath, 'utf8')) as ScenarioManifest;
      if (!Array.isArray(old.length)) throw new Error('no lengths');
    } catch {
      throw new SyswardenError('ERR_DATASET', `${manifestPath} is damaged, so this build cannot be resumed safely. Fix: choose another --out, or delete ${dir} to build ${scenario.name} again.`);
    }
    if (old.seed !== o.seed || old.runs !== o.runs || old.length[0] !== o.length[0] || old.length[1] !== o.length[1]) {
      throw new SyswardenError(
        'ERR_SCENARIO',
        `${dir} holds a build of ${scenario.name} with --seed ${old.seed} --runs ${old.runs} --length ${old.length.join('-')}; this one asks for --seed ${o.seed} --runs ${o.runs} --length ${o.length.join('-')}. Fix: repeat the old options to resume it, or choose another --out.`,
      );
    }
  }
  return dir;
}

/** Build the scenario's image, then every run not already in the output directory. */
export async function runScenario(scenario: Scenario, o: RunScenarioOptions): Promise<ScenarioBuildResult> {
  const dir = scenarioDir(scenario, o);
  const image = await buildImage(scenario.image, o);
  const manifestPath = join(dir, 'scenario.json');
  if (!existsSync(manifestPath)) {
    await writeFileSafely(manifestPath, JSON.stringify({ format: 'syswarden-scenario', version: 1, scenario: scenario.name, seed: o.seed, runs: o.runs, length: o.length }) + '\n', { what: 'scenario manifest' });
  }
  // Leftovers of an interrupted run: its partial recording is started again.
  for (const f of readdirSync(dir)) if (f.includes('.partial')) rmSync(join(dir, f), { force: true });
  const plan = planRuns(scenario.name, o);
  let skipped = 0;
  for (const run of plan) {
    if (o.signal?.aborted) throw new SyswardenError('ERR_ABORTED', `interrupted; run the same command again to resume (${run.index} of ${plan.length} runs of ${scenario.name} are done).`);
    o.onProgress?.({ done: run.index, total: plan.length, label: `${scenario.name} ${run.id} (${run.kind}, ${run.seconds.toFixed(1)} s)` });
    if (existsSync(join(dir, `${run.id}.json`))) {
      skipped++;
      continue;
    }
    await runOne(scenario, run, image, dir, o);
  }
  o.onProgress?.({ done: plan.length, total: plan.length, label: `${scenario.name} done` });
  return { scenario: scenario.name, dir, runs: plan.length, skipped, image };
}

/** A scenario's application running in a fresh container, with its normal client and its attack at hand. */
export interface LiveApplication {
  /** The container's name; watch or record it as `docker:<name>`. */
  readonly container: string;
  /** Start the normal client: sessions over and over with seeded think time, until stopClient(). */
  startClient(seed: number): void;
  /** Run the attack (bounded in time); returns its span on the monotonic clock. */
  attack(seed: number): Promise<{ startNs: bigint; endNs: bigint }>;
  /** Stop the client after its current session; what it did. */
  stopClient(): Promise<{ sessions: number; errors: number; firstError: string; actions: string[]; actionsSha256: string; attackActions: string[] }>;
  /** Whether the container still runs (why not, if it stopped). */
  check(): Promise<void>;
  /** Stop everything and remove the container (idempotent). */
  close(): Promise<void>;
}

/** Start `scenario`'s container from `image` and wait until the application answers. */
export async function startApplication(scenario: Scenario, image: string, options: { name: string; signal?: AbortSignal; labels?: Record<string, string> }): Promise<LiveApplication> {
  const name = options.name;
  const ports: number[] = [];
  for (let i = 0; i < 1 + (scenario.extraPorts ?? 0); i++) ports.push(await freePort());
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const listeners: LoopbackListener[] = [];
  const normalLog: string[] = [];
  const normalHash = createHash('sha256');
  const attackLog: string[] = [];
  const ctxFor = (to: 'normal' | 'attack'): ScenarioContext => ({
    container: name,
    port: ports[0]!,
    ports: ports.slice(1),
    signal: stop.signal,
    log(action: string) {
      if (to === 'normal') {
        normalHash.update(action + '\n');
        if (normalLog.length < LOG_CAP) normalLog.push(action);
      } else if (attackLog.length < LOG_CAP) attackLog.push(action);
    },
    async listen() {
      const l = await LoopbackListener.open();
      listeners.push(l);
      return l;
    },
  });
  const ctx = ctxFor('normal');
  let closed = false;
  // A scenario's clients may hold many connections at once (a brute force's parallel logins), each listening for the end of the run.
  setMaxListeners(256, stop.signal);
  const close = async () => {
    if (closed) return;
    closed = true;
    stop.abort();
    options.signal?.removeEventListener('abort', onOuterAbort);
    for (const l of listeners) await l.close();
    await removeContainer(name).catch(() => {});
  };
  try {
    await removeContainer(name);
    await startContainer({ name, image, command: scenario.command(ctx), ...(scenario.seccompUnconfined ? { seccompUnconfined: true } : {}), labels: { 'syswarden.scenario': scenario.name, ...(options.labels ?? {}) } });
    await waitReady(scenario, ctx);
  } catch (e) {
    await close();
    throw e;
  }
  let client: Promise<void> | undefined;
  const clientStop = new AbortController();
  setMaxListeners(256, clientStop.signal);
  stop.signal.addEventListener('abort', () => clientStop.abort(), { once: true });
  let sessions = 0;
  let errors = 0;
  let firstError = '';
  return {
    container: name,
    startClient(seed: number) {
      if (client) throw new Error('the client already runs');
      const clientCtx = { ...ctx, signal: clientStop.signal };
      client = (async () => {
        const pauses = new Prng(seedOf('pauses', seed));
        for (let k = 0; !clientStop.signal.aborted; k++) {
          try {
            await within(scenario.session(clientCtx, new Prng(seedOf('session', seed, k))), 30_000, `a normal session of ${scenario.name}`);
          } catch (e) {
            if (clientStop.signal.aborted) break;
            errors++;
            firstError ||= (e as Error).message;
          }
          sessions++;
          // Think time: mostly short, sometimes a longer pause (a user reading).
          await sleep(pauses.float() < 0.15 ? 300 + pauses.float() * 900 : 20 + pauses.float() * 180, clientStop.signal);
        }
      })();
    },
    async attack(seed: number) {
      const startNs = process.hrtime.bigint();
      await within(scenario.attackRun(ctxFor('attack'), new Prng(seedOf('attack', seed))), ATTACK_MS, `the attack of ${scenario.name}`);
      return { startNs, endNs: process.hrtime.bigint() };
    },
    async stopClient() {
      clientStop.abort();
      if (client) await within(client, 35_000, `the normal client of ${scenario.name} stopping`);
      return { sessions, errors, firstError, actions: normalLog, actionsSha256: normalHash.digest('hex'), attackActions: attackLog };
    },
    async check() {
      const state = await containerState(name);
      if (!state.running) throw new SyswardenError('ERR_SCENARIO', `the ${scenario.name} container stopped (exit ${state.exitCode}): ${state.logs || 'no log'}`);
    },
    close,
  };
}

async function runOne(scenario: Scenario, run: PlannedRun, image: string, dir: string, o: RunScenarioOptions): Promise<RunLabel> {
  const partial = join(dir, `${run.id}.swrec.partial`);
  const app = await startApplication(scenario, image, { name: `syswarden-scenario-${scenario.name}-${process.pid}-${run.index}`, labels: { 'syswarden.run': run.id }, ...(o.signal ? { signal: o.signal } : {}) });
  let collector: Collector | undefined;
  try {
    collector = await Collector.open({ targets: [`docker:${app.container}`], consumerNice: AGENT_CONSUMER_NICE });
    const recStop = new AbortController();
    const startNs = process.hrtime.bigint();
    const recording = recordToFile(collector, partial, { signal: recStop.signal });
    // Awaited at the end of the run; a failure meanwhile (disk full) must not count as unhandled.
    recording.catch(() => {});
    app.startClient(run.seed);
    const interrupted = () => new SyswardenError('ERR_ABORTED', 'interrupted; run the same command again to resume.');
    let attack: RunLabel['attack'] = null;
    const endAt = Date.now() + run.seconds * 1000;
    if (run.kind === 'attack') {
      await sleep(run.attackAt! * 1000, o.signal);
      if (o.signal?.aborted) throw interrupted();
      const span = await app.attack(run.seed);
      attack = { startNs: span.startNs.toString(), endNs: span.endNs.toString() };
    }
    await sleep(Math.max(endAt - Date.now(), run.kind === 'attack' ? TAIL_MS : 0), o.signal);
    const client = await app.stopClient();
    const endNs = process.hrtime.bigint();
    recStop.abort();
    const events = await recording;
    const stats = collector.stats();
    if (o.signal?.aborted) throw interrupted();
    await app.check();
    // A run where most sessions failed recorded a broken application, not its normal behaviour.
    if (client.sessions === 0 || client.errors > client.sessions / 2) {
      throw new SyswardenError('ERR_SCENARIO', `${client.errors} of ${client.sessions} normal sessions of ${scenario.name} failed in ${run.id} (first: ${client.firstError || 'none ran'}).`);
    }
    const label: RunLabel = {
      format: RUN_LABEL_FORMAT,
      version: RUN_LABEL_VERSION,
      scenario: scenario.name,
      application: scenario.application,
      run: run.id,
      index: run.index,
      kind: run.kind,
      attackKind: run.kind === 'attack' ? scenario.attackKind : null,
      datasetSeed: o.seed,
      seed: run.seed,
      image,
      recording: `${run.id}.swrec`,
      startNs: startNs.toString(),
      endNs: endNs.toString(),
      attack,
      plannedSeconds: run.seconds,
      attackAtSeconds: run.attackAt,
      actions: { normal: client.actions, attack: client.attackActions },
      normalActionsSha256: client.actionsSha256,
      sessions: client.sessions,
      sessionErrors: client.errors,
      events,
      drops: { kernel: stats.kernel.dropped, user: stats.user.droppedEvents },
    };
    renameSync(partial, join(dir, label.recording));
    await writeFileSafely(join(dir, `${run.id}.json`), JSON.stringify(label) + '\n', { what: 'run label' });
    return label;
  } finally {
    await collector?.close();
    await app.close();
    rmSync(partial, { force: true });
  }
}

async function waitReady(scenario: Scenario, ctx: ScenarioContext): Promise<void> {
  const deadline = Date.now() + READY_MS;
  let last = '';
  for (;;) {
    try {
      await within(scenario.ready(ctx), 10_000, `${scenario.name}'s readiness check`);
      return;
    } catch (e) {
      last = (e as Error).message;
    }
    const state = await containerState(ctx.container);
    if (!state.running) throw new SyswardenError('ERR_SCENARIO', `the ${scenario.name} container exited (code ${state.exitCode}) before it answered: ${state.logs || 'no log'}`);
    if (Date.now() > deadline) throw new SyswardenError('ERR_SCENARIO', `${scenario.name} did not answer within ${READY_MS / 1000} s (last: ${last}).`);
    if (ctx.signal.aborted) throw new SyswardenError('ERR_ABORTED', 'interrupted while the container started.');
    await sleep(150, ctx.signal);
  }
}
