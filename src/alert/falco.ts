import { hostname } from 'node:os';
import { formatAlert, type AlertContainer, type AlertRecord } from './alert.js';
import type { ProcessContext } from '../process/table.js';

/**
 * Alert records as Falco events (the JSON Falco writes with json_output), so
 * Falcosidekick and the tools that read Falco take syswarden's alerts as they
 * come. The mapping is documented, field by field, in
 * docs/falco-event-schema.json (checked by test/delivery) and
 * docs/alert-delivery.md.
 */

/** Falco's priorities, most severe first. */
export type FalcoPriority = 'Emergency' | 'Alert' | 'Critical' | 'Error' | 'Warning' | 'Notice' | 'Informational' | 'Debug';

export interface FalcoEvent {
  /** `HH:MM:SS.nnnnnnnnn: <Priority> <sentence>`, as Falco writes it. */
  output: string;
  priority: FalcoPriority;
  rule: string;
  /** RFC 3339, nanoseconds. */
  time: string;
  source: 'syswarden';
  hostname: string;
  tags: string[];
  output_fields: Record<string, string | number | boolean | string[] | null>;
}

/** One row per record type: the rule it fires, its priority, its tags. The one place this policy lives. */
export const FALCO_RULES: Readonly<Record<AlertRecord['type'], { rule: string; priority: FalcoPriority; tags: readonly string[] }>> = {
  alert: { rule: 'syswarden anomalous syscall sequence', priority: 'Warning', tags: ['syswarden', 'container', 'anomaly'] },
  'incident-end': { rule: 'syswarden incident ended', priority: 'Informational', tags: ['syswarden', 'container', 'anomaly'] },
  escape: { rule: 'syswarden process left its container cgroup', priority: 'Critical', tags: ['syswarden', 'container', 'mitre_privilege_escalation', 'T1611'] },
  'new-executable': { rule: 'syswarden executable not seen in training', priority: 'Warning', tags: ['syswarden', 'container', 'drift', 'mitre_execution'] },
  degraded: { rule: 'syswarden capture degraded', priority: 'Error', tags: ['syswarden', 'health'] },
  'alerts-lost': { rule: 'syswarden alert records lost', priority: 'Error', tags: ['syswarden', 'health'] },
  ready: { rule: 'syswarden watching', priority: 'Informational', tags: ['syswarden', 'lifecycle'] },
  'target-gone': { rule: 'syswarden target gone', priority: 'Notice', tags: ['syswarden', 'container', 'lifecycle'] },
  'container-watched': { rule: 'syswarden container watched', priority: 'Informational', tags: ['syswarden', 'container', 'lifecycle'] },
  'container-learnt': { rule: 'syswarden container learnt', priority: 'Notice', tags: ['syswarden', 'container', 'lifecycle'] },
  response: { rule: 'syswarden response taken', priority: 'Notice', tags: ['syswarden', 'container', 'response'] },
  'response-disarmed': { rule: 'syswarden response disarmed', priority: 'Warning', tags: ['syswarden', 'container', 'response'] },
  'response-rearmed': { rule: 'syswarden response rearmed', priority: 'Notice', tags: ['syswarden', 'container', 'response'] },
};

let host: string | undefined;

export function toFalcoEvent(r: AlertRecord): FalcoEvent {
  const { rule, priority, tags } = FALCO_RULES[r.type];
  const time = nanoTime(r.time);
  // The readable line without its own time stamp: Falco's output leads with the time of day.
  const sentence = formatAlert(r).replace(/^\S+\s+/, '');
  return {
    output: `${time.slice(11, 29)}: ${priority} ${sentence}`,
    priority,
    rule,
    time,
    source: 'syswarden',
    hostname: (host ??= hostname()),
    tags: [...tags],
    output_fields: fieldsOf(r),
  };
}

