import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert, AlertRecord, ResponseRecord } from '../../src/alert/alert.js';
import { workloadPath } from '../../src/capture/addon.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { Responder } from '../../src/response/responder.js';
import { waitFor } from '../capture/helpers.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';
import { alive, watchAndRespond } from './helpers.js';

let cg: ScratchCgroup;
let elsewhere: ScratchCgroup;
let dir: string;
let model: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  cg = createScratchCgroup(`sw-test-kill-${process.pid}`);
  elsewhere = createScratchCgroup(`sw-test-kill-away-${process.pid}`);
  dir = mkdtempSync(join(tmpdir(), 'sw-kill-'));
  model = join(dir, 'alarm.model');
  await saveAlarmingModel(model);
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await cg.remove();
  await elsewhere.remove();
  rmSync(dir, { recursive: true, force: true });
});

function start(args: string[]): ChildProcess {
  const c = spawn(workloadPath(), args, { stdio: 'ignore' });
  children.push(c);
  return c;
}

const exited = (c: ChildProcess) => new Promise<NodeJS.Signals | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.signalCode) : c.once('exit', (_code, sig) => r(sig))));
const procs = (g: ScratchCgroup) => readFileSync(join(g.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);

describe('--respond kill', () => {
  it('kills the offending process through a pidfd and nothing else in its container', async () => {
    // A bystander in the same container, asleep since before the watch: it makes no syscall, so no incident.
    const bystander = start(['--cgroup', cg.dir, 'exec', 'sleep', '1000']);
    await waitFor(() => procs(cg).includes(bystander.pid!) && readFileSync(`/proc/${bystander.pid}/comm`, 'utf8').trim() === 'sleep', 'the bystander asleep in the container', 10_000);
    const w = await watchAndRespond([cg.spec], model, { action: 'kill', limit: 10 });
    try {
      const offender = start(['--cgroup', cg.dir, 'forever', '1000']);
      await waitFor(() => w.responses('kill').some((r) => r.pid === offender.pid), 'the kill of the offender', 20_000);
      const kill = w.responses('kill').find((r) => r.pid === offender.pid)!;
      expect(kill, JSON.stringify(kill)).toMatchObject({ result: 'ok', trigger: 'alert', container: { cgroup: cg.ref.path } });
      expect(await exited(offender)).toBe('SIGKILL');
      console.log(`kill: syscall -> SIGKILL sent ${kill.latencyMs} ms, alert -> sent ${kill.tookMs} ms`);
      expect(alive(bystander.pid!)).toBe(true);
      expect(procs(cg)).toContain(bystander.pid!);
      // Every kill it took was of the offender.
      expect(w.responses('kill').filter((r) => r.result === 'ok').map((r) => r.pid)).toEqual([offender.pid]);
    } finally {
      await w.close();
    }
    expect(alive(bystander.pid!)).toBe(true);
  }, 120_000);

  it('refuses a pid that has left the container, and skips one that has exited', async () => {
    const records: AlertRecord[] = [];
    const responder = await Responder.create({ action: 'kill', write: (r) => records.push(r) });
    try {
      // A real process that was in the container when it alarmed, and then moved out.
      const p = start(['--cgroup', cg.dir, 'forever', '100000']);
      await waitFor(() => procs(cg).includes(p.pid!), 'the process in the container', 10_000);
      writeFileSync(join(elsewhere.dir, 'cgroup.procs'), String(p.pid));
      const alert: Alert = {
        type: 'alert', time: new Date().toISOString(), container: { slot: 0, cgroup: cg.ref.path, spec: cg.spec }, tid: p.pid!, pid: p.pid!,
        window: ['getppid'], score: 1, threshold: 1, detector: 'stide', model, count: 1, eventTsNs: Number(process.hrtime.bigint()), incident: 1,
      };
      responder.handle(alert);
      const refused = records.at(-1) as ResponseRecord;
      expect(refused).toMatchObject({ type: 'response', action: 'kill', pid: p.pid, result: 'failed' });
      expect(refused.reason).toMatch(new RegExp(`in cgroup ${elsewhere.ref.path}, not in ${cg.ref.path}`));
      expect(alive(p.pid!)).toBe(true);

      // Gone: nothing to kill, and nothing else is hit if the number is given again.
      p.kill('SIGKILL');
      await exited(p);
      responder.handle({ ...alert, incident: 2 });
      expect(records.at(-1)).toMatchObject({ type: 'response', action: 'kill', pid: p.pid, result: 'skipped', reason: `process ${p.pid} has already exited` });
      // Refused and skipped are not actions: the disarmer counts none.
      expect(responder.stats()).toMatchObject({ actions: 0, failed: 0, refused: 1, skipped: 1 });
    } finally {
      await responder.close();
    }
  });
});
