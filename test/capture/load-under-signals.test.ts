import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliPath } from './helpers.js';

const profiles = mkdtempSync(join(tmpdir(), 'sw-prof-'));
afterAll(() => rmSync(profiles, { recursive: true, force: true }));

describe('an embedding program that uses signals', () => {
  // The verifier abandons a load with EAGAIN when a signal is pending for the
  // loading thread. V8's sampling profiler sends its thread SIGPROF every
  // 100 µs here, far more often than one verification takes.
  it('loads the program under a CPU profiler sampling every 100 µs', async () => {
    const child = spawn(
      process.execPath,
      ['--cpu-prof', '--cpu-prof-dir', profiles, '--cpu-prof-interval', '100', cliPath, 'record', '--all', '--duration', '1', '--out', '/dev/null', '--force'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(err, 'stderr of the profiled recorder').toMatch(/attach tp_btf/);
    expect(code, err).toBe(0);
  });
});
