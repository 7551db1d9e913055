import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLabel, readDataset } from '../../src/scenario/dataset.js';
import { ensureEngine, type Engine } from '../../src/scenario/engine.js';
import { PROJECT_ROOT } from '../../src/trace/dataset.js';
import { attackCount, planRuns, type RunLabel } from '../../src/scenario/runner.js';
import { waitFor } from '../capture/helpers.js';
import { TEST_CACHE } from './helpers.js';

const CLI = join(PROJECT_ROOT, 'dist/cli/main.js');
/** The CI build: two scenarios, a few short runs each. */
const SCENARIOS = 'cgi-miner,redis-config';
const RUNS = 5;

function cli(args: string[], onSpawn?: (pid: number) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, SYSWARDEN_CACHE: TEST_CACHE }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    onSpawn?.(child.pid!);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const labels = (dir: string, scenario: string) => readdirSync(join(dir, scenario)).filter((f) => /^run-\d+\.json$/.test(f)).sort();

let engine: Engine;
let dir: string;
beforeAll(async () => {
  engine = await ensureEngine();
  dir = mkdtempSync(join(tmpdir(), 'sw-dataset-'));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await engine.stop();
});

describe('the run plan', () => {
  it('is fixed by scenario, seed, runs and lengths; a third of the runs attack, inside the run', () => {
    const a = planRuns('cgi-miner', { runs: 30, seed: 3, length: [6, 12] });
    expect(planRuns('cgi-miner', { runs: 30, seed: 3, length: [6, 12] })).toEqual(a);
    expect(planRuns('cgi-miner', { runs: 30, seed: 4, length: [6, 12] })).not.toEqual(a);
    expect(planRuns('redis-config', { runs: 30, seed: 3, length: [6, 12] })).not.toEqual(a);
    expect(a.filter((r) => r.kind === 'attack')).toHaveLength(10);
    expect(attackCount(30)).toBe(10);
    for (const r of a) {
      expect(r.seconds).toBeGreaterThanOrEqual(6);
      expect(r.seconds).toBeLessThanOrEqual(12);
      if (r.kind === 'attack') expect(r.attackAt! / r.seconds).toBeGreaterThanOrEqual(0.25);
      if (r.kind === 'attack') expect(r.attackAt! / r.seconds).toBeLessThanOrEqual(0.6);
    }
  });
});

