import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runWorkload } from '../capture/helpers.js';
import { startCli } from '../pipeline/cli-process.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';
import { validate } from './json-schema.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const schema = JSON.parse(readFileSync(join(root, 'docs', 'alert-schema.json'), 'utf8')) as Record<string, unknown>;

let dir: string;
let model: string;
let cg: ScratchCgroup;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-schema-'));
  model = join(dir, 'alarm.model');
  // Everything a real process does alarms under this model.
  await saveAlarmingModel(model);
  cg = createScratchCgroup(`sw-test-schema-${process.pid}`);
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('the alert schema (docs/alert-schema.json)', () => {
  it("describes every record watch writes, and a short-lived process's alert names it with its executable, arguments and parent", async () => {
    const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--workers', '1']);
    await cli.waitFor(() => cli.records().some((r) => r.type === 'ready'), 'the ready record');
    const shell = await runWorkload(['--cgroup', cg.dir, 'exec', '/bin/sh', '-c', '/bin/cat /etc/hostname >/dev/null']);
    const isCat = (r: Record<string, unknown>) => r.type === 'alert' && (r.process as { exe?: string } | undefined)?.exe === '/bin/cat';
    await cli.waitFor(() => cli.records().some(isCat), 'an alert for the cat the shell ran');
    expect(await cli.stop()).toBe(0);
    const records = cli.records();
    expect(new Set(records.map((r) => r.type))).toEqual(new Set(['ready', 'alert', 'incident-end']));
    for (const r of records) expect(validate(schema, r), JSON.stringify(r)).toEqual([]);
    const cat = records.find(isCat)!;
    expect(cat.process).toMatchObject({ ppid: shell, args: ['/bin/cat', '/etc/hostname'], parentExe: '/bin/sh', source: 'exec' });
  });

  it('refuses records that break it (the check can fail)', () => {
    const alert = {
      type: 'alert', time: '2026-12-03T00:00:00.000Z', container: { slot: 0 }, tid: 5, window: ['read'], score: 1, threshold: 0.5,
      detector: 'markov', model: 'm', count: 1, eventTsNs: 1, incident: 1, process: { pid: 5, ppid: 1, comm: 'cat', source: 'exec' },
    };
    expect(validate(schema, alert)).toEqual([]);
    const { tid: _tid, ...noTid } = alert;
    expect(validate(schema, noTid).join('; ')).toMatch(/lacks tid/);
    expect(validate(schema, { ...alert, process: { ...alert.process, source: 'guess' } }).join('; ')).toMatch(/guess/);
    expect(validate(schema, { ...alert, extra: 1 }).join('; ')).toMatch(/has extra/);
    expect(validate(schema, { ...alert, type: 'alarm' }).length).toBeGreaterThan(0);
  });
});
