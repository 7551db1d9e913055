import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import { Collector } from '../../src/capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { trainLive } from '../../src/detect/train.js';
import { projectRoot, waitFor } from '../capture/helpers.js';
import { workloadLoop } from '../pipeline/helpers.js';

// The agent runs from a folder inside the package, so `import 'syswarden'`
// resolves to this package (Node's self-reference), as it would for a user.
const scratch = join(projectRoot, '.embed-test');
let cg: ScratchCgroup;

beforeAll(() => {
  mkdirSync(scratch, { recursive: true });
  cg = createScratchCgroup(`sw-test-embed-${process.pid}`);
});
afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await cg.remove();
});

function readmeAgent(): string {
  const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
  const m = /<!-- embed-test:[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README has no embed-test block');
  return m[1]!;
}

describe('the README embedding example', () => {
  it('runs as written: watches a target, prints the alert of an intrusion and the stats', async () => {
    const model = join(scratch, 'agent.model');
    const collector = await Collector.open({ targets: [cg.spec] });
    const loop = workloadLoop(cg);
    await trainLive({ collector, durationMs: 2500, window: 6, model });
    await loop.stop();
    await collector.close();

    const agent = join(scratch, 'agent.mjs');
    writeFileSync(agent, readmeAgent());
    // Long enough for a start-up on a loaded machine; the intruder runs as soon as the agent says it watches.
    const child = spawn(process.execPath, [agent, cg.spec, model, '15'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await waitFor(() => err.includes('watching '), 'the agent to say it watches', 60_000);
    const intruder = spawn(workloadPath(), ['--cgroup', cg.dir, 'exec', 'cat', '/etc/shadow'], { stdio: 'ignore' });
    await new Promise((r) => intruder.once('exit', r));
    const code = await exited;
    expect(code, err).toBe(0);
    await waitFor(() => out.includes('ALERT'), 'an ALERT line', 100);
    expect(out).toMatch(new RegExp(`ALERT .*tid ${intruder.pid}|ALERT .*\\[\\d+/${intruder.pid}\\]`));
    const stats = JSON.parse(out.trim().split('\n').pop()!);
    expect(stats.capture.kernel.dropped).toBe(0);
    expect(stats.scoring.incidents).toBeGreaterThanOrEqual(1);
  });
});
