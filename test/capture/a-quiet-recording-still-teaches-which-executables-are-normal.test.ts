/**
 * A server that never exec'd while it was recorded (most long-running
 * containers) leaves a recording without one process event. Recorded with
 * BTF tracepoints, that still says something: no executable is normal, so a
 * model trained from it reports any exec as 'new-executable' instead of
 * turning drift off.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../../src/capture/collector.js';
import { recordToFile } from '../../src/capture/record-session.js';
import { readRecording } from '../../src/capture/recording.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { modelFromBytes, readModelBytes } from '../../src/detect/model-file.js';
import { runCli, startWorkload, waitFor } from './helpers.js';

let dir: string;
let cg: ScratchCgroup;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-quiet-'));
  cg = createScratchCgroup(`sw-test-quiet-${process.pid}`);
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await cg.remove();
});

describe('training from a recording with no process events', () => {
  it('learns that no executable is normal when the recording was made with BTF tracepoints', async () => {
    const server = startWorkload(['--cgroup', cg.dir, 'mix', '1000000000']);
    try {
      // Running in the cgroup before the recording starts: nothing it does while recorded is a process event.
      await waitFor(() => readFileSync(join(cg.dir, 'cgroup.procs'), 'utf8').split('\n').includes(String(server.pid)), 'the server in its cgroup', 30_000);
      const out = join(dir, 'quiet.swrec');
      const collector = await Collector.open({ targets: [cg.spec] });
      let events = 0;
      collector.on('batch', (b: { count: number }) => (events += b.count));
      const rec = recordToFile(collector, out);
      await waitFor(() => events >= 50_000, '50 000 of its calls recorded', 60_000);
      await collector.close();
      await rec;
      let procEvents = 0;
      const r = await readRecording(out, (b) => (procEvents += b.proc.length));
      expect(procEvents).toBe(0);
      expect(r.trailer?.stats.attach).toBe('tp_btf');

      const model = join(dir, 'quiet.model');
      const t = await runCli(['train', '--from', out, '--model', model]);
      expect(t.code, t.stderr).toBe(0);
      expect(t.stderr).toMatch(/0 executable\(s\) exec'd while learning; watch reports the first exec of any other as 'new-executable'/);
      const { file } = modelFromBytes(await readModelBytes(model), model);
      expect(file.executables).toEqual([]);
    } finally {
      server.kill('SIGKILL');
    }
  });
});
