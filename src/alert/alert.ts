import type { ContainerIdentity, KubernetesMeta } from '../capture/targets.js';
import type { ProcessContext } from '../process/table.js';
import type { TargetInfo } from '../capture/collector.js';
/** Where an alert's container came from (a live target or a recording's header). */
export interface AlertContainer {
  slot: number;
  /** Container id (64 hex) when the target was a container. */
  id?: string;
  name?: string;
  /** The image the container was created from, and its content id (Docker targets). */
  image?: string;
  imageId?: string;
  /** cgroup v2 path of the target. */
  cgroup?: string;
  /** The target spec as given. */
  spec?: string;
  /** Kubernetes metadata, from the io.kubernetes.* labels the runtime carries (auto-watch). */
  kubernetes?: KubernetesMeta;
}

/** How an alert names a target, from whatever knows it (a live target or a recording's header). */
export function alertContainer(slot: number, t?: { spec: string; cgroupPath: string; container?: ContainerIdentity }): AlertContainer {
  const c: AlertContainer = { slot };
  if (!t) return c;
  c.cgroup = t.cgroupPath;
  c.spec = t.spec;
  if (t.container?.id) c.id = t.container.id;
  if (t.container?.name) c.name = t.container.name;
  if (t.container?.image) c.image = t.container.image;
  if (t.container?.imageId) c.imageId = t.container.imageId;
  if (t.container?.kubernetes) c.kubernetes = t.container.kubernetes;
  return c;
}

/** How an alert names a live target (by its id: slot and generation). */
export function targetContainer(t: TargetInfo): AlertContainer {
  return alertContainer(t.id, { spec: t.spec, cgroupPath: t.cgroup.path, ...(t.container ? { container: t.container } : {}) });
}

/**
 * One incident: consecutive alarming windows of one thread. The first
 * alarm emits `type: 'alert'` at once; when the thread has been quiet for a
 * while (or exits, or the pipeline stops), `type: 'incident-end'` carries
 * the final count, so a burst is two lines, not thousands.
 */
export interface Alert {
  /**
   * 'degraded': the container's events were lost (ring full, a consumer
   * behind, a worker lost): detection may have missed windows. `count` is
   * the events lost since the previous report, `lost` the totals so far.
   */
  type: 'alert' | 'incident-end' | 'degraded';
  /** Wall-clock time of emission, ISO 8601. */
  time: string;
  container: AlertContainer;
  tid: number;
  /** Thread group (process) id and command name (live: from the process table). */
  pid?: number;
  comm?: string;
  /** The process behind the alert (live capture): executable, arguments, parent. */
  process?: ProcessContext;
  /** Syscall names of the first alarming window, oldest first. */
  window: string[];
  /** Per-executable models: the executable whose profile scored the window (absent: the container-wide one). */
  profile?: string;
  score: number;
  threshold: number;
  detector: string;
  model: string;
  /** Alarming windows in the incident so far (1 on 'alert'). */
  count: number;
  /** Kernel timestamp (CLOCK_MONOTONIC ns) of the syscall that completed the first alarming window; 0 offline. */
  eventTsNs: number;
  /** Kernel timestamp to alert emission, ms (live capture only). */
  latencyMs?: number;
  /** Incident number, unique within one pipeline (0 for 'degraded'). */
  incident: number;
  /** On 'degraded': events of this container lost so far, by stage. */
  lost?: { kernel: number; user: number; scoring: number };
}

/**
 * Written once by `watch` when detection is live: the scoring workers are
 * up and the BPF program is attached, so every syscall from now on is seen.
 * A supervisor waits for this line instead of guessing with a sleep.
 */
export interface ReadyRecord {
  type: 'ready';
  time: string;
  /** The default model (absent with --all-containers and no --model: each container has its own, said in its 'container-watched' record). */
  detector?: string;
  model?: string;
  /** Calls per window. */
  windowSize?: number;
  workers: number;
  targets: AlertContainer[];
  /** How the BPF program is attached: 'tp_btf' or 'tracepoint'. */
  attach: string;
  /** From process start to this record, ms. */
  startupMs: number;
  /** The model's alarm rule: threshold on the mean of the last `frame` window scores of a thread, set for this budget. */
  calibration?: { threshold: number; frame: number; budget: number; unit: 'trace' | 'hour'; expected: number };
  /** Executables the model learnt as normal ('new-executable' records for others); absent when it knows none (no drift records). */
  knownExecutables?: number;
  /** With --all-containers: the runtimes' cgroups whose new children are watched from their creation. */
  adopting?: string[];
}

