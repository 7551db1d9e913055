import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runWorkload } from '../capture/helpers.js';
import { startCli } from '../pipeline/cli-process.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';
import { client, createStream, freePort, NatsServer, streamCount, streamRecords, until } from './helpers.js';

/** How long the bus is down while alerts are raised: the scenario, not a guess at a delay. */
const OUTAGE_MS = 10_000;

let dir: string;
let model: string;
let cg: ScratchCgroup;
let server: NatsServer;
let nc: NatsConnection | undefined;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-nats-'));
  model = join(dir, 'alarm.model');
  // Everything a real process does alarms under this model.
  await saveAlarmingModel(model);
  cg = createScratchCgroup(`sw-test-nats-${process.pid}`);
  server = new NatsServer(await freePort(), join(dir, 'store'));
  await server.start();
  nc = await client(server);
  // The subscriber: a stream on the subject keeps every message, across the restart, and drops a re-sent one by its Nats-Msg-Id.
  await createStream(nc, 'SW', 'sw.alerts');
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
  await cg?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('watch --output nats://', () => {
  it('delivers every record, in order, after the bus was down for 10 s while alerts were raised; none lost, exit 0', { timeout: 180_000 }, async () => {
    const subject = `nats://${server.url}/sw.alerts`;
    const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--workers', '1', '--stats-every', '0.2', '--output', '-', '--output', subject]);
    // Records waiting for the bus, from the latest stats line that names it.
    const waiting = () => Number([...cli.stderr().matchAll(/nats:\/\/[^ ]+: waiting (\d+)/g)].pop()?.[1] ?? 0);
    const alerts = () => cli.records().filter((r) => r.type === 'alert').length;
    await cli.waitFor(() => cli.records().some((r) => r.type === 'ready'), 'the ready record');
    await runWorkload(['--cgroup', cg.dir, 'pattern', '50', '1']);
    await cli.waitFor(() => alerts() >= 1, 'an alert before the outage');
    await until(async () => (await streamCount(nc!, 'SW')) >= 2, 'the ready record and the first alert on the bus');

    await server.stop();
    const downAt = Date.now();
    const before = alerts();
    let maxWaiting = 0;
    // Alerts raised while the bus is down: one process after another, for the whole outage.
    while (Date.now() - downAt < OUTAGE_MS) {
      await runWorkload(['--cgroup', cg.dir, 'pattern', '50', '1']);
      await cli.waitFor(() => alerts() > before, 'alerts raised during the outage');
      maxWaiting = Math.max(maxWaiting, waiting());
    }
    await cli.waitFor(() => waiting() > 0, 'records counted as waiting for the bus');
    maxWaiting = Math.max(maxWaiting, waiting());
    expect(cli.stderr()).toMatch(/cannot deliver alerts to nats:\/\/127\.0\.0\.1:\d+\/sw\.alerts: /);
    const raisedWhileDown = alerts() - before;

    await server.start();
    await cli.waitFor(() => /delivering alerts to nats:\/\/[^ ]+ works again; nothing was lost/.test(cli.stderr()), 'the recovery report');
    let onBus = -1;
    await until(async () => (onBus = await streamCount(nc!, 'SW')) >= cli.records().length, 'every record on the bus', 60_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${onBus} on the bus, ${cli.records().length} on stdout\n--- stderr ---\n${cli.stderr().slice(-3000)}`);
    });
    expect(await cli.stop()).toBe(0);

    const sent = cli.records();
    const got = await streamRecords(nc!, 'SW');
    expect(got.length).toBe(sent.length);
    expect(got).toEqual(sent);
    expect(cli.stderr().match(/cannot deliver alerts/g)).toHaveLength(1);
    expect(cli.stderr()).not.toMatch(/lost: |\n\s+at /);
    console.log(`nats outage ${OUTAGE_MS} ms: ${raisedWhileDown} alerts raised while down, at most ${maxWaiting} records waiting; ${got.length} records delivered, 0 lost`);
  });
});
