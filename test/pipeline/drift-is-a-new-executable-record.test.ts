import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { AlertRecord, NewExecutableRecord } from '../../src/alert/alert.js';
import type { ExecEvent } from '../../src/capture/proc-event.js';
import { EventBatch } from '../../src/capture/record.js';
import { statedCalibration } from '../../src/detect/calibration.js';
import { encodeModel } from '../../src/detect/model-file.js';
import { Stide } from '../../src/detect/stide.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { NormalLearner } from '../../src/detect/train.js';
import { windowStream } from '../../src/window/windows.js';
import { validate } from '../alert/json-schema.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const schema = JSON.parse(readFileSync(join(root, 'docs', 'alert-schema.json'), 'utf8')) as Record<string, unknown>;

function model(executables?: string[]): Uint8Array {
  const d = new Stide();
  d.fit(windowStream(new Uint16Array(600).map((_, i) => (i % 6) + 1), 4));
  return encodeModel(d, statedCalibration(1, 1), { filter: 'none', ...(executables ? { executables } : {}) });
}

function exec(pid: number, exe: string, targetId = 0, args = [exe]): ExecEvent {
  return { kind: 'exec', tsNs: pid * 1000, tid: pid, pid, ppid: 1, vtid: pid, vpid: pid, targetId, comm: exe.split('/').pop()!.slice(0, 15), at: 0, exe, args, exeTruncated: false, argsTruncated: false };
}

/** The exec events in one batch (no syscall records), pushed as a recording's would be; the records that came out. */
async function run(bytes: Uint8Array, events: ExecEvent[]): Promise<AlertRecord[]> {
  const p = await Pipeline.create({ model: bytes, workers: 1 });
  const out: AlertRecord[] = [];
  p.on('alert', (r: AlertRecord) => out.push(r));
  p.push(new EventBatch(new ArrayBuffer(0), 0n, { events, bytes: new ArrayBuffer(0) }));
  await p.drain();
  await p.close();
  return out;
}

describe("drift: an executable the model never saw exec'd", () => {
  it('is one new-executable record per container and executable, whatever the sequence score', async () => {
    const events = [exec(10, '/bin/sh'), exec(11, '/usr/bin/cat'), exec(12, '/usr/bin/cat'), exec(13, '/usr/bin/cat', 1), exec(14, '/tmp/x')];
    const out = await run(model(['/bin/sh']), events);
    const drift = out.filter((r): r is NewExecutableRecord => r.type === 'new-executable');
    expect(drift.map((r) => [r.pid, r.exe, r.container.slot])).toEqual([
      [11, '/usr/bin/cat', 0],
      [13, '/usr/bin/cat', 1],
      [14, '/tmp/x', 0],
    ]);
    // Named from the same exec event: the process table knew it already.
    expect(drift[0]!.process).toMatchObject({ pid: 11, exe: '/usr/bin/cat', source: 'exec' });
    expect(drift[0]!.eventTsNs).toBe(11_000);
    expect(drift[0]!.latencyMs).toBeUndefined();
    for (const r of drift) expect(validate(schema, r), JSON.stringify(r)).toEqual([]);
  });

  it('is never reported by a model that learnt no executables (trained without process events)', async () => {
    const out = await run(model(), [exec(11, '/usr/bin/cat')]);
    expect(out.filter((r) => r.type === 'new-executable')).toEqual([]);
  });

  it("flags every exec under a model that learnt an empty set (a container that exec'd nothing while training)", async () => {
    const out = await run(model([]), [exec(11, '/usr/bin/cat')]);
    expect(out.filter((r) => r.type === 'new-executable')).toHaveLength(1);
  });

  it("is not the runtime re-executing its cloned binary (runc init from /dev/fd) before the container's own first exec, but is any exec from a descriptor after it", async () => {
    // As recorded here (runc 1.1): runc init re-execs /dev/fd/6 as `runc init`; whether that lands in the
    // container's cgroup is a race between runc and its child, so a busy host sees it and an idle one does not.
    const runcInit = ['runc', 'init'];
    const events = [
      exec(20, '/dev/fd/6', 0, runcInit),
      exec(21, '/bin/busybox', 0),
      exec(22, '/dev/fd/6', 0, runcInit), // after the entrypoint: fileless execution, whatever it calls itself
      exec(30, '/proc/self/fd/5', 1, ['/usr/sbin/runc', 'init']),
      exec(31, '/dev/fd/3', 1, ['runc', 'init', 'x']), // not runc's argument list
    ];
    const out = await run(model(['/bin/sh']), events);
    const drift = out.filter((r): r is NewExecutableRecord => r.type === 'new-executable');
    expect(drift.map((r) => [r.pid, r.exe, r.container.slot])).toEqual([
      [21, '/bin/busybox', 0],
      [22, '/dev/fd/6', 0],
      [31, '/dev/fd/3', 1],
    ]);
  });

  it("is learnt by the same rule: training does not learn the runtime's re-exec as an executable of the container, so a later exec from that descriptor is drift", async () => {
    const runcInit = ['runc', 'init'];
    const learner = new NormalLearner(4, 'none');
    learner.executables = new Set();
    learner.addBatch(new EventBatch(new ArrayBuffer(0), 0n, { events: [exec(20, '/dev/fd/6', 0, runcInit), exec(21, '/bin/sh', 0), exec(22, '/dev/fd/5', 0, runcInit)], bytes: new ArrayBuffer(0) }));
    // The setup exec is not learnt; an fd exec once the container runs its program is (it happened while learning).
    expect([...learner.executables].sort()).toEqual(['/bin/sh', '/dev/fd/5']);
    const out = await run(model([...learner.executables]), [exec(30, '/bin/sh', 0), exec(31, '/dev/fd/6', 0, runcInit)]);
    expect(out.filter((r): r is NewExecutableRecord => r.type === 'new-executable').map((r) => r.exe)).toEqual(['/dev/fd/6']);
  });
});
