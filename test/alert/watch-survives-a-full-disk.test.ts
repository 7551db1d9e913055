import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runWorkload } from '../capture/helpers.js';
import { startCli } from '../pipeline/cli-process.js';
import { fill, jsonLines, mountTmpfs } from './helpers.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';

const disk = join(tmpdir(), `sw-watch-fulldisk-${process.pid}`);
let unmount: () => void;
let dir: string;
let model: string;
let cg: ScratchCgroup;
beforeAll(async () => {
  unmount = mountTmpfs(disk);
  dir = mkdtempSync(join(tmpdir(), 'sw-watch-fulldisk-'));
  model = join(dir, 'alarm.model');
  // Normal is a cycle of six calls no real program makes in that order: everything a process does alarms.
  await saveAlarmingModel(model);
  writeFileSync(join(dir, 'trace.txt'), 'socket\nconnect\nexecve\nread\nwrite\nclose\n');
  cg = createScratchCgroup(`sw-test-fulldisk-${process.pid}`);
});
afterAll(async () => {
  await cg.remove();
  unmount();
  rmSync(dir, { recursive: true, force: true });
});

describe('watch --out on a full disk', () => {
  it('keeps watching, reports the failure once, and writes every alert once there is room again', async () => {
    const filler = join(disk, 'filler');
    fill(filler);
    const out = join(disk, 'alerts.jsonl');
    const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--out', out, '--workers', '1', '--stats-every', '0.2']);
    // Records waiting in memory, from the latest stats line.
    const waiting = () => Number([...cli.stderr().matchAll(/alert records waiting (\d+)/g)].pop()?.[1] ?? 0);
    // The ready record is the first write, and it fails.
    await cli.waitFor(() => /cannot write alerts to .*ENOSPC/.test(cli.stderr()), 'the report of the failed write');
    await cli.waitFor(() => /syswarden: watching/.test(cli.stderr()), 'watch to be running');
    await runWorkload(['--cgroup', cg.dir, 'pattern', '50', '1']);
    await cli.waitFor(() => waiting() >= 2, 'alerts waiting in memory besides the ready record');
    expect(cli.child.exitCode).toBeNull();
    unlinkSync(filler);
    await cli.waitFor(() => /writing alerts to .* works again; nothing was lost/.test(cli.stderr()), 'the recovery report');
    await cli.waitFor(() => readFileSync(out, 'utf8').includes('"type":"alert"'), 'the alerts in the file');
    expect(await cli.stop()).toBe(0);
    expect(cli.stderr().match(/cannot write alerts/g)).toHaveLength(1);
    expect(cli.stderr()).not.toMatch(/\n\s+at /);
    const records = jsonLines(readFileSync(out, 'utf8'));
    expect(records[0]).toMatchObject({ type: 'ready', detector: 'stide' });
    expect(records.some((r) => r.type === 'alert')).toBe(true);
  });

  it('exits 1 and says how many alert records were lost when the output never takes them', async () => {
    const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--out', '/dev/full', '--workers', '1', '--duration', '1']);
    expect(await cli.exit()).toBe(1);
    expect(cli.stderr()).toMatch(/cannot write alerts to \/dev\/full: ENOSPC/);
    expect(cli.stderr()).toMatch(/\d+ alert record\(s\) lost: \/dev\/full could not be written/);
    expect(cli.stderr()).not.toMatch(/\n\s+at /);
  });

  it('replay too: exit 1, the loss counted, no stack trace', async () => {
    const cli = startCli(['replay', join(dir, 'trace.txt'), '--model', model, '--out', '/dev/full']);
    expect(await cli.exit()).toBe(1);
    expect(cli.stderr()).toMatch(/cannot write alerts to \/dev\/full: ENOSPC/);
    expect(cli.stderr()).toMatch(/[1-9]\d* alert record\(s\) lost/);
    expect(cli.stderr()).not.toMatch(/\n\s+at /);
  });
});