/**
 * Auto-watch (--all-containers): a container is watched, from its cgroup's
 * creation (before its first exec), from when watch started (it was
 * running), or late (adopted after its creation: see 'since'); and how it is
 * scored: the model of its image (by image id, then name), the default
 * model, learnt live earlier in this run from a container of the same image,
 * learning live first, or not at all (and why).
 */
export interface ContainerWatchedRecord {
  type: 'container-watched';
  time: string;
  container: AlertContainer;
  since: 'creation' | 'start' | 'late';
  modelFrom: 'image-id' | 'image-name' | 'learnt' | 'default' | 'learning' | 'none';
  /** The model that scores it (absent while learning, or with none). */
  model?: string;
  detector?: string;
  /** Learning: for how long its normal behaviour is learnt before it is scored, seconds. */
  learnFor?: number;
  /** Why no model of its image was used (a damaged file, none fits), when that is so. */
  problem?: string;
}

/**
 * Auto-watch: a container's live learning ended. With `model`, from now on
 * it is scored by what was learnt (and, with `saved`, that model was written
 * for its image); with `problem`, nothing could be learnt and it is
 * `next`: learning again, or left unscored.
 */
export interface ContainerLearntRecord {
  type: 'container-learnt';
  time: string;
  container: AlertContainer;
  seconds: number;
  windows: number;
  model?: string;
  detector?: string;
  threshold?: number;
  saved?: string;
  problem?: string;
  next?: 'scored' | 'learning' | 'unscored';
}

/** A watched target went away (its cgroup was removed: the container stopped); nothing of it is watched any more. */
export interface TargetGoneRecord {
  type: 'target-gone';
  time: string;
  container: AlertContainer;
  /** Targets still watched after this one. */
  remaining: number;
}

/**
 * Records of this stream that never reached its reader, at the place where
 * they are missing: the reader fell behind (the pipeline's iterator holds
 * at most 10 000), or the alert file could not be written (a full disk).
 */
export interface AlertsLostRecord {
  type: 'alerts-lost';
  time: string;
  /** Records lost since the previous 'alerts-lost', and in total. */
  count: number;
  total: number;
  reason: string;
}

/** Every line of the alert stream: alerts and incident ends, and the reports about the stream itself. */
/**
 * A process of a watched container moved to a cgroup outside it (a write to
 * another cgroup's cgroup.procs: a privileged container, a writable
 * cgroupfs). Reported at once, whatever the model says; the process stays
 * watched under the container it left (`container`).
 */
export interface EscapeRecord {
  type: 'escape';
  time: string;
  /** The container it left, under which it is still watched. */
  container: AlertContainer;
  tid: number;
  pid: number;
  comm: string;
  process?: ProcessContext;
  /** The cgroup it left (the target's) and the one it moved to (paths in the cgroup hierarchy). */
  from: string;
  to: string;
  /** When it moved into another watched container: that container. */
  toContainer?: AlertContainer;
  /** Kernel timestamp of the move (CLOCK_MONOTONIC ns). */
  eventTsNs: number;
  /** Kernel timestamp to emission, ms (live capture only). */
  latencyMs?: number;
}

/**
 * Drift: the first exec, in a container, of an executable its model never
 * saw exec'd while training. Independent of the sequence score; one record
 * per container and executable.
 */
export interface NewExecutableRecord {
  type: 'new-executable';
  time: string;
  container: AlertContainer;
  tid: number;
  pid: number;
  comm: string;
  /** The executable, as exec was given it. */
  exe: string;
  process?: ProcessContext;
  /** Kernel timestamp of the exec (CLOCK_MONOTONIC ns). */
  eventTsNs: number;
  /** Kernel timestamp to emission, ms (live capture only). */
  latencyMs?: number;
}

/**
 * What `watch --respond` did about an incident (src/response/): a freeze of
 * the container's cgroup, a SIGKILL of the offending process, or the thaw
 * that ends a freeze. One record per action, failed ones included.
 */
