import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert, AlertRecord } from '../../src/alert/alert.js';
import { workloadPath } from '../../src/capture/addon.js';
import { Collector } from '../../src/capture/collector.js';
import { recordToFile } from '../../src/capture/record-session.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { loadModel } from '../../src/detect/model-file.js';
import { MIN_PROFILE_WINDOWS, trainFromFiles } from '../../src/detect/train.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { runCli, runWorkload } from '../capture/helpers.js';

// Two programs of one container, each normal in its own way: A loops on
// getppid/getpgid/getsid, B opens, reads and stats a file. A doing what B
// does is normal for the container, not for A: only a profile per
// executable sees it (Forrest's "sense of self" is per program).

let cg: ScratchCgroup;
let dir: string;
let a: string;
let b: string;
let c: string;
beforeAll(() => {
  cg = createScratchCgroup(`sw-test-perexe-${process.pid}`);
  dir = mkdtempSync(join(tmpdir(), 'sw-perexe-'));
  // Three executables that are one program: only their paths differ.
  [a, b, c] = ['prog-a', 'prog-b', 'prog-c'].map((n) => {
    const p = join(dir, n);
    copyFileSync(workloadPath(), p);
    chmodSync(p, 0o755);
    return p;
  }) as [string, string, string];
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** Run `exe` with workload arguments inside the scratch cgroup (exec'd there, so the kernel names it); its pid. */
const inCgroup = (exe: string, ...args: string[]) => runWorkload(['--cgroup', cg.dir, 'exec', exe, ...args]);

describe('train --per-exe', () => {
  it("scores each program by its own profile: A doing B's normal work alarms under A's profile, and not under the container-wide model", async () => {
    const rec = join(dir, 'normal.swrec');
    const collector = await Collector.open({ targets: [cg.spec] });
    const recording = recordToFile(collector, rec);
    for (let i = 0; i < 6; i++) {
      await inCgroup(a, 'pattern', '300');
      await inCgroup(b, 'mix', '200');
    }
    await collector.close();
    await recording;

    const perExe = join(dir, 'per-exe.model');
    // STIDE: a window its profile never saw scores 1, so the test does not hang on how a smoothed model weighs them.
    const r = await trainFromFiles({ from: [rec], window: 6, model: perExe, perExe: true, detector: 'stide' });
    expect(r.profiles!.map((p) => p.exe).sort()).toEqual([a, b].sort());
    for (const p of r.profiles!) expect(p.windows).toBeGreaterThanOrEqual(MIN_PROFILE_WINDOWS);
    const plain = join(dir, 'plain.model');
    await trainFromFiles({ from: [rec], window: 6, model: plain, detector: 'stide' });
    const saved = await loadModel(perExe);
    expect(saved.profiles.map((p) => p.exe).sort()).toEqual([a, b].sort());
    // The command says what it learnt, per executable.
    const cli = await runCli(['train', '--from', rec, '--per-exe', '--window', '6', '--model', join(dir, 'cli.model')]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr).toMatch(/2 executable profile\(s\), sharing the false-alarm budget/);
    expect(cli.stderr).toContain(`${a}: `);

    const watch = async (model: string) => {
      const p = await Pipeline.create({ model, workers: 2 });
      const out: AlertRecord[] = [];
      p.on('alert', (x: AlertRecord) => out.push(x));
      const col = await Collector.open({ targets: [cg.spec] });
      p.attach(col);
      const pids = {
        aLikeB: await inCgroup(a, 'mix', '200'),
        bNormal: await inCgroup(b, 'mix', '200'),
        aNormal: await inCgroup(a, 'pattern', '300'),
        unknown: await inCgroup(c, 'pattern', '300'),
      };
      await col.close();
      await p.drain();
      await p.close();
      const alerts = out.filter((x): x is Alert => x.type === 'alert');
      return { pids, alerts, stats: { pipeline: p.stats(), collector: col.stats().proc }, of: (pid: number) => alerts.filter((x) => x.tid === pid) };
    };

    const per = await watch(perExe);
    const wrong = per.of(per.pids.aLikeB);
    expect(wrong.length, JSON.stringify({ alerts: per.alerts, profiles: r.profiles!.map((p) => [p.exe, p.windows, p.calibration.threshold]), wide: r.calibration.threshold, stats: per.stats })).toBeGreaterThan(0);
    expect(wrong[0]!.profile).toBe(a);
    expect(wrong[0]!.window.some((n) => n === 'openat' || n === 'read' || n === 'newfstatat')).toBe(true);
    // B's own work, A's own work, and a program with no profile (scored container-wide): quiet.
    expect(per.of(per.pids.bNormal)).toEqual([]);
    expect(per.of(per.pids.aNormal)).toEqual([]);
    expect(per.of(per.pids.unknown)).toEqual([]);

    // The container-wide model alone finds nothing wrong with A's reads: they are the container's normal.
    const flat = await watch(plain);
    expect(flat.of(flat.pids.aLikeB)).toEqual([]);
  }, 120_000);

  it('is refused for trace files, which carry no process events', async () => {
    const trace = join(dir, 'plain.trace');
    writeFileSync(trace, 'read\nwrite\n'.repeat(100));
    await expect(trainFromFiles({ from: [trace], window: 6, perExe: true })).rejects.toThrow(/--per-exe needs the kernel's process events, which .*plain\.trace does not hold/);
  });
});
