import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarizeRecording } from '../../src/capture/summary.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runCli, runWorkload } from './helpers.js';

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
    const recording = runCli(['record', '--target', cg.spec, '--duration', '2', '--out', out], {
      wrap: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all,+bpf,+perfmon', '--ambient-caps=-all,+bpf,+perfmon'],
      otherUser: true,
    });
    await new Promise((r) => setTimeout(r, 1000));
    await runWorkload(['--cgroup', cg.dir, 'getppid', '1000']);
    const r = await recording;
    expect(r.code, r.stderr).toBe(0);
    const s = await summarizeRecording(out);
    expect(s.syscalls.find((x) => x.name === 'getppid')?.count).toBe(1000);
  });
});
