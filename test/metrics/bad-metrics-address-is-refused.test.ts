import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { SyswardenError } from '../../src/errors.js';
import { parseMetricsAddress } from '../../src/metrics/address.js';
import { MetricsServer } from '../../src/metrics/server.js';
import { expectFailure, runCli } from '../cli/helpers.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';

let dir: string;
let model: string;
let cg: ScratchCgroup;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-metrics-bad-'));
  model = join(dir, 'alarm.model');
  await saveAlarmingModel(model);
  cg = createScratchCgroup(`sw-test-metrics-bad-${process.pid}`);
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('--metrics addresses', () => {
  it('takes an IPv4 or bracketed IPv6 literal and a port from 0 to 65535', () => {
    expect(parseMetricsAddress('127.0.0.1:9469')).toEqual({ host: '127.0.0.1', port: 9469, family: 4 });
    expect(parseMetricsAddress('[::1]:0')).toEqual({ host: '::1', port: 0, family: 6 });
    expect(parseMetricsAddress('0.0.0.0:65535')).toEqual({ host: '0.0.0.0', port: 65535, family: 4 });
  });

  const bad: Array<[string, RegExp]> = [
    ['', /no port/],
    ['9469', /no port/],
    [':9469', /no address/],
    ['localhost:9469', /'localhost' is not an IP address/],
    ['127.0.0.1', /no port/],
    ['127.0.0.1:', /port must be a whole number from 0 to 65535, got ''/],
    ['127.0.0.1:65536', /port must be a whole number from 0 to 65535, got '65536'/],
    ['127.0.0.1:-1', /port must be a whole number/],
    ['127.0.0.1:0x10', /port must be a whole number/],
    ['256.0.0.1:9469', /not an IP address/],
    ['::1:9469', /IPv6 address goes in brackets/],
    ['[127.0.0.1]:9469', /not an IP address|brackets/],
    ['[::1]9469', /brackets/],
  ];
  it.each(bad)('refuses %j as a usage error naming the fix', (value, why) => {
    let err: unknown;
    try {
      parseMetricsAddress(value);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyswardenError);
    expect((err as SyswardenError).code).toBe('ERR_USAGE');
    expect((err as SyswardenError).message).toMatch(why);
    expect((err as SyswardenError).message).toMatch(/e\.g\. 127\.0\.0\.1:9469/);
  });

  it('watch exits 2 on a malformed --metrics, before reading the model', async () => {
    const r = await runCli(['watch', '--target', cg.spec, '--model', join(dir, 'no-such.model'), '--metrics', 'localhost:9469']);
    expectFailure(r, 2, /--metrics 'localhost:9469': 'localhost' is not an IP address; give an IP address and a port/);
  });
});

describe('--metrics on a port it cannot have', () => {
  let busy: Server;
  let port: number;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((r) => busy.listen({ host: '127.0.0.1', port: 0 }, r));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => busy.close(() => r())));

  it('MetricsServer.listen refuses a busy port with a usage error', async () => {
    await expect(MetricsServer.listen({ host: '127.0.0.1', port, family: 4 })).rejects.toThrow(new RegExp(`--metrics 127\\.0\\.0\\.1:${port}: cannot listen: the port is in use by another process`));
    await expect(MetricsServer.listen({ host: '192.0.2.1', port: 0, family: 4 })).rejects.toThrow(/not one of this host's/);
  });

  it('watch exits 2 on a busy port, before the capture starts', async () => {
    const r = await runCli(['watch', '--target', cg.spec, '--model', model, '--metrics', `127.0.0.1:${port}`], 60_000);
    expectFailure(r, 2, new RegExp(`--metrics 127\\.0\\.0\\.1:${port}: cannot listen: the port is in use by another process; choose another port`));
    // Refused before the capture started: no ready record, no 'watching' line.
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(/watching/);
  });
});
