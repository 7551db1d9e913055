import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Collector } from '../../src/capture/collector.js';
import { loadedSyswardenPrograms, programUnloaded, syswardenProgramsHeldBy, waitFor } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('no BPF program outlives its collector', () => {
  it('close() detaches and unloads the program', async () => {
    const collector = await Collector.open({ all: true });
    const id = collector.programId();
    expect(await loadedSyswardenPrograms()).toContain(id);
    await collector.close();
    expect(await programUnloaded(id)).toBe(true);
    expect(() => collector.programId()).toThrow(/closed/);
  });

  for (const signal of ['SIGKILL', 'SIGTERM', 'SIGINT'] as const) {
    it(`a recorder ended by ${signal} leaves no program behind`, async () => {
      const child = spawn(process.execPath, [join(root, 'dist/cli/main.js'), 'record', '--all', '--out', '/dev/null', '--force'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      try {
        let err = '';
        child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
        await waitFor(() => err.includes('recording'), `the recorder to start (stderr: ${err})`, 15000);
        // Its own program, by what it holds open: other tests load theirs meanwhile.
        const mine = await syswardenProgramsHeldBy(child.pid!);
        expect(mine.length).toBe(1);
        child.kill(signal);
        const code = await exited;
        if (signal !== 'SIGKILL') expect(code).toBe(0); // it closed cleanly and wrote its trailer
        expect(await programUnloaded(mine[0]!)).toBe(true);
      } finally {
        // A failed assertion must not leave a recorder of every process running.
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    });
  }
});