export interface ResponseRecord {
  type: 'response';
  time: string;
  action: 'freeze' | 'kill' | 'thaw';
  /** The container acted on (for a kill: the one the process belongs to). */
  container: AlertContainer;
  /** What set it off: an 'alert' or an 'escape' record; for a thaw, the end of --freeze-for ('timer'), of watch ('exit'), or of the container ('gone'). */
  trigger: 'alert' | 'escape' | 'timer' | 'exit' | 'gone';
  /** The alert's incident number (trigger 'alert'). */
  incident?: number;
  /** The process of the triggering record (a kill's target). */
  pid?: number;
  tid?: number;
  /** 'skipped': nothing needed doing (already frozen, cgroup gone); `reason` says why, as it does for 'failed'. */
  result: 'ok' | 'failed' | 'skipped';
  reason?: string;
  /** From the triggering record's kernel timestamp to the action done (frozen confirmed, signal sent), ms (live capture only). */
  latencyMs?: number;
  /** From the record reaching the responder to the action done, ms. */
  tookMs: number;
  /** On a thaw: how long the container was frozen, ms. */
  frozenMs?: number;
  /** On a thaw: incidents in the container while it was frozen (no record each). */
  incidentsWhileFrozen?: number;
}

/**
 * The disarmer stopped responding for one container: it already took
 * `actions` actions in the last `windowS` seconds (--respond-limit). No more
 * actions for it until it has had no incident for `windowS` seconds.
 */
export interface ResponseDisarmedRecord {
  type: 'response-disarmed';
  time: string;
  container: AlertContainer;
  action: 'freeze' | 'kill';
  actions: number;
  windowS: number;
}

/** The disarmer responds again for a container: no incident for `windowS` seconds; `suppressed` incidents got no action meanwhile. */
export interface ResponseRearmedRecord {
  type: 'response-rearmed';
  time: string;
  container: AlertContainer;
  action: 'freeze' | 'kill';
  suppressed: number;
  windowS: number;
}

export type AlertRecord =
  | Alert
  | ReadyRecord
  | TargetGoneRecord
  | AlertsLostRecord
  | EscapeRecord
  | NewExecutableRecord
  | ResponseRecord
  | ResponseDisarmedRecord
  | ResponseRearmedRecord
  | ContainerWatchedRecord
  | ContainerLearntRecord;

/** How a container is named to people (and in metrics labels): its name, short id, cgroup path, or slot. */
export function nameOf(c: AlertContainer): string {
  return c.name ?? c.id?.slice(0, 12) ?? c.cgroup ?? `slot ${c.slot}`;
}

export function formatAlert(a: AlertRecord): string {
  switch (a.type) {
    case 'ready': {
      const what = a.adopting ? `every container (new ones under ${a.adopting.join(', ')}) and ${a.targets.length} running` : a.targets.map(nameOf).join(', ');
      const how = a.calibration
        ? ` with ${a.detector} (window ${a.windowSize}, ${a.workers} workers, ${a.attach}); started in ${a.startupMs} ms; threshold ${a.calibration.threshold.toPrecision(4)} for ${a.calibration.budget} false alarm(s) per ${a.calibration.unit === 'hour' ? 'container-hour' : 'normal trace'}`
        : ` (${a.workers} workers, ${a.attach}), each with the model of its image; started in ${a.startupMs} ms`;
      return `${a.time}  READY  watching ${what}${how}`;
    }
    case 'container-watched': {
      const how =
        a.modelFrom === 'learning'
          ? `learning its normal behaviour for ${a.learnFor} s, then scored by what it learnt`
          : a.model
            ? `scored by ${a.model} (${a.detector}; by ${a.modelFrom})`
            : 'NOT scored: no model';
      const since = a.since === 'creation' ? 'from its creation' : a.since === 'start' ? 'running at start' : 'adopted late';
      return `${a.time}  WATCH  ${nameOf(a.container)}${a.container.image ? ` (${a.container.image})` : ''} ${since}: ${how}${a.problem ? `; ${a.problem}` : ''}`;
    }
    case 'container-learnt':
      return a.model
        ? `${a.time}  LEARNT ${nameOf(a.container)}: ${a.windows} windows in ${a.seconds.toFixed(0)} s; scored from now by ${a.model} (threshold ${a.threshold?.toPrecision(4)})${a.saved ? `, saved to ${a.saved}` : ''}`
        : `${a.time}  LEARNT ${nameOf(a.container)}: nothing usable in ${a.seconds.toFixed(0)} s (${a.problem}); ${a.next === 'learning' ? 'learning again' : 'not scored'}`;
    case 'target-gone':
      return `${a.time}  GONE   ${nameOf(a.container)}: its cgroup was removed, it is no longer watched (${a.remaining} target(s) left)`;
    case 'alerts-lost':
      return `${a.time}  LOST   ${a.count} alert record(s) here (${a.total} in all): ${a.reason}`;
    case 'new-executable':
      return `${a.time}  DRIFT  ${nameOf(a.container)} ${a.comm}[${a.pid}/${a.tid}]${describeProcess(a.process)}: ${a.exe} was never exec'd while the model was trained`;
    case 'escape':
      return `${a.time}  ESCAPE ${nameOf(a.container)} ${a.comm}[${a.pid}/${a.tid}]${describeProcess(a.process)} left ${a.from} for ${a.to}${a.toContainer ? ` (${nameOf(a.toContainer)})` : ''}; still watched`;
    case 'response':
      return formatResponse(a);
    case 'response-disarmed':
      return `${a.time}  DISARM ${nameOf(a.container)}: ${a.actions} ${a.action} action(s) in ${a.windowS} s, the limit; no more until it has had no incident for ${a.windowS} s`;
    case 'response-rearmed':
      return `${a.time}  REARM  ${nameOf(a.container)}: no incident for ${a.windowS} s, ${a.action} armed again (${a.suppressed} incident(s) got no action meanwhile)`;
    default:
      return formatScored(a);
  }
}

