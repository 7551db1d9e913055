import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../../src/capture/collector.js';
import { recordToFile } from '../../src/capture/record-session.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { decisionScores } from '../../src/detect/decision.js';
import { modelFromBytes } from '../../src/detect/model-file.js';
import { trainFromFiles } from '../../src/detect/train.js';
import { readTrace } from '../../src/trace/read-trace.js';
import { windowStreams } from '../../src/window/windows.js';
import { runWorkload } from '../capture/helpers.js';
import { runCli } from '../cli/helpers.js';

/**
 * Two "hosts" run the same workload with partly different normal behaviour:
 * both run the pattern (getppid, getpgid, getsid); host A also reads a file
 * (mix: open/read/close/stat), host B also hops CPUs (hop: the pattern with
 * sched_setaffinity). Each host's model is trained on its own recordings
 * (real BPF capture of real processes in a cgroup); the merged model must
 * know both, so on held-out normal runs of either kind it alarms no more
 * than the better input (and less than at least one), while the attack (a
 * process that execs cat /etc/shadow) is detected by it as by the inputs.
 */
let cg: ScratchCgroup;
let dir: string;
const runs = { a: [] as string[], b: [] as string[], heldA: [] as string[], heldB: [] as string[], attack: [] as string[] };

/** One recording of `steps` (sw-workload argument lists run one after the other in the cgroup). */
async function record(path: string, steps: string[][]): Promise<void> {
  const collector = await Collector.open({ targets: [cg.spec] });
  const stop = new AbortController();
  const done = recordToFile(collector, path, { signal: stop.signal });
  try {
    for (const s of steps) await runWorkload(['--cgroup', cg.dir, ...s]);
  } finally {
    // The collector drains its ring a last time on close: every call of the exited processes is in the file.
    stop.abort();
    await done;
  }
}

/** Whether any thread of the recording reaches the model's threshold (the budget counts alarming traces). */
async function alarms(modelBytes: Uint8Array, path: string): Promise<boolean> {
  const { detector, file } = modelFromBytes(modelBytes, 'model');
  const trace = await readTrace(path);
  const set = windowStreams(trace.threads.map((t) => ({ calls: t.calls })), file.windowSize);
  if (set.count === 0) return false;
  const decided = decisionScores(set, detector.score(set), file.calibration.frame, file.calibration.trim);
  return decided.some((x) => x >= file.threshold);
}

async function alarmCount(modelBytes: Uint8Array, paths: readonly string[]): Promise<number> {
  let n = 0;
  for (const p of paths) if (await alarms(modelBytes, p)) n++;
  return n;
}

beforeAll(async () => {
  cg = createScratchCgroup(`sw-test-merge-${process.pid}`);
  dir = mkdtempSync(join(tmpdir(), 'sw-merge-'));
  // Counts vary from run to run (seeded by the run's number), as real traffic does.
  const pattern = (k: number) => ['pattern', String(200 + 37 * k)];
  const mix = (k: number) => ['mix', String(60 + 11 * k)];
  const hop = (k: number) => ['hop', String(60 + 13 * k)];
  for (let k = 0; k < 8; k++) {
    runs.a.push(join(dir, `a-${k}.swrec`));
    await record(runs.a[k]!, [pattern(k), mix(k)]);
    runs.b.push(join(dir, `b-${k}.swrec`));
    await record(runs.b[k]!, [pattern(k), hop(k)]);
  }
  for (let k = 8; k < 12; k++) {
    runs.heldA.push(join(dir, `held-a-${k}.swrec`));
    await record(runs.heldA.at(-1)!, [pattern(k), mix(k)]);
    runs.heldB.push(join(dir, `held-b-${k}.swrec`));
    await record(runs.heldB.at(-1)!, [pattern(k), hop(k)]);
  }
  for (let k = 0; k < 3; k++) {
    runs.attack.push(join(dir, `attack-${k}.swrec`));
    await record(runs.attack[k]!, [pattern(k), ['exec', 'cat', '/etc/shadow']]);
  }
}, 300_000);

