import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResponseDisarmedRecord, ResponseRearmedRecord, ResponseRecord } from '../../src/alert/alert.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runWorkload, waitFor } from '../capture/helpers.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';
import { cgroupFrozen, watchAndRespond } from './helpers.js';

let cg: ScratchCgroup;
let dir: string;
let model: string;
beforeAll(async () => {
  cg = createScratchCgroup(`sw-test-disarm-${process.pid}`);
  dir = mkdtempSync(join(tmpdir(), 'sw-disarm-'));
  model = join(dir, 'alarm.model');
  await saveAlarmingModel(model);
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** Processes of 16 threads, one after another, each thread an incident of its own under the alarming model. */
function flood(): { stop: () => Promise<void>; runs: () => number } {
  let running = true;
  let runs = 0;
  const done = (async () => {
    while (running) {
      await runWorkload(['--cgroup', cg.dir, 'pattern', '3000', '16']);
      runs++;
    }
  })();
  return { stop: async () => ((running = false), await done), runs: () => runs };
}

describe('the disarmer', () => {
  it('takes at most --respond-limit actions per window under a flood of incidents, says so, and re-arms after a quiet window', async () => {
    const windowMs = 3000;
    const w = await watchAndRespond([cg.spec], model, { action: 'freeze', freezeForMs: 200, limit: 3, windowMs });
    try {
      const f = flood();
      let disarmAt = -1;
      try {
        await waitFor(() => (disarmAt = w.records.findIndex((r) => r.type === 'response-disarmed')) >= 0, 'the disarmer to engage', 60_000);
        // The flood goes on: many more incidents, and not one more action.
        const alertsAtDisarm = w.alerts().length;
        await waitFor(() => w.alerts().length >= alertsAtDisarm + 32, 'more incidents while disarmed', 30_000);
      } finally {
        await f.stop();
      }
      const disarmed = w.records[disarmAt] as ResponseDisarmedRecord;
      expect(disarmed).toMatchObject({ action: 'freeze', actions: 3, windowS: windowMs / 1000, container: { cgroup: cg.ref.path } });
      const before = w.records.slice(0, disarmAt);
      const after = w.records.slice(disarmAt + 1);
      const freezes = before.filter((r) => r.type === 'response' && r.action === 'freeze' && r.result !== 'skipped');
      expect(freezes).toHaveLength(3);
      expect(after.filter((r) => r.type === 'response' && r.action !== 'thaw')).toEqual([]);
      expect(cgroupFrozen(cg.dir)).toBe(false);
      // Incidents while it was frozen write no record each: the thaws count them.
      expect(before.filter((r) => r.type === 'response' && r.action === 'freeze' && r.result === 'skipped')).toEqual([]);
      const thaws = w.records.filter((r) => r.type === 'response' && r.action === 'thaw') as ResponseRecord[];
      for (const t of thaws) expect(t.incidentsWhileFrozen).toBeGreaterThanOrEqual(0);
      const whileFrozen = thaws.reduce((n, t) => n + (t.incidentsWhileFrozen ?? 0), 0);
      const suppressedAlerts = after.filter((r) => r.type === 'alert').length;
      console.log(`disarmer: ${freezes.length} freezes, then disarmed; ${suppressedAlerts} more incidents got no action; ${whileFrozen} incidents while frozen (counted on the thaws)`);

      // Quiet for a window: armed again, with the count of what it let pass.
      await waitFor(() => w.records.some((r) => r.type === 'response-rearmed'), 'the re-arm', windowMs + 20_000);
      const rearmAt = w.records.findIndex((r) => r.type === 'response-rearmed');
      const rearmed = w.records[rearmAt] as ResponseRearmedRecord;
      expect(rearmed).toMatchObject({ action: 'freeze', windowS: windowMs / 1000, container: { cgroup: cg.ref.path } });
      // The incident that disarmed it, and every one after it until the re-arm (in-flight ones came after the flood stopped).
      const between = w.records.slice(disarmAt + 1, rearmAt);
      expect(between.filter((r) => r.type === 'response' && r.action !== 'thaw')).toEqual([]);
      expect(rearmed.suppressed).toBe(between.filter((r) => r.type === 'alert').length + 1);
      const freezesBefore = w.responses('freeze').length;
      await runWorkload(['--cgroup', cg.dir, 'pattern', '300', '1']);
      await waitFor(() => w.responses('freeze').length > freezesBefore, 'a freeze after the re-arm', 20_000);
      expect(w.responses('freeze').at(-1)).toMatchObject({ result: 'ok' });
    } finally {
      await w.close();
    }
    expect(cgroupFrozen(cg.dir)).toBe(false);
  }, 180_000);
});
