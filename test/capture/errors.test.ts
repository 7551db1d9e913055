import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Collector } from '../../src/capture/collector.js';
import { cgroup2Mount } from '../../src/capture/cgroup.js';
import { expectCleanFailure, runCli, type CliResult } from './helpers.js';

/** A command used wrongly: exit 2, the expected message, and no stack trace. */
function expectUsageError(r: CliResult, message: RegExp): void {
  if (r.code !== 2 || !message.test(r.stderr) || /\n\s+at /.test(r.stderr)) {
    throw new Error(`expected a usage error (exit 2) matching ${message}, got exit ${r.code}:\n${r.stderr}`);
  }
}

// Each expected failure is provoked for real: a process without root, a
// mount namespace without tracefs or cgroup2, targets that do not exist.
describe('errors a user understands', () => {
  it('not root: names the missing privilege and the fix', async () => {
    const r = await runCli(['record', '--all', '--out', '/tmp/never.swrec', '--duration', '1'], {
      wrap: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'],
      otherUser: true,
    });
    expectCleanFailure(r, /needs root \(or CAP_BPF and CAP_PERFMON\).*you are not root.*sudo/);
  });

  it('no kernel BTF: names the kernel option', async () => {
    const r = await runCli(['record', '--all', '--out', '/tmp/never.swrec'], { env: { SYSWARDEN_VMLINUX_BTF: '/nonexistent/vmlinux' } });
    expectCleanFailure(r, /exposes no BTF .*CONFIG_DEBUG_INFO_BTF/);
  });

  it('no cgroup v2 mounted: says how to mount it', async () => {
    const mount = cgroup2Mount();
    const r = await runCli(['record', '--target', 'cgroup:/', '--out', '/tmp/never.swrec'], {
      wrap: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `umount -l ${mount} && exec "$@"`, 'sh'],
    });
    expectCleanFailure(r, /no cgroup v2 hierarchy is mounted.*mount -t cgroup2/);
  });

  it('classic tracepoint without tracefs: says how to mount tracefs', async () => {
    const script = `
      import('${new URL('../../dist/capture/collector.js', import.meta.url).pathname}').then(async ({ Collector }) => {
        try { await Collector.open({ all: true, attach: 'tracepoint' }); console.log('opened'); }
        catch (e) { console.log(e.code + ': ' + e.message); }
      });`;
    const umounts = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing', '/sys/kernel/debug'].map((p) => `umount -l ${p} 2>/dev/null;`).join(' ');
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `${umounts} exec "$@"`, 'sh', process.execPath, '-e', script], {
      encoding: 'utf8',
    });
    expect(r.stdout).toMatch(/ERR_NO_TRACEFS: .*mount -t tracefs nodev \/sys\/kernel\/tracing/);
  });

  it('the classic tracepoint works where tracefs is mounted, and says so', async () => {
    const script = `
      import('${new URL('../../dist/capture/collector.js', import.meta.url).pathname}').then(async ({ Collector }) => {
        const c = await Collector.open({ all: true, attach: 'tracepoint' });
        let n = 0; c.on('batch', (b) => { n += b.count; });
        // Make sure some other process calls the kernel while we listen: a quiet machine may not.
        (await import('node:child_process')).execFileSync('/bin/true');
        await new Promise((r) => setTimeout(r, 200));
        const mode = c.attachMode; await c.close();
        console.log(mode + ' ' + (n > 0 ? 'events' : 'none'));
      });`;
    const { spawnSync } = await import('node:child_process');
    const mountIt = existsSync('/sys/kernel/tracing/events') ? '' : 'mount -t tracefs nodev /sys/kernel/tracing &&';
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `${mountIt} exec "$@"`, 'sh', process.execPath, '-e', script], {
      encoding: 'utf8',
    });
    expect(r.stdout.trim(), r.stderr).toBe('tracepoint events');
  });

  it('targets that do not exist: each names what was looked for', async () => {
    expectCleanFailure(await runCli(['record', '--target', 'cgroup:/no/such/cgroup', '--out', '/tmp/never.swrec']), /no cgroup at .*no\/such\/cgroup/);
    expectCleanFailure(await runCli(['record', '--target', 'pid:999999999', '--out', '/tmp/never.swrec']), /no process with pid 999999999/);
    expectCleanFailure(await runCli(['record', '--target', 'abcdef012345', '--out', '/tmp/never.swrec']), /no cgroup for container abcdef012345.*docker-<id>\.scope/);
    expectCleanFailure(await runCli(['record', '--target', 'bogus', '--out', '/tmp/never.swrec']), /cannot read target 'bogus'.*Target specs:/);
    expectCleanFailure(await runCli(['record', '--target', 'pid:-3', '--out', '/tmp/never.swrec']), /pid must be a positive whole number/);
    expectCleanFailure(await runCli(['record', '--target', 'docker:x', '--out', '/tmp/never.swrec'], { env: { DOCKER_HOST: 'unix:///nonexistent.sock' } }), /Docker engine at \/nonexistent\.sock is not running/);
  });

  it('bad options: named, with the fix, before anything loads (a usage error exits 2)', async () => {
    expectUsageError(await runCli(['record', '--all']), /record needs --out/);
    expectUsageError(await runCli(['record', '--all', '--out', 'x', '--duration', 'soon']), /--duration must be a positive number of seconds from 0\.001 to 31622400 \(366 days\), got 'soon'/);
    expectUsageError(await runCli(['record', '--all', '--out', 'x', '--ring', '3']), /--ring must be a power of two/);
    expectUsageError(await runCli(['record', '--bogus']), /Unknown option '--bogus'/);
    await expect(Collector.open({ ringBytes: 5000 })).rejects.toThrow(/ringBytes must be a power of two, got 5000/);
    await expect(Collector.open({ pollMs: 0 })).rejects.toThrow(/pollMs must be between 1 and 1000, got 0/);
  });
});