describe('a small dataset build (the CI build: two scenarios, a few runs)', () => {
  it('is interrupted by SIGINT, says how to resume, and resumes keeping the finished runs', async () => {
    const args = ['scenario', 'run', SCENARIOS, '--runs', String(RUNS), '--length', '4-5', '--seed', '5', '--out', dir];
    let pid = 0;
    const first = cli(args, (p) => (pid = p));
    await waitFor(() => existsSync(join(dir, 'cgi-miner')) && labels(dir, 'cgi-miner').length >= 1, 'the first finished run', 300_000);
    process.kill(pid, 'SIGINT');
    const r1 = await first;
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/interrupted; run the same command again to resume/);
    const kept = labels(dir, 'cgi-miner');
    expect(kept.length).toBeGreaterThanOrEqual(1);
    expect(kept.length).toBeLessThan(RUNS);
    const before = Object.fromEntries(kept.map((f) => [f, readFileSync(join(dir, 'cgi-miner', f), 'utf8')]));
    expect(readdirSync(join(dir, 'cgi-miner')).filter((f) => f.includes('.partial'))).toEqual([]);

    // Other options against the same directory are refused, not mixed in.
    const clash = await cli(['scenario', 'run', 'cgi-miner', '--runs', String(RUNS + 1), '--length', '4-5', '--seed', '5', '--out', dir]);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/holds a build of cgi-miner with --seed 5 --runs 5 --length 4-5.*Fix: repeat the old options/);

    const r2 = await cli(args);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toMatch(new RegExp(`cgi-miner: ${RUNS} runs .*; ${kept.length} were already there`));
    for (const s of SCENARIOS.split(',')) expect(labels(dir, s)).toHaveLength(RUNS);
    for (const [f, text] of Object.entries(before)) expect(readFileSync(join(dir, 'cgi-miner', f), 'utf8')).toBe(text);
  }, 900_000);

  it('labels every run: kind, attack kind and span on the recording\'s clock, within the recording', async () => {
    const ds = await readDataset(dir);
    expect(ds.map((s) => s.scenario)).toEqual(SCENARIOS.split(',').sort());
    for (const s of ds) {
      expect(s.runs.filter((r) => r.label.kind === 'attack')).toHaveLength(attackCount(RUNS));
      for (const r of s.runs) {
        expect(r.label.events).toBeGreaterThan(0);
        expect(r.label.drops).toEqual({ kernel: 0, user: 0 });
        if (r.label.kind === 'attack') {
          expect(r.label.attackKind).toBeTruthy();
          expect(BigInt(r.label.attack!.startNs)).toBeGreaterThan(BigInt(r.label.startNs));
          // Normal traffic goes on after the attack.
          expect(BigInt(r.label.endNs) - BigInt(r.label.attack!.endNs)).toBeGreaterThanOrEqual(1_900_000_000n);
          expect(r.label.actions.attack.length).toBeGreaterThan(0);
        }
      }
    }
  });

  it('eval --dataset reports per scenario and overall, and writes the records', async () => {
    const json = join(dir, 'eval.jsonl');
    const r = await cli(['eval', '--dataset', dir, '--detector', 'markov', '--window', '5', '--seed', '2', '--json', json]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/a model per scenario/);
    expect(r.stdout).toMatch(/overall \(all scenarios pooled\)/);
    const recs = readFileSync(json, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs.map((x) => x.scenario)).toEqual([...SCENARIOS.split(',').sort(), 'all']);
    const normals = RUNS - attackCount(RUNS);
    for (const x of recs.slice(0, -1)) {
      // Half the normal runs train (at least one), the rest test; every attack run is tested (one-class).
      expect(x.normalTrain).toBe(Math.max(1, Math.floor(normals / 2)));
      expect(x.normalTest).toBe(normals - (x.normalTrain as number));
      expect(x.attackRuns).toBe(attackCount(RUNS));
      expect((x.delays as number[]).length).toBe(x.detected);
      for (const d of x.delays as number[]) expect(d).toBeGreaterThanOrEqual(0);
    }
    const all = recs.at(-1)!;
    expect(all.attackRuns).toBe(2 * attackCount(RUNS));
  }, 300_000);

  it('the same seed gives the same client actions; runs of another seed differ', async () => {
    const again = mkdtempSync(join(tmpdir(), 'sw-dataset-again-'));
    try {
      const r = await cli(['scenario', 'run', 'cgi-miner', '--runs', String(RUNS), '--length', '4-5', '--seed', '5', '--out', again]);
      expect(r.code, r.stderr).toBe(0);
      const read = (d: string, f: string) => JSON.parse(readFileSync(join(d, 'cgi-miner', f), 'utf8')) as RunLabel;
      for (const f of labels(dir, 'cgi-miner')) {
        const a = read(dir, f);
        const b = read(again, f);
        expect(b.kind).toBe(a.kind);
        expect(b.seed).toBe(a.seed);
        // The client's speed decides how many sessions fit in a run, not which requests they make.
        const n = Math.min(a.actions.normal.length, b.actions.normal.length);
        expect(n).toBeGreaterThan(5);
        expect(b.actions.normal.slice(0, n)).toEqual(a.actions.normal.slice(0, n));
        // Loopback ports are picked free at run time: the same actions, to whichever port the listener got.
        const unported = (xs: string[]) => xs.map((x) => x.replace(/127\.0\.0\.1([: ])\d+/g, '127.0.0.1$1<port>'));
        expect(unported(b.actions.attack)).toEqual(unported(a.actions.attack));
      }
      const other = planRuns('cgi-miner', { runs: RUNS, seed: 6, length: [4, 5] });
      expect(other.map((p) => p.seed)).not.toEqual(planRuns('cgi-miner', { runs: RUNS, seed: 5, length: [4, 5] }).map((p) => p.seed));
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  }, 600_000);
});

describe('dataset input checks', () => {
  it('refuses a directory without runs, a bad label and a missing recording, naming the file and the fix', async () => {
    const d = mkdtempSync(join(tmpdir(), 'sw-dataset-bad-'));
    try {
      await expect(readDataset(d)).rejects.toThrow(/holds no scenario runs.*Fix: build one/);
      await expect(readDataset(join(d, 'nope'))).rejects.toThrow(/cannot read the dataset directory/);
      const good = JSON.parse(readFileSync(join(dir, 'cgi-miner', 'run-000.json'), 'utf8')) as RunLabel;
      expect(() => checkLabel({ ...good, kind: 'weird' }, 'x.json')).toThrow(/x\.json is not a valid run label: kind must be/);
      expect(() => checkLabel({ ...good, startNs: '12e3' }, 'x.json')).toThrow(/startNs must be a decimal string/);
      expect(() => checkLabel({ ...good, recording: '../../etc/passwd' }, 'x.json')).toThrow(/recording must be a file name/);
      expect(() => checkLabel({ ...good, kind: 'attack', attack: { startNs: '1', endNs: '2' }, attackKind: 'x' }, 'x.json')).toThrow(/does not lie within the run/);
      expect(() => checkLabel({ ...good, version: 99 }, 'x.json')).toThrow(/version 99/);
      const sdir = join(d, 'cgi-miner');
      const { mkdirSync } = await import('node:fs');
      mkdirSync(sdir);
      writeFileSync(join(sdir, 'scenario.json'), '{}');
      writeFileSync(join(sdir, 'run-000.json'), JSON.stringify(good));
      await expect(readDataset(d)).rejects.toThrow(/names the recording run-000\.swrec, which is missing/);
      writeFileSync(join(sdir, 'run-000.json'), '{not json');
      await expect(readDataset(d)).rejects.toThrow(/run-000\.json is not a valid run label: not JSON/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