/** ISO 8601 with ms (what records carry) to RFC 3339 with ns. */
function nanoTime(iso: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(iso);
  if (!m) return iso;
  return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z`;
}

type Fields = FalcoEvent['output_fields'];

function fieldsOf(r: AlertRecord): Fields {
  const f: Fields = { 'syswarden.type': r.type };
  switch (r.type) {
    case 'alert':
    case 'incident-end':
    case 'degraded':
      container(f, r.container);
      thread(f, r.tid, r.pid, r.comm, r.process);
      if (r.type === 'degraded') {
        f['syswarden.lost'] = r.count;
        f['syswarden.lost.kernel'] = r.lost?.kernel ?? 0;
        f['syswarden.lost.user'] = r.lost?.user ?? 0;
        f['syswarden.lost.scoring'] = r.lost?.scoring ?? 0;
        break;
      }
      f['syswarden.score'] = r.score;
      f['syswarden.threshold'] = r.threshold;
      f['syswarden.detector'] = r.detector;
      f['syswarden.model'] = r.model;
      f['syswarden.incident'] = r.incident;
      f['syswarden.count'] = r.count;
      f['syswarden.window'] = [...r.window];
      if (r.profile !== undefined) f['syswarden.profile'] = r.profile;
      if (r.latencyMs !== undefined) f['syswarden.latency_ms'] = r.latencyMs;
      break;
    case 'escape':
      container(f, r.container);
      thread(f, r.tid, r.pid, r.comm, r.process);
      f['syswarden.escape.from'] = r.from;
      f['syswarden.escape.to'] = r.to;
      if (r.toContainer) f['syswarden.escape.to_container'] = r.toContainer.name ?? r.toContainer.id ?? r.toContainer.cgroup ?? null;
      if (r.latencyMs !== undefined) f['syswarden.latency_ms'] = r.latencyMs;
      break;
    case 'new-executable':
      container(f, r.container);
      thread(f, r.tid, r.pid, r.comm, r.process);
      // The executable as exec was given it: what drifted.
      f['proc.exepath'] = r.exe;
      if (r.latencyMs !== undefined) f['syswarden.latency_ms'] = r.latencyMs;
      break;
    case 'target-gone':
      container(f, r.container);
      f['syswarden.remaining'] = r.remaining;
      break;
    case 'alerts-lost':
      f['syswarden.lost'] = r.count;
      f['syswarden.lost_total'] = r.total;
      f['syswarden.reason'] = r.reason;
      break;
    case 'ready':
      if (r.detector !== undefined) f['syswarden.detector'] = r.detector;
      if (r.model !== undefined) f['syswarden.model'] = r.model;
      if (r.calibration) f['syswarden.threshold'] = r.calibration.threshold;
      f['syswarden.targets'] = r.targets.map((t) => t.name ?? t.id ?? t.cgroup ?? `slot ${t.slot}`);
      break;
    case 'container-watched':
      container(f, r.container);
      f['syswarden.since'] = r.since;
      f['syswarden.model_from'] = r.modelFrom;
      if (r.model !== undefined) f['syswarden.model'] = r.model;
      if (r.detector !== undefined) f['syswarden.detector'] = r.detector;
      if (r.problem !== undefined) f['syswarden.reason'] = r.problem;
      break;
    case 'container-learnt':
      container(f, r.container);
      f['syswarden.learnt_seconds'] = r.seconds;
      f['syswarden.learnt_windows'] = r.windows;
      if (r.model !== undefined) f['syswarden.model'] = r.model;
      if (r.detector !== undefined) f['syswarden.detector'] = r.detector;
      if (r.threshold !== undefined) f['syswarden.threshold'] = r.threshold;
      if (r.problem !== undefined) f['syswarden.reason'] = r.problem;
      if (r.next !== undefined) f['syswarden.next'] = r.next;
      break;
    case 'response':
      container(f, r.container);
      f['syswarden.action'] = r.action;
      f['syswarden.trigger'] = r.trigger;
      f['syswarden.result'] = r.result;
      if (r.pid !== undefined) f['proc.pid'] = r.pid;
      if (r.tid !== undefined) f['thread.tid'] = r.tid;
      if (r.incident !== undefined) f['syswarden.incident'] = r.incident;
      if (r.reason !== undefined) f['syswarden.reason'] = r.reason;
      if (r.latencyMs !== undefined) f['syswarden.latency_ms'] = r.latencyMs;
      break;
    case 'response-disarmed':
    case 'response-rearmed':
      container(f, r.container);
      f['syswarden.action'] = r.action;
      f['syswarden.window_s'] = r.windowS;
      if (r.type === 'response-disarmed') f['syswarden.count'] = r.actions;
      else f['syswarden.count'] = r.suppressed;
      break;
  }
  return f;
}

/** Falco's container fields: `container.id` is the 12-character short id, `container.full_id` the whole one. */
function container(f: Fields, c: AlertContainer): void {
  f['container.id'] = c.id ? c.id.slice(0, 12) : 'host';
  if (c.id) f['container.full_id'] = c.id;
  f['container.name'] = c.name ?? c.spec ?? c.cgroup ?? null;
  f['container.image'] = c.image ?? null;
  if (c.imageId) f['container.image.id'] = c.imageId;
  if (c.cgroup) f['syswarden.cgroup'] = c.cgroup;
  if (c.kubernetes?.namespace) f['k8s.ns.name'] = c.kubernetes.namespace;
  if (c.kubernetes?.pod) f['k8s.pod.name'] = c.kubernetes.pod;
  if (c.kubernetes?.podUid) f['k8s.pod.uid'] = c.kubernetes.podUid;
}

function thread(f: Fields, tid: number, pid: number | undefined, comm: string | undefined, p: ProcessContext | undefined): void {
  f['thread.tid'] = tid;
  f['proc.pid'] = p?.pid ?? pid ?? null;
  f['proc.name'] = p?.comm ?? comm ?? null;
  if (!p) return;
  f['proc.ppid'] = p.ppid;
  // Falco's convention: proc.pid the host's number, proc.vpid the one in the process's own pid namespace.
  if (p.vpid !== undefined) f['proc.vpid'] = p.vpid;
  if (p.exe) f['proc.exepath'] = p.exe;
  if (p.args) f['proc.cmdline'] = [p.comm, ...p.args.slice(1)].join(' ');
  if (p.parentExe) f['proc.pexepath'] = p.parentExe;
}
