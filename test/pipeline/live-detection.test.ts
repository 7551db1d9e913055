import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatAlert, type Alert, type AlertRecord } from '../../src/alert/alert.js';
import { workloadPath } from '../../src/capture/addon.js';
import { Collector } from '../../src/capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { trainLive } from '../../src/detect/train.js';
import { runDemo } from '../../src/demo/run-demo.js';
import { SyswardenError } from '../../src/errors.js';
import { ensureEngine } from '../../src/scenario/engine.js';
import { AGENT_WORKER_NICE, Pipeline } from '../../src/pipeline/pipeline.js';
import { sleep, waitFor } from '../capture/helpers.js';
import { workloadLoop } from './helpers.js';

let cg: ScratchCgroup;
let dir: string;
beforeAll(() => {
  cg = createScratchCgroup(`sw-test-live-${process.pid}`);
  dir = mkdtempSync(join(tmpdir(), 'sw-live-'));
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('train, then watch live', () => {
  it('stays quiet on normal behaviour and alerts on a process reading /etc/shadow, naming its container and thread', async () => {
    const collector = await Collector.open({ targets: [cg.spec] });
    const model = join(dir, 'pattern.model');
    let loop = workloadLoop(cg);
    const learnt = await trainLive({ collector, durationMs: 3000, window: 6, model });
    await loop.stop();
    expect(learnt.windows).toBeGreaterThan(1000);

    const pipeline = await Pipeline.create({ model, workers: 2, workerNice: AGENT_WORKER_NICE });
    const alerts: Alert[] = [];
    pipeline.on('alert', (a: Alert) => alerts.push(a));
    pipeline.attach(collector);
    loop = workloadLoop(cg);
    await sleep(2000);
    await loop.stop();
    await pipeline.drain();
    expect(loop.runs()).toBeGreaterThan(3);
    expect(alerts, `alerts in the normal phase: ${JSON.stringify(alerts.slice(0, 2))}`).toHaveLength(0);

    const intruder = spawn(workloadPath(), ['--cgroup', cg.dir, 'exec', 'cat', '/etc/shadow'], { stdio: 'ignore' });
    await new Promise((r) => intruder.once('exit', r));
    await waitFor(() => alerts.some((a) => a.type === 'alert'), 'an alert for the intruder', 5000);
    await waitFor(() => pipeline.processes.context(intruder.pid, { readProc: false })?.exited === true, "the intruder's exit in the process table", 5000);
    await pipeline.close();
    await collector.close();
    const first = alerts.find((a) => a.type === 'alert')!;
    expect(first.tid).toBe(intruder.pid);
    // Named from the kernel's process events, not /proc. Its first alarming
    // window is either its exec of cat, made by the workload that had just
    // joined the container (named by that attach), or cat's own calls.
    const p = first.process!;
    expect(p).toMatchObject({ pid: intruder.pid, ppid: process.pid, parentExe: readlinkSync('/proc/self/exe') });
    const expected =
      p.source === 'attach'
        ? { comm: 'sw-workload', exe: realpathSync(workloadPath()) }
        : { source: 'exec', comm: 'cat', args: ['cat', '/etc/shadow'], exe: expect.stringMatching(/\/cat$/) };
    expect(p).toMatchObject(expected);
    if (p.source === 'attach') expect(first.window).toContain('execve');
    // Drift: nothing was exec'd in the container while it trained, so cat's exec is a record of its own.
    expect(learnt.executables).toBe(0);
    const drift = (alerts as unknown as AlertRecord[]).filter((r) => r.type === 'new-executable');
    expect(drift).toEqual([expect.objectContaining({ pid: intruder.pid, exe: expect.stringMatching(/\/cat$/), container: expect.objectContaining({ cgroup: cg.ref.path }) })]);
    // Either way the table knows it ran cat, and that it exited.
    expect(pipeline.processes.context(intruder.pid, { readProc: false })).toMatchObject({ source: 'exec', comm: 'cat', args: ['cat', '/etc/shadow'], exited: true });
    expect(first.container).toMatchObject({ slot: 0, cgroup: cg.ref.path, spec: cg.spec });
    // Whichever detector train uses by default: the alert names the one the model holds.
    expect(first.detector).toBe(learnt.detector.name);
    expect(first.window).toHaveLength(6);
    expect(first.latencyMs).toBeGreaterThan(0);
    // Each incident of the intruder opens with one alert and is closed by an
    // end (the last one when the intruder exited): no burst of repeats.
    const types = alerts.filter((a) => a.tid === intruder.pid && (a.type === 'alert' || a.type === 'incident-end')).map((a) => a.type);
    expect(types.length % 2).toBe(0);
    for (let i = 0; i < types.length; i += 2) expect(types.slice(i, i + 2)).toEqual(['alert', 'incident-end']);
  });
});

describe('the built-in demo', () => {
  it('runs the cgi-miner scenario in a real container: no alert in the normal phase, the attack detected', async () => {
    const normal: string[] = [];
    const s = await runDemo({ normalMs: 4000, application: 'container', onAlert: (a, phase) => phase === 'normal' && a.type === 'alert' && normal.push(formatAlert(a)) });
    expect(s.application).toBe('container');
    expect(s.target).toMatch(/^docker:syswarden-demo-/);
    expect(s.alertsNormal, `alerts in the normal phase (learning ${s.learnt.converged ? 'converged' : 'still growing'}, ${s.learnt.distinct} distinct windows; threshold ${s.learnt.threshold}: ${s.learnt.rule}):\n${normal.join('\n')}`).toBe(0);
    {
      const { learnt, windowsScored, drift, drops, latencyMs } = s;
      expect(s.detected, `no alert for the attack: ${JSON.stringify({ learnt, windowsScored, drift, drops, latencyMs })}`).toBe(true);
    }
    expect(s.attackToAlertMs).toBeLessThan(3000);
    expect(s.drops).toEqual({ kernel: 0, user: 0, scoring: 0 });
    // The alert names a process of the attack, from the kernel's events (the
    // shell the CGI script ran, or a program it ran: most live milliseconds).
    expect(s.firstAttackProcess).toMatchObject({ exe: expect.stringMatching(/^\//), parentExe: expect.stringMatching(/^\//) });
    // Drift: the dropped miner was never exec'd while learning.
    expect(s.drift.attack.some((exe) => exe.startsWith('/tmp/.cache/'))).toBe(true);
  }, 600_000);

  it("says in one line that its container was removed under it, and leaves nothing behind", async () => {
    // Removed the moment the attack phase begins, as another tool (or a test run's cleanup) would.
    // Held here too, so the engine outlives the demo's own hold and what it left can be asked.
    const engine = await ensureEngine();
    let name = '';
    const run = runDemo({
      learnMs: 3000,
      normalMs: 500,
      application: 'container',
      onPhase: (p) => {
        name = /container (syswarden-demo-\d+)/.exec(p)?.[1] ?? name;
        if (p.startsWith('attacking')) execFileSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
      },
    });
    try {
      const err = await run.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(name).toMatch(/^syswarden-demo-/);
      expect(err).toBeInstanceOf(SyswardenError);
      expect(err).toMatchObject({ code: 'ERR_DEMO', message: expect.stringContaining(`the demo's container ${name} was removed while the demo ran`) });
      expect(execFileSync('docker', ['ps', '-aq', '--filter', `name=${name}`], { encoding: 'utf8' }).trim()).toBe('');
    } finally {
      await engine.stop();
    }
  }, 600_000);

  it('without a container (the fallback), detects the web attack in a cgroup of its own', async () => {
    const normal: string[] = [];
    const s = await runDemo({ normalMs: 4000, application: 'cgroup', onAlert: (a, phase) => phase === 'normal' && a.type === 'alert' && normal.push(formatAlert(a)) });
    expect(s.application).toBe('cgroup');
    expect(s.alertsNormal, `alerts in the normal phase (learning ${s.learnt.converged ? 'converged' : 'still growing'}; threshold ${s.learnt.threshold}: ${s.learnt.rule}):\n${normal.join('\n')}`).toBe(0);
    const { learnt, windowsScored, drift, drops, latencyMs } = s;
    expect(s.detected, `no alert for the attack: ${JSON.stringify({ learnt, windowsScored, drift, drops, latencyMs })}`).toBe(true);
    expect(s.attackToAlertMs).toBeLessThan(3000);
    expect(s.drops).toEqual({ kernel: 0, user: 0, scoring: 0 });
  }, 120_000);
});