function formatScored(a: Alert): string {
  const who = nameOf(a.container);
  const proc = a.comm ? `${a.comm}[${a.pid ?? '?'}/${a.tid}]` : `tid ${a.tid}`;
  if (a.type === 'degraded') {
    const l = a.lost!;
    return `${a.time}  DEGRADED capture for ${who}: ${a.count} events lost (so far kernel ${l.kernel}, user space ${l.user}, scoring ${l.scoring}); detection may miss windows`;
  }
  if (a.type === 'incident-end') {
    return `${a.time}  END    #${a.incident} ${who} ${proc}: ${a.count} alarming windows`;
  }
  const lat = a.latencyMs !== undefined ? ` (${a.latencyMs.toFixed(1)} ms after the syscall)` : '';
  return `${a.time}  ALERT  #${a.incident} ${who} ${proc}${describeProcess(a.process)}: ${a.detector} score ${a.score.toFixed(3)} >= ${a.threshold.toFixed(3)} on [${a.window.join(' ')}]${lat}`;
}

function formatResponse(a: ResponseRecord): string {
  const what = a.action === 'kill' ? `kill ${a.pid ?? '?'}` : a.action;
  const why = a.trigger === 'alert' ? ` for #${a.incident ?? '?'}` : a.trigger === 'escape' ? ` for the escape of ${a.pid ?? '?'}` : a.trigger === 'exit' ? ' at exit' : ' (--freeze-for over)';
  const result = a.result === 'ok' ? 'done' : `${a.result}: ${a.reason ?? 'no reason given'}`;
  const lat = a.latencyMs !== undefined ? `, ${a.latencyMs.toFixed(1)} ms after the syscall` : '';
  const frozen = a.frozenMs !== undefined ? `, frozen ${(a.frozenMs / 1000).toFixed(1)} s${a.incidentsWhileFrozen ? ` (${a.incidentsWhileFrozen} incident(s) meanwhile)` : ''}` : '';
  return `${a.time}  RESPOND ${what} ${nameOf(a.container)}${why}: ${result}${lat}${frozen}`;
}

/** " exe: args (parent: exe)", bounded: what a responder reads first. */
function describeProcess(p: ProcessContext | undefined): string {
  if (!p?.exe) return '';
  const args = p.args && p.args.length > 1 ? ` ${JSON.stringify(p.args.slice(1).join(' ').slice(0, 120))}` : '';
  const parent = p.parentExe ? ` (parent ${p.parentExe}[${p.ppid}])` : ` (parent ${p.ppid})`;
  // The pid inside its container, when it differs from the host's (ps in the container shows it).
  const inside = p.vpid !== undefined && p.vpid !== p.pid ? ` (pid ${p.vpid} in its container)` : '';
  return ` ${p.exe}${args}${inside}${parent}`;
}
