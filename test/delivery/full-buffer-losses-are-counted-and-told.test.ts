import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertOutputs, parseDelivery } from '../../src/alert/outputs.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runWorkload } from '../capture/helpers.js';
import { startCli } from '../pipeline/cli-process.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';
import { jsonLines, sampleAlert } from '../alert/helpers.js';
import { client, createStream, freePort, NatsServer, streamCount, streamRecords, until } from './helpers.js';

let dir: string;
let model: string;
let cg: ScratchCgroup;
let nc: NatsConnection | undefined;
let server: NatsServer | undefined;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-overflow-'));
  model = join(dir, 'alarm.model');
  await saveAlarmingModel(model);
  cg = createScratchCgroup(`sw-test-overflow-${process.pid}`);
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
  await cg?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('a network output whose buffer fills while its bus is down', () => {
  it('keeps the oldest records, counts the newest it refuses, tells the file, and marks the gap on the bus once it is back', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const file = join(dir, 'alerts.jsonl');
    const reports: string[] = [];
    const d = parseDelivery({ output: [file, `nats://127.0.0.1:${port}/sw.lost`], buffer: 5 });
    const out = new AlertOutputs(d, { report: (m) => reports.push(m) });
    const sent = Array.from({ length: 20 }, (_, i) => sampleAlert(i + 1));
    // Nothing listens on the port: the bus is down.
    for (const a of sent) out.write(a);
    expect(out.stats().outputs[1]).toMatchObject({ waiting: 5, delivered: 0, lost: 15 });
    // The file, which works, is told within a second or so.
    const notice = () => jsonLines(readFileSync(file, 'utf8')).find((r) => r.type === 'alerts-lost');
    await until(() => notice() !== undefined, "the 'alerts-lost' record in the file");
    expect(notice()).toMatchObject({ count: 15, total: 15 });
    expect(String(notice()!.reason)).toMatch(/15 record\(s\) did not reach nats:\/\/127\.0\.0\.1:\d+\/sw\.lost: its buffer of 5 records was full/);

    // The bus comes back: the 5 oldest arrive, then the mark where the 15 are missing.
    server = new NatsServer(port, join(dir, 'store'));
    await server.start();
    nc = await client(server);
    await createStream(nc, 'LOST', 'sw.lost');
    await until(async () => (await streamCount(nc!, 'LOST')) >= 6, 'the waiting records and the mark on the bus');
    await out.close();
    const got = await streamRecords(nc, 'LOST');
    expect(got.slice(0, 5)).toEqual(JSON.parse(JSON.stringify(sent.slice(0, 5))));
    expect(got[5]).toMatchObject({ type: 'alerts-lost', count: 15, total: 15 });
    expect(got).toHaveLength(6);
    expect(out.stats()).toMatchObject({ waiting: 0, lost: 15 });
    expect(out.lossSummary()).toMatch(/^15 alert record\(s\) lost: nats:\/\/127\.0\.0\.1:\d+\/sw\.lost did not take 15$/);
    expect(reports.join('\n')).toMatch(/works again; 15 record\(s\) were lost while it failed \(marked by an 'alerts-lost' record\)/);
  });

  it('makes watch say so on stdout, say how many were lost at exit, and exit 1', { timeout: 120_000 }, async () => {
    const port = await freePort(); // no server: the bus stays down
    const cli = startCli([
      'watch', '--target', cg.spec, '--model', model, '--workers', '1',
      '--output', '-', '--output', `nats://127.0.0.1:${port}/sw.never`, '--output-buffer', '2', '--flush-timeout', '0.5',
    ]);
    await cli.waitFor(() => cli.records().some((r) => r.type === 'ready'), 'the ready record');
    await runWorkload(['--cgroup', cg.dir, 'pattern', '50', '1']);
    await cli.waitFor(() => cli.records().some((r) => r.type === 'alerts-lost'), "an 'alerts-lost' record on stdout");
    const code = await cli.stop();
    expect(code, cli.stderr()).toBe(1);
    const lostOnStdout = cli.records().filter((r) => r.type === 'alerts-lost');
    expect(String(lostOnStdout[0]!.reason)).toMatch(/did not reach nats:\/\/127\.0\.0\.1:\d+\/sw\.never/);
    // Every record stdout got went to the bus too: what the bus lost is what stdout got, less what waited (2) .
    const total = cli.records().filter((r) => r.type !== 'alerts-lost').length;
    expect(cli.stderr()).toMatch(new RegExp(`; ${total} alert record\\(s\\) lost: nats://127\\.0\\.0\\.1:${port}/sw\\.never did not take ${total}\\.`));
    expect(cli.stderr()).toMatch(/2 alert record\(s\) waiting for nats:\/\/.* were not delivered within --flush-timeout 0\.5 s/);
    expect(cli.stderr()).not.toMatch(/\n\s+at /);
  });
});
