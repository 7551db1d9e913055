import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroup2Mount } from '../../src/capture/cgroup.js';
import { validate } from '../alert/json-schema.js';
import { ensureDocker, removeContainer, runContainer } from '../capture/docker-env.js';
import { waitFor } from '../capture/helpers.js';
import { startCli, type CliProcess } from '../pipeline/cli-process.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';
import { cgroupFrozen, switches } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const schema = JSON.parse(readFileSync(join(root, 'docs', 'alert-schema.json'), 'utf8')) as Record<string, unknown>;
const name = `sw-test-respond-${process.pid}`;
let stopEngine: () => Promise<void>;
let dir: string;
let model: string;
let initPid: number;
beforeAll(async () => {
  stopEngine = await ensureDocker();
  dir = mkdtempSync(join(tmpdir(), 'sw-respond-docker-'));
  model = join(dir, 'alarm.model');
  await saveAlarmingModel(model);
  // A busy container: a shell forking busybox applets every couple of milliseconds.
  runContainer(name, 'while :; do /bin/busybox cat /etc/hostname >/dev/null; /bin/busybox usleep 2000; done');
  initPid = Number(execFileSync('docker', ['inspect', '-f', '{{.State.Pid}}', name], { encoding: 'utf8' }).trim());
}, 180_000);
afterAll(async () => {
  removeContainer(name);
  await stopEngine?.();
  rmSync(dir, { recursive: true, force: true });
});

type Rec = Record<string, unknown> & { type: string; action?: string; result?: string; trigger?: string; container?: { cgroup?: string } };

async function watchUntilFrozen(): Promise<{ cli: CliProcess; freeze: Rec; cgDir: string }> {
  const cli = startCli(['watch', '--target', `docker:${name}`, '--model', model, '--workers', '1', '--respond', 'freeze', '--freeze-for', '0']);
  const isFreeze = (r: Rec) => r.type === 'response' && r.action === 'freeze' && r.result !== 'skipped';
  await cli.waitFor(() => (cli.records() as Rec[]).some(isFreeze), 'the freeze of the container', 60_000);
  const freeze = (cli.records() as Rec[]).find(isFreeze)!;
  return { cli, freeze, cgDir: join(cgroup2Mount(), freeze.container!.cgroup!) };
}

/** Nothing moves in the container for a while: its shell is stopped. */
async function stillFor(ms: number): Promise<boolean> {
  const n = switches(initPid);
  const t0 = performance.now();
  while (performance.now() - t0 < ms) await new Promise((r) => setTimeout(r, 20));
  return switches(initPid) === n;
}

describe('watch --respond freeze on a Docker container', () => {
  it('freezes the container on its first incident and thaws it when watch is stopped (SIGINT)', async () => {
    const { cli, freeze, cgDir } = await watchUntilFrozen();
    expect(freeze, JSON.stringify(freeze)).toMatchObject({ result: 'ok', trigger: 'alert', container: { name } });
    console.log(`docker freeze: syscall -> frozen confirmed ${freeze.latencyMs} ms, alert -> frozen ${freeze.tookMs} ms`);
    expect(freeze.latencyMs as number).toBeLessThan(1000);
    expect(cgroupFrozen(cgDir)).toBe(true);
    expect(await stillFor(300)).toBe(true);
    // Docker itself still calls it running: the v2 freezer is not `docker pause`.
    expect(execFileSync('docker', ['inspect', '-f', '{{.State.Status}}', name], { encoding: 'utf8' }).trim()).toBe('running');

    expect(await cli.stop()).toBe(0);
    const records = cli.records() as Rec[];
    expect(records.filter((r) => r.type === 'response' && r.action === 'thaw')).toEqual([expect.objectContaining({ result: 'ok', trigger: 'exit' })]);
    for (const r of records) expect(validate(schema, r), JSON.stringify(r)).toEqual([]);
    expect(cgroupFrozen(cgDir)).toBe(false);
    const n = switches(initPid);
    await waitFor(() => switches(initPid) > n, 'the container running again', 10_000);
  }, 180_000);

  it('is thawed by the guard when watch is killed with SIGKILL', async () => {
    const { cli, cgDir } = await watchUntilFrozen();
    expect(cgroupFrozen(cgDir)).toBe(true);
    cli.child.kill('SIGKILL');
    await cli.exit();
    // The guard saw its pipe close: no code of watch ran, and still the container thaws.
    await waitFor(() => !cgroupFrozen(cgDir), 'the guard to thaw the container', 10_000);
    expect(readFileSync(join(cgDir, 'cgroup.freeze'), 'utf8').trim()).toBe('0');
    const n = switches(initPid);
    await waitFor(() => switches(initPid) > n, 'the container running again', 10_000);
  }, 180_000);
});
