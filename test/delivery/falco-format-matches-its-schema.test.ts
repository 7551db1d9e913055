import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertRecord } from '../../src/alert/alert.js';
import { FALCO_RULES, toFalcoEvent } from '../../src/alert/falco.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runWorkload } from '../capture/helpers.js';
import { startCli } from '../pipeline/cli-process.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';
import { jsonLines, sampleAlert } from '../alert/helpers.js';
import { validate } from '../alert/json-schema.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const schema = JSON.parse(readFileSync(join(root, 'docs', 'falco-event-schema.json'), 'utf8')) as Record<string, unknown>;

let dir: string;
let model: string;
let cg: ScratchCgroup;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-falco-'));
  model = join(dir, 'alarm.model');
  await saveAlarmingModel(model);
  cg = createScratchCgroup(`sw-test-falco-${process.pid}`);
});
afterAll(async () => {
  await cg?.remove();
  rmSync(dir, { recursive: true, force: true });
});

const container = { slot: 1, id: 'a'.repeat(64), name: 'web', image: 'nginx:1.27', imageId: 'sha256:' + 'b'.repeat(64), cgroup: '/system.slice/docker-aaaa.scope', spec: 'docker:web' };
const proc = { pid: 42, ppid: 1, vpid: 7, comm: 'sh', exe: '/bin/sh', args: ['/bin/sh', '-c', 'id'], parentExe: '/usr/sbin/nginx', source: 'exec' as const };
const t = '2026-03-01T12:00:00.123Z';
/** One record of every type, as the pipeline writes them. */
const EVERY: AlertRecord[] = [
  { ...sampleAlert(1), container, pid: 42, comm: 'sh', process: proc, latencyMs: 1.5 },
  { ...sampleAlert(1), type: 'incident-end', count: 7 },
  { type: 'degraded', time: t, container, tid: 0, window: [], score: 0, threshold: 0, detector: 'stide', model: 'm', count: 3, eventTsNs: 0, incident: 0, lost: { kernel: 1, user: 2, scoring: 0 } },
  { type: 'escape', time: t, container, tid: 43, pid: 43, comm: 'sh', process: proc, from: '/a', to: '/b', eventTsNs: 5, latencyMs: 0.2 },
  { type: 'new-executable', time: t, container, tid: 44, pid: 44, comm: 'nc', exe: '/usr/bin/nc', eventTsNs: 6 },
  { type: 'target-gone', time: t, container, remaining: 0 },
  { type: 'container-watched', time: t, container: { ...container, kubernetes: { namespace: 'shop', pod: 'web-0' } }, since: 'creation', modelFrom: 'image-id', model: 'm', detector: 'stide' },
  { type: 'container-learnt', time: t, container, seconds: 60, windows: 5000, model: 'm', detector: 'stide', threshold: 0.5, next: 'scored' },
  { type: 'alerts-lost', time: t, count: 3, total: 9, reason: 'a full disk' },
  { type: 'response', time: t, action: 'freeze', container, trigger: 'alert', incident: 1, pid: 42, tid: 42, result: 'ok', latencyMs: 12.5, tookMs: 0.4 },
  { type: 'response-disarmed', time: t, container, action: 'freeze', actions: 3, windowS: 60 },
  { type: 'response-rearmed', time: t, container, action: 'freeze', suppressed: 51, windowS: 60 },
  {
    type: 'ready', time: t, detector: 'stide', model: 'm', windowSize: 4, workers: 1, targets: [container], attach: 'tp_btf', startupMs: 100,
    calibration: { threshold: 1, frame: 1, budget: 0.05, unit: 'trace', expected: 0 },
  },
];

describe('--format falco (docs/falco-event-schema.json)', () => {
  it('turns every record type into a Falco event the schema accepts, with its rule, priority and Falco field names', () => {
    expect(new Set(EVERY.map((r) => r.type))).toEqual(new Set(Object.keys(FALCO_RULES)));
    for (const r of EVERY) {
      const e = toFalcoEvent(r);
      expect(validate(schema, e), JSON.stringify(e)).toEqual([]);
      expect(e).toMatchObject({ source: 'syswarden', rule: FALCO_RULES[r.type].rule, priority: FALCO_RULES[r.type].priority });
    }
    const alert = toFalcoEvent(EVERY[0]!);
    expect(alert.time).toBe(`${sampleAlert(1).time.slice(0, -1)}000000Z`);
    expect(alert.output_fields).toMatchObject({
      'container.id': 'a'.repeat(12), 'container.full_id': 'a'.repeat(64), 'container.name': 'web', 'container.image': 'nginx:1.27',
      'proc.pid': 42, 'proc.vpid': 7, 'proc.name': 'sh', 'proc.exepath': '/bin/sh', 'proc.cmdline': 'sh -c id', 'proc.pexepath': '/usr/sbin/nginx',
      'syswarden.score': 1, 'syswarden.threshold': 0.35,
    });
    expect(toFalcoEvent(EVERY[3]!).priority).toBe('Critical');
    expect(toFalcoEvent(EVERY[6]!).output_fields).toMatchObject({ 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-0' });
  });

  it('is what watch --format falco writes, record by record, and the schema holds for all of it', async () => {
    const out = join(dir, 'falco.jsonl');
    const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--workers', '1', '--format', 'falco', '--output', out]);
    await cli.waitFor(() => /syswarden: watching/.test(cli.stderr()), 'watch to be running');
    await runWorkload(['--cgroup', cg.dir, 'exec', '/bin/sh', '-c', '/bin/cat /etc/hostname >/dev/null']);
    const events = () => jsonLines(readFileSync(out, 'utf8'));
    await cli.waitFor(() => events().some((e) => (e.output_fields as Record<string, unknown>)['proc.exepath'] === '/bin/cat'), 'the alert for cat');
    expect(await cli.stop()).toBe(0);
    const all = events();
    expect(all[0]).toMatchObject({ rule: 'syswarden watching', priority: 'Informational' });
    for (const e of all) expect(validate(schema, e), JSON.stringify(e)).toEqual([]);
    const cat = all.find((e) => (e.output_fields as Record<string, unknown>)['proc.exepath'] === '/bin/cat')!;
    expect(cat).toMatchObject({ rule: 'syswarden anomalous syscall sequence', priority: 'Warning' });
    expect(cat.output_fields).toMatchObject({ 'proc.name': 'cat', 'proc.cmdline': 'cat /etc/hostname', 'proc.pexepath': '/bin/sh', 'container.id': 'host' });
  });

  it('refuses events that break it (the check can fail)', () => {
    const e = toFalcoEvent(EVERY[0]!);
    expect(validate(schema, { ...e, priority: 'Critical' }).join('; ')).toMatch(/oneOf/);
    expect(validate(schema, { ...e, time: t }).join('; ')).toMatch(/does not match/);
    expect(validate(schema, { ...e, output_fields: { ...e.output_fields, 'proc.nam': 'x' } }).join('; ')).toMatch(/proc\.nam/);
  });
});
