import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { ExecEvent } from '../../src/capture/proc-event.js';
import { recordingBatches } from '../../src/capture/recording.js';
import { ProcessTable } from '../../src/process/table.js';
import { expect } from 'vitest';
import { ensureEngine, type Engine } from '../../src/scenario/engine.js';
import { loadRun, readDataset, type DatasetRun } from '../../src/scenario/dataset.js';
import { scenarioNamed } from '../../src/scenario/registry.js';
import { runScenario } from '../../src/scenario/runner.js';
import { syscallName, syscallNumber } from '../../src/trace/syscalls.js';

/** The image cache the tests share with each other and with CI's dataset build. */
export const TEST_CACHE = process.env.SYSWARDEN_CACHE ?? '/var/cache/syswarden';

export interface BuiltScenario {
  dir: string;
  runs: DatasetRun[];
  cleanup(): Promise<void>;
}

/** Build a small dataset of one scenario (real container, real recording) in a temporary directory. */
export async function buildSmall(name: string, runs = 3, seed = 7): Promise<BuiltScenario> {
  const engine: Engine = await ensureEngine();
  const dir = mkdtempSync(join(tmpdir(), `sw-scenario-${name}-`));
  try {
    await runScenario(scenarioNamed(name), { out: dir, runs, seed, length: [5, 7], cacheDir: TEST_CACHE });
    const [s] = await readDataset(dir);
    return {
      dir,
      runs: s!.runs,
      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
        await engine.stop();
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    await engine.stop();
    throw e;
  }
}

/**
 * What each scenario's test asserts about its build: the attack run's label
 * points at the attack's own syscalls (every evidence syscall of the
 * scenario occurs between the attack's start and end, and at least one of
 * them occurs in no normal run, so normal traffic going on around the attack
 * cannot pass the check for it), and a pair of consecutive syscalls of one
 * thread in the attack's span occurs in no normal run. Normal runs had
 * working sessions and nothing was dropped.
 */
export async function checkAttackVisible(name: string, built: BuiltScenario): Promise<void> {
  const scenario = scenarioNamed(name);
  const attackRuns = built.runs.filter((r) => r.label.kind === 'attack');
  const normalRuns = built.runs.filter((r) => r.label.kind === 'normal');
  expect(attackRuns.length).toBeGreaterThan(0);
  expect(normalRuns.length).toBeGreaterThan(0);
  const normalPairs = new Set<number>();
  const normalCalls = new Set<string>();
  for (const run of normalRuns) {
    expect(run.label.sessions).toBeGreaterThan(0);
    expect(run.label.drops).toEqual({ kernel: 0, user: 0 });
    for (const t of await loadRun(run)) {
      for (let i = 0; i < t.calls.length; i++) {
        normalPairs.add(i === 0 ? 0x10000 + t.calls[i]! : t.calls[i - 1]! * 0x10000 + t.calls[i]!);
        normalCalls.add(syscallName(t.calls[i]!));
      }
    }
  }
  const ownEvidence = scenario.evidence.filter((s) => !normalCalls.has(s));
  expect(ownEvidence.length, `${name}: an evidence syscall that no normal run makes (evidence: ${scenario.evidence.join(', ')})`).toBeGreaterThan(0);
  for (const run of attackRuns) {
    expect(run.label.drops).toEqual({ kernel: 0, user: 0 });
    const start = Number(BigInt(run.label.attack!.startNs) - BigInt(run.label.startNs));
    const end = Number(BigInt(run.label.attack!.endNs) - BigInt(run.label.startNs));
    const seen = new Set<string>();
    const novel: string[] = [];
    for (const t of await loadRun(run)) {
      for (let i = 0; i < t.calls.length; i++) {
        if (t.times[i]! < start || t.times[i]! > end) continue;
        seen.add(syscallName(t.calls[i]!));
        const pair = i === 0 ? 0x10000 + t.calls[i]! : t.calls[i - 1]! * 0x10000 + t.calls[i]!;
        if (!normalPairs.has(pair) && novel.length < 5) novel.push(i === 0 ? `${syscallName(t.calls[i]!)} (first)` : `${syscallName(t.calls[i - 1]!)}→${syscallName(t.calls[i]!)}`);
      }
    }
    for (const s of scenario.evidence) {
      expect(syscallNumber(s), `evidence ${s} is a syscall name`).toBeDefined();
      expect(seen.has(s), `${name} ${run.label.run}: ${s} between the attack's start and end`).toBe(true);
    }
    expect(novel.length, `${name} ${run.label.run}: behaviour in the attack span that no normal run shows`).toBeGreaterThan(0);
    await checkAttackExecs(scenario.evidenceExecs ?? [], run, name);
  }
}

/**
 * The programs the attack runs were exec'd during its span, and the process
 * table built from the recording's events names each with its arguments
 * and its parent's executable, as an alert on it would (most live
 * milliseconds, and are gone long before anyone could read /proc).
 */
async function checkAttackExecs(programs: readonly string[], run: DatasetRun, name: string): Promise<void> {
  if (programs.length === 0) return;
  const start = BigInt(run.label.attack!.startNs);
  const end = BigInt(run.label.attack!.endNs);
  const table = new ProcessTable();
  const execs: ExecEvent[] = [];
  for await (const { batch } of recordingBatches(run.recording)) {
    for (const e of batch.proc) {
      table.apply(e);
      const ts = BigInt(e.tsNs);
      if (e.kind === 'exec' && ts >= start && ts <= end) execs.push(e);
    }
  }
  for (const program of programs) {
    const ran = execs.filter((e) => basename(e.exe) === program);
    expect(ran.length, `${name} ${run.label.run}: an exec of ${program} during the attack (execs: ${execs.map((e) => basename(e.exe)).join(' ')})`).toBeGreaterThan(0);
    const who = table.context(ran[0]!.tid, { readProc: false, atNs: ran[0]!.tsNs });
    expect(who, `${program} named by the table`).toMatchObject({ source: 'exec', exe: ran[0]!.exe, args: expect.arrayContaining([expect.any(String)]), parentExe: expect.stringMatching(/^\//) });
  }
}