afterAll(async () => {
  await cg?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('model merge on models of one workload learnt on two hosts', () => {
  it('the merged model raises fewer false alarms on held-out normal runs than either input, and detects the same attacks', async () => {
    const modelA = join(dir, 'a.model');
    const modelB = join(dir, 'b.model');
    await trainFromFiles({ from: runs.a, model: modelA, window: 6 });
    await trainFromFiles({ from: runs.b, model: modelB, window: 6 });
    const merged = join(dir, 'merged.model');
    const r = await runCli(['model', 'merge', modelA, modelB, '--out', merged], 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/merged 2 hybrid models/);

    const bytes = { a: readFileSync(modelA), b: readFileSync(modelB), m: readFileSync(merged) };
    const held = [...runs.heldA, ...runs.heldB];
    const fa = { a: await alarmCount(bytes.a, held), b: await alarmCount(bytes.b, held), m: await alarmCount(bytes.m, held) };
    const thresholds = Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, modelFromBytes(v, k).file.threshold]));
    const what = JSON.stringify({ fa, thresholds, held: held.length });
    console.log(`false alarms on ${held.length} held-out normal runs: ${what}`);
    // Each input has not seen the other host's behaviour: it alarms on those runs.
    expect(fa.m, what).toBeLessThanOrEqual(Math.min(fa.a, fa.b));
    expect(fa.m, what).toBeLessThan(Math.max(fa.a, fa.b));

    const detected = { a: await alarmCount(bytes.a, runs.attack), b: await alarmCount(bytes.b, runs.attack), m: await alarmCount(bytes.m, runs.attack) };
    console.log(`attack runs detected of ${runs.attack.length}: ${JSON.stringify(detected)}`);
    expect(detected.a + detected.b, JSON.stringify(detected)).toBeGreaterThan(0);
    // Every attack run an input detects, the merged model detects.
    for (const p of runs.attack) {
      if ((await alarms(bytes.a, p)) || (await alarms(bytes.b, p))) expect(await alarms(bytes.m, p), `${p}: ${JSON.stringify(detected)}`).toBe(true);
    }

    // info names the inputs and the build; diff sees what each learnt that the other did not.
    const info = await runCli(['model', 'info', merged, '--json']);
    expect(info.code, info.stderr).toBe(0);
    const i = JSON.parse(info.stdout) as { training: { hosts: number }; merged: { inputs: Array<{ file: string }> }; build: { version: string; syscalls: string; modelFormat: number } };
    expect(i.training.hosts).toBe(2);
    expect(i.merged.inputs.map((x) => x.file)).toEqual([modelA, modelB]);
    const version = await runCli(['--version']);
    expect(version.stdout).toContain(`syscall table: sha256:${i.build.syscalls.slice(0, 12)}`);
    expect(version.stdout).toContain(`model format: ${i.build.modelFormat}`);
    const d = await runCli(['model', 'diff', modelA, modelB]);
    expect(d.code, d.stderr).toBe(1);
    // Host A learnt the file reads, host B the CPU hops.
    expect(d.stdout).toMatch(/< .*openat/);
    expect(d.stdout).toMatch(/> .*sched_setaffinity/);
    const same = await runCli(['model', 'diff', modelA, modelA]);
    expect(same.code, same.stdout).toBe(0);

    // Merging a merged model with one of its inputs again would count that host twice.
    const again = await runCli(['model', 'merge', merged, modelA, '--out', join(dir, 'twice.model')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/both made from model/);
    expect(existsSync(join(dir, 'twice.model'))).toBe(false);
  }, 300_000);
});

describe('model merge refuses what it cannot merge, and writes nothing then', () => {
  it('a bad file, a truncated model, mismatched windows, --out into a missing directory', async () => {
    const good = join(dir, 'good.model');
    const w4 = join(dir, 'w4.model');
    await trainFromFiles({ from: runs.a.slice(0, 4), model: good, window: 6 });
    await trainFromFiles({ from: runs.b.slice(0, 4), model: w4, window: 4 });
    const out = join(dir, 'out', 'merged.model');
    const files = () => readdirSync(dir).sort();
    const before = files();

    const notModel = await runCli(['model', 'merge', good, runs.a[0]!, '--out', join(dir, 'x.model')]);
    expect(notModel.code).toBe(1);
    expect(notModel.stderr).toMatch(/is not a syswarden model file/);

    const truncated = join(dir, 'truncated.model');
    const bytes = readFileSync(good);
    await import('node:fs').then((fs) => fs.writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1)));
    const cut = await runCli(['model', 'merge', good, truncated, '--out', join(dir, 'x.model')]);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/truncated.model (is a damaged syswarden model|is not a syswarden model file \(.*ends early)/);

    const windows = await runCli(['model', 'merge', good, w4, '--out', join(dir, 'x.model')]);
    expect(windows.code).toBe(1);
    expect(windows.stderr).toMatch(/differ in window size/);
    expect(windows.stderr).toContain(`${good}: 6`);

    const missing = await runCli(['model', 'merge', good, w4, '--out', out]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/out/);

    for (const r of [notModel, cut, windows, missing]) expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(files()).toEqual([...before, 'truncated.model'].sort());
    expect(existsSync(join(dir, 'x.model'))).toBe(false);

    const info = await runCli(['model', 'info', truncated]);
    expect(info.code).toBe(1);
    const diff = await runCli(['model', 'diff', good, truncated]);
    expect(diff.code).toBe(2);
  }, 120_000);
});

describe('training from a recording cut short', () => {
  it('says so and what it learnt from, with and without --per-exe, and eval says so too', async () => {
    // All of one run's batches but the last frame's tail: the recorder was killed mid-write.
    const cut = join(dir, 'cut.swrec');
    const bytes = readFileSync(runs.a[0]!);
    await import('node:fs').then((fs) => fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 40)));
    for (const extra of [[], ['--per-exe']]) {
      const r = await runCli(['train', '--from', cut, '--model', join(dir, `cut${extra.length}.model`), ...extra]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`syswarden: warning: ${cut}: `);
      expect(r.stderr).toMatch(/read up to the last complete batch; the model learnt only what was read/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    // eval says it once for all its files.
    const ev = await runCli(['eval', '--normal', `${cut},${runs.a[1]!}`, '--attack', runs.attack[0]!, '--detector', 'stide', '--window', '6', '--split', 'shuffled']);
    expect(ev.code, ev.stderr).toBe(0);
    expect(ev.stderr).toContain(`syswarden: warning: 1 file(s) read only in part (first: ${cut}: `);
    // A whole recording gives no such warning.
    const whole = await runCli(['train', '--from', runs.a[0]!, '--model', join(dir, 'whole.model')]);
    expect(whole.code, whole.stderr).toBe(0);
    expect(whole.stderr).not.toMatch(/warning/);
  }, 120_000);
});
