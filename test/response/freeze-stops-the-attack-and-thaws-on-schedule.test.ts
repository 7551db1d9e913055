import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { waitFor } from '../capture/helpers.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';
import { alive, cgroupFrozen, median, switches, watchAndRespond } from './helpers.js';

let cg: ScratchCgroup;
let dir: string;
let model: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  cg = createScratchCgroup(`sw-test-freeze-${process.pid}`);
  dir = mkdtempSync(join(tmpdir(), 'sw-freeze-'));
  model = join(dir, 'alarm.model');
  // Every window of a real process alarms under this model.
  await saveAlarmingModel(model);
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  // A frozen cgroup's tasks still die of SIGKILL, so remove() works either way.
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** An attack that runs until killed: a syscall, then a 1 ms sleep, forever. */
function attack(): ChildProcess {
  const c = spawn(workloadPath(), ['--cgroup', cg.dir, 'forever', '1000'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

describe('--respond freeze', () => {
  it('stops the attacking process within 100 ms of its syscall (median of 5), thaws it after --freeze-for, and at close', async () => {
    const freezeForMs = 1500;
    const w = await watchAndRespond([cg.spec], model, { action: 'freeze', freezeForMs, limit: 10 });
    const latencies: number[] = [];
    const sinceAlert: number[] = [];
    try {
      for (let round = 0; round < 5; round++) {
        const a = attack();
        const before = w.responses('freeze').length;
        await waitFor(() => w.responses('freeze').length > before, `the freeze of round ${round}`, 20_000);
        const freeze = w.responses('freeze').at(-1)!;
        expect(freeze, JSON.stringify(freeze)).toMatchObject({ result: 'ok', trigger: 'alert', container: { cgroup: cg.ref.path } });
        expect(cgroupFrozen(cg.dir)).toBe(true);
        latencies.push(freeze.latencyMs!);
        const alert = w.alerts().find((x) => x.incident === freeze.incident)!;
        // From the alert's emission (its own latency after the syscall) to frozen.
        sinceAlert.push(freeze.latencyMs! - alert.latencyMs!);
        // Stopped: a process that switched hundreds of times a second makes no progress at all.
        const n = switches(a.pid!);
        const t0 = performance.now();
        while (performance.now() - t0 < 300) await new Promise((r) => setTimeout(r, 20));
        expect(switches(a.pid!), 'context switches while frozen').toBe(n);
        // Thawed on schedule: not before --freeze-for, and soon after it.
        await waitFor(() => w.responses('thaw').length > round, `the thaw of round ${round}`, freezeForMs + 20_000);
        const thaw = w.responses('thaw').at(-1)!;
        expect(thaw).toMatchObject({ result: 'ok', trigger: 'timer', container: { cgroup: cg.ref.path } });
        expect(thaw.frozenMs!).toBeGreaterThanOrEqual(freezeForMs);
        expect(thaw.frozenMs!).toBeLessThan(freezeForMs + 1000);
        expect(cgroupFrozen(cg.dir)).toBe(false);
        const m = switches(a.pid!);
        await waitFor(() => switches(a.pid!) > m, 'the thawed attack running again', 10_000);
        a.kill('SIGKILL');
        await waitFor(() => !alive(a.pid!) || a.exitCode !== null || a.signalCode !== null, 'the attack gone', 10_000);
      }
      const med = median(latencies);
      console.log(`freeze: syscall -> frozen confirmed median ${med.toFixed(1)} ms (max ${Math.max(...latencies).toFixed(1)}); alert emitted -> frozen median ${median(sinceAlert).toFixed(1)} ms; all ${latencies.map((x) => x.toFixed(1)).join(', ')}`);
      expect(med).toBeLessThan(100);

      // --freeze-for 0 would hold it until close: close() thaws whatever is frozen.
      const a = attack();
      const before = w.responses('freeze').length;
      await waitFor(() => w.responses('freeze').length > before, 'the last freeze', 20_000);
      expect(cgroupFrozen(cg.dir)).toBe(true);
      await w.close();
      const last = w.responses('thaw').at(-1)!;
      expect(last).toMatchObject({ result: 'ok', trigger: 'exit' });
      expect(cgroupFrozen(cg.dir)).toBe(false);
      expect(w.responder.stats()).toMatchObject({ frozen: 0, failed: 0 });
      // Its guard had nothing left to thaw, and went with it.
      const guard = w.responder.guardPid!;
      await waitFor(() => !alive(guard), 'the thaw guard to exit', 10_000);
      a.kill('SIGKILL');
    } finally {
      await w.close();
    }
  }, 180_000);
});
