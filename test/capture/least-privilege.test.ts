import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarizeRecording } from '../../src/capture/summary.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import type { ChildProcess } from 'node:child_process';
import { runCli, runWorkload, waitFor } from './helpers.js';

let dir: string;
let cg: ScratchCgroup;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-caps-'));
  chmodSync(dir, 0o777);
  cg = createScratchCgroup(`sw-test-caps-${process.pid}`);
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await cg.remove();
});

describe('least privilege', () => {
  it('records as an unprivileged user holding only CAP_BPF and CAP_PERFMON', async () => {
    const out = join(dir, 'caps.swrec');
    // Stopped with SIGINT once the workload is done; --duration only bounds a recorder that never says it is attached.
    let child: ChildProcess | undefined;
    let attached = false;
    let exited = false;
    const recording = runCli(['record', '--target', cg.spec, '--duration', '120', '--out', out], {
      wrap: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all,+bpf,+perfmon', '--ambient-caps=-all,+bpf,+perfmon'],
      otherUser: true,
      onSpawn: (p) => (child = p),
      onStderr: (text) => (attached ||= /recording .* into /.test(text)),
    }).finally(() => (exited = true));
    await waitFor(() => attached || exited, 'the unprivileged recorder to attach', 60_000);
    expect(attached).toBe(true);
    await runWorkload(['--cgroup', cg.dir, 'getppid', '1000']);
    child!.kill('SIGINT');
    const r = await recording;
    expect(r.code, r.stderr).toBe(0);
    const s = await summarizeRecording(out);
    expect(s.syscalls.find((x) => x.name === 'getppid')?.count).toBe(1000);
  });
});
