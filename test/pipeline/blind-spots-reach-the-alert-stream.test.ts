import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert, AlertRecord, EscapeRecord } from '../../src/alert/alert.js';
import { workloadPath } from '../../src/capture/addon.js';
import { Collector } from '../../src/capture/collector.js';
import { recordToFile } from '../../src/capture/record-session.js';
import { recordingBatches } from '../../src/capture/recording.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { replayFile } from '../../src/pipeline/replay.js';
import { syscallName } from '../../src/trace/syscalls.js';
import { validate } from '../alert/json-schema.js';
import { runWorkload } from '../capture/helpers.js';
import { startCli } from './cli-process.js';
import { saveAlarmingModel } from './helpers.js';

// An SQPOLL ring's reads (not one syscall of the process reads the file) and
// a move out of the container, from the kernel to the alert stream: watch
// output, a recording, and its replay.

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const schema = JSON.parse(readFileSync(join(root, 'docs', 'alert-schema.json'), 'utf8')) as Record<string, unknown>;

let dir: string;
let model: string;
let cg: ScratchCgroup;
let sibling: ScratchCgroup;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-blind-'));
  model = join(dir, 'alarm.model');
  // Every window of a real process alarms under this model: each thread's first window is its alert's.
  await saveAlarmingModel(model);
  cg = createScratchCgroup(`sw-test-blind-watch-${process.pid}`);
  sibling = createScratchCgroup(`sw-test-blind-watch-sib-${process.pid}`);
});
afterAll(async () => {
  await cg.remove();
  await sibling.remove();
  rmSync(dir, { recursive: true, force: true });
});

const onlyRingOps = (w: unknown) => Array.isArray(w) && w.length > 0 && w.every((n) => typeof n === 'string' && n.startsWith('io_uring:')) && w.includes('io_uring:openat');

/** The ring program and the escaping one, in the scratch cgroup; the escaper's pid. */
async function act(): Promise<number> {
  await runWorkload(['--cgroup', cg.dir, 'uring', '/etc/hostname', '3', 'sqpoll']);
  return runWorkload(['--cgroup', cg.dir, '--cgroup', sibling.dir, 'pattern', '50']);
}

describe('blind spots in the alert stream', () => {
  it('watch shows a ring thread alerting on io_uring operations and reports the escape at once; every record fits the schema', async () => {
    const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--workers', '1']);
    await cli.waitFor(() => cli.records().some((r) => r.type === 'ready'), 'the ready record');
    const pid = await act();
    await cli.waitFor(() => cli.records().some((r) => r.type === 'alert' && onlyRingOps(r.window)), 'an alert on a window of io_uring operations');
    await cli.waitFor(() => cli.records().some((r) => r.type === 'escape' && r.pid === pid), 'the escape record');
    expect(await cli.stop()).toBe(0);
    const records = cli.records();
    for (const r of records) expect(validate(schema, r), JSON.stringify(r)).toEqual([]);
    const escape = records.find((r) => r.type === 'escape')!;
    expect(escape).toMatchObject({
      container: { spec: cg.spec, cgroup: cg.ref.path },
      pid,
      tid: pid,
      comm: 'sw-workload',
      from: cg.ref.path,
      to: sibling.ref.path,
      process: { pid, exe: realpathSync(workloadPath()), source: 'attach' },
    });
    expect(escape.latencyMs).toBeGreaterThan(0);
    expect(records.filter((r) => r.type === 'escape')).toHaveLength(1);
  });

  it('a recording keeps them, and its replay gives the same escape and the same ring alert', async () => {
    const out = join(dir, 'blind.swrec');
    const collector = await Collector.open({ targets: [cg.spec] });
    const live = await Pipeline.create({ model, workers: 1 });
    const liveRecords: AlertRecord[] = [];
    live.on('alert', (r: AlertRecord) => liveRecords.push(r));
    live.attach(collector);
    const rec = recordToFile(collector, out);
    const pid = await act();
    await collector.close();
    await rec;
    await live.close();

    // In the file: the ring's operations as syscall records, the move as a process event.
    const names = new Set<string>();
    const kinds: string[] = [];
    for await (const { batch } of recordingBatches(out)) {
      for (let i = 0; i < batch.count; i++) names.add(syscallName(batch.nr(i)));
      for (const e of batch.proc) if (e.pid === pid) kinds.push(e.kind);
    }
    expect([...names]).toEqual(expect.arrayContaining(['io_uring_setup', 'io_uring_enter', 'io_uring:openat', 'io_uring:read', 'io_uring:close']));
    expect(kinds).toEqual(expect.arrayContaining(['attach', 'escape', 'exit']));

    const offline = await Pipeline.create({ model, workers: 1 });
    const replayed: AlertRecord[] = [];
    offline.on('alert', (r: AlertRecord) => replayed.push(r));
    await replayFile(offline, out);
    await offline.close();
    // Live names the parent from /proc (it is outside the container, never exec'd in it); a replay cannot.
    const escapes = (xs: AlertRecord[]) =>
      xs
        .filter((r): r is EscapeRecord => r.type === 'escape')
        .map(({ time: _t, latencyMs: _l, process: p, ...r }) => ({ ...r, process: { ...p, parentExe: undefined } }));
    expect(escapes(replayed)).toHaveLength(1);
    expect(escapes(replayed)).toEqual(escapes(liveRecords));
    const ringAlerts = (xs: AlertRecord[]) => xs.filter((r): r is Alert => r.type === 'alert' && onlyRingOps(r.window)).map((a) => [a.tid, a.window.join(' ')]);
    expect(ringAlerts(replayed).length).toBeGreaterThan(0);
    expect(ringAlerts(replayed)).toEqual(ringAlerts(liveRecords));
  });
});
