import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { runCli } from '../cli/helpers.js';

// An LID-DS attack recording runs the application normally and then its
// exploit; the time of the exploit is in the recording's metadata. An alarm
// before it is not a detection: eval reads the metadata, counts only alarms
// from the start on, and says how long after it the first one came.
const dir = mkdtempSync(join(tmpdir(), 'sw-lidds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE = 1_631_209_047_000_000_000n; // unix ns
const STEP = 1_000_000n; // a call every millisecond
const LOOP = ['poll', 'recvfrom', 'openat', 'fstat', 'read', 'close', 'sendto', 'write'];
const BURST = ['execve', 'brk', 'getdents64', 'chmod', 'setuid', 'socket', 'connect', 'dup2'];

/** One recording: a thread making `calls`, one a millisecond, as sysdig 2021 lines (entry and return). */
function recording(path: string, calls: string[]): void {
  const lines = calls.flatMap((c, i) => {
    const ts = BASE + BigInt(i) * STEP;
    return [`${ts} 33 700 apache2 700 ${c} > x=1`, `${ts + 1000n} 33 700 apache2 700 ${c} < res=0`];
  });
  writeFileSync(path, lines.join('\n') + '\n');
}
const loop = (n: number) => Array.from({ length: n }, () => LOOP).flat();
const burst = (n: number) => Array.from({ length: n }, () => BURST).flat();
/** The metadata of an attack recording whose exploit starts `atCall` calls in. */
const metadata = (path: string, atCall: number) =>
  writeFileSync(path, `{'exploit': True, 'time': {'exploit': [{'absolute': ${Number(BASE + BigInt(atCall) * STEP) / 1e9}, 'name': 'x', 'source': 'T1'}]}}`.replace('True', 'true'));

it('an attack recording counts as detected by an alarm from its exploit on, not before; the delay is measured', async () => {
  const normal = join(dir, 'training');
  const attack = join(dir, 'normal_and_attack');
  mkdirSync(normal);
  mkdirSync(attack);
  for (let i = 0; i < 6; i++) recording(join(normal, `n${i}.sc`), loop(150));
  // Three recordings whose exploit starts 1.2 s in, with the burst right then.
  for (let i = 0; i < 3; i++) {
    recording(join(attack, `a${i}.sc`), [...loop(150), ...burst(10), ...loop(50)]);
    metadata(join(attack, `a${i}.json`), 1200);
    writeFileSync(join(attack, `a${i}.res`), 'timestamp,cpu_usage\n'); // LID-DS's resource file: not a trace
  }
  // One whose only oddity comes before its exploit: the exploit itself left no trace.
  recording(join(attack, 'early.sc'), [...burst(10), ...loop(150)]);
  metadata(join(attack, 'early.json'), 1000);

  const out = join(dir, 'eval.jsonl');
  const run = await runCli(['eval', '--normal', normal, '--attack', attack, '--detector', 'stide', '--window', '3', '--json', out], 120_000);
  expect(run.code, run.stderr).toBe(0);
  const [r] = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(r!.startsKnown).toBe(4);
  expect(r!.tracesDetected).toBe(0.75);
  expect(r!.earlyAlarms).toBe(1);
  const delays = r!.delays as number[];
  expect(delays).toHaveLength(3);
  // The burst is 80 calls (80 ms) long; the frame needs a part of it before it alarms.
  for (const d of delays) expect(d).toBeGreaterThanOrEqual(0), expect(d).toBeLessThan(0.08);
  expect(run.stdout).toMatch(/Attack start known .* for 4 attack traces/);
  expect(run.stdout).toMatch(/stide w=3 filter=none: first alarm 0\.0\d s after the start \(median\), 0\.0\d s at most; 1 of 4 alarmed before it/);
});

it('LID-DS 2021 as shipped, a zip per recording with its metadata inside, evaluates as unzipped', async () => {
  // The recordings of the first test, each zipped with its companions the way LID-DS ships them.
  const zipped = join(dir, 'zipped');
  const args: string[] = [];
  for (const [from, to] of [['training', '--normal'], ['normal_and_attack', '--attack']] as const) {
    mkdirSync(join(zipped, from), { recursive: true });
    const names = readdirSync(join(dir, from));
    for (const sc of names.filter((n) => n.endsWith('.sc'))) {
      const name = sc.slice(0, -3);
      const members = names.filter((n) => n.startsWith(`${name}.`));
      execFileSync('zip', ['-q', '-j', join(zipped, from, `${name}.zip`), ...members.map((m) => join(dir, from, m))]);
    }
    args.push(to, join(zipped, from));
  }
  expect(readdirSync(join(zipped, 'normal_and_attack')).sort()).toEqual(['a0.zip', 'a1.zip', 'a2.zip', 'early.zip']);
  const out = join(dir, 'eval-zipped.jsonl');
  const run = await runCli(['eval', ...args, '--detector', 'stide', '--window', '3', '--json', out], 120_000);
  expect(run.code, run.stderr).toBe(0);
  const [r] = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const [unzipped] = readFileSync(join(dir, 'eval.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const k of ['startsKnown', 'tracesDetected', 'earlyAlarms', 'delays', 'auc', 'threshold', 'trainWindows', 'testWindows']) expect(r![k], k).toEqual(unzipped![k]);

  // Metadata inside an archive that is no JSON is refused as the file beside a trace is, named inside its archive.
  const a0 = join(zipped, 'normal_and_attack', 'a0.zip');
  const stage = mkdtempSync(join(dir, 'stage-'));
  writeFileSync(join(stage, 'a0.json'), '{"exploit": true, "time": ');
  execFileSync('zip', ['-q', '-j', a0, join(stage, 'a0.json')]);
  const broken = await runCli(['eval', ...args, '--detector', 'stide', '--window', '3'], 60_000);
  expect(broken.code).not.toBe(0);
  expect(broken.stderr).toMatch(/a0\.zip:a0\.json, the metadata of \S*a0\.zip, is not JSON.*Fix:/);
  expect(broken.stderr).not.toMatch(/\n\s+at /);
});

it('metadata that names an exploit without its time, or beside a trace without times, is refused by name', async () => {
  const normal = join(dir, 'n2');
  const attack = join(dir, 'a2');
  mkdirSync(normal);
  mkdirSync(attack);
  for (let i = 0; i < 2; i++) recording(join(normal, `n${i}.sc`), loop(50));
  recording(join(attack, 'a.sc'), loop(50));
  writeFileSync(join(attack, 'a.json'), JSON.stringify({ exploit: true, time: { exploit: [] } }));
  const noTime = await runCli(['eval', '--normal', normal, '--attack', attack, '--detector', 'stide', '--window', '3'], 60_000);
  expect(noTime.code).not.toBe(0);
  expect(noTime.stderr).toMatch(/a2\/a\.json says its recording holds an exploit but gives no usable time for it .*Fix:/);
  expect(noTime.stderr).not.toMatch(/\n\s+at /);

  // Metadata that is no JSON, or no file at all (a FIFO would hang a plain read), is refused by name.
  writeFileSync(join(attack, 'a.json'), '{"exploit": true, "time": ');
  const broken = await runCli(['eval', '--normal', normal, '--attack', attack, '--detector', 'stide', '--window', '3'], 60_000);
  expect(broken.code).not.toBe(0);
  expect(broken.stderr).toMatch(/a2\/a\.json, the metadata of .*a\.sc, is not JSON.*Fix:/);
  rmSync(join(attack, 'a.json'));
  execFileSync('mkfifo', [join(attack, 'a.json')]);
  const fifo = await runCli(['eval', '--normal', normal, '--attack', attack, '--detector', 'stide', '--window', '3'], 60_000);
  expect(fifo.timedOut).toBe(false);
  expect(fifo.code).not.toBe(0);
  expect(fifo.stderr).toMatch(/a2\/a\.json/);
  rmSync(join(attack, 'a.json'));

  // A plain list has no times to place the exploit among.
  rmSync(join(attack, 'a.sc'));
  writeFileSync(join(attack, 'a.txt'), loop(50).join('\n') + '\n');
  writeFileSync(join(attack, 'a.json'), JSON.stringify({ exploit: true, time: { exploit: [{ absolute: 1631209047.5 }] } }));
  const untimed = await runCli(['eval', '--normal', normal, '--attack', attack, '--detector', 'stide', '--window', '3'], 60_000);
  expect(untimed.code).not.toBe(0);
  expect(untimed.stderr).toMatch(/a2\/a\.json gives the time its exploit starts, but the events of .*a\.txt \(plain\) carry no times.*Fix:/);
});

// LID-DS 2019: one table per scenario (runs.csv) beside recordings whose events carry only their time of day.
/** A 2019 recording: a thread making `calls`, one a millisecond from `startMs` after midnight (entry and return lines). */
function recording2019(path: string, calls: string[], startMs: number): void {
  const at = (ns: number) => {
    const day = ns % 86_400e9;
    const s = Math.floor(day / 1e9);
    const hh = String(Math.floor(s / 3600)).padStart(2, '0');
    const mm = String(Math.floor(s / 60) % 60).padStart(2, '0');
    const ss = String(s % 60).padStart(2, '0');
    return `${hh}:${mm}:${ss}.${String(day % 1e9).padStart(9, '0')}`;
  };
  const lines = calls.flatMap((c, i) => {
    const ns = (startMs + i) * 1e6;
    return [`${2 * i + 1} ${at(ns)} 0 33 apache2 700 > ${c} x=1`, `${2 * i + 2} ${at(ns + 1000)} 0 33 apache2 700 < ${c} res=0`];
  });
  writeFileSync(path, lines.join('\n') + '\n');
}

it('LID-DS 2019: the start comes from runs.csv (the warmup, less 2 s), on the events\' clock, across midnight', async () => {
  const scenario = join(dir, 'Bruteforce_2019');
  mkdirSync(scenario);
  // Recordings that start 0.6 s before midnight: their times of day wrap to 00:00.
  const start = 86_400_000 - 600;
  const rows = ['image_name, scenario_name, is_executing_exploit, warmup_time, recording_time, exploit_start_time'];
  const normals: string[] = [];
  for (let i = 0; i < 6; i++) {
    recording2019(join(scenario, `calm_${i}.txt`), loop(150), start);
    rows.push(`victim:latest, calm_${i}, False, 3, 30, -1`);
    normals.push(join(scenario, `calm_${i}.txt`));
  }
  // Warmup 3 s: the exploit is taken to start 1 s after the first event; the burst comes 1.2 s in.
  const attacks: string[] = [];
  for (let i = 0; i < 3; i++) {
    recording2019(join(scenario, `hit_${i}.txt`), [...loop(150), ...burst(10), ...loop(50)], start);
    rows.push(`victim:latest, hit_${i}, True, 3, 30, 20`);
    attacks.push(join(scenario, `hit_${i}.txt`));
  }
  // Its only oddity at 0 s: before the start, an early alarm and no detection.
  recording2019(join(scenario, 'early.txt'), [...burst(10), ...loop(150)], start);
  rows.push('victim:latest, early, True, 3, 30, 20');
  attacks.push(join(scenario, 'early.txt'));
  writeFileSync(join(scenario, 'runs.csv'), rows.join('\n') + '\n');

  const out = join(dir, 'eval2019.jsonl');
  const args = ['eval', '--normal', normals.join(','), '--attack', attacks.join(','), '--detector', 'stide', '--window', '3', '--json', out];
  const run = await runCli(args, 120_000);
  expect(run.code, run.stderr).toBe(0);
  const [r] = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(r!.startsKnown).toBe(4);
  expect(r!.tracesDetected).toBe(0.75);
  expect(r!.earlyAlarms).toBe(1);
  // The burst is 0.2 s after the start taken, and 80 ms long.
  for (const d of r!.delays as number[]) expect(d).toBeGreaterThanOrEqual(0.2), expect(d).toBeLessThan(0.28);

  // A table whose warmup is no number is refused by name, with its line.
  writeFileSync(join(scenario, 'runs.csv'), [...rows.slice(0, -1), 'victim:latest, early, True, soon, 30, 20'].join('\n') + '\n');
  const bad = await runCli([...args, '--force'], 60_000);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/runs\.csv:11: warmup_time 'soon' is no number of seconds, so the exploit of early cannot be placed\. Fix:/);
  expect(bad.stderr).not.toMatch(/\n\s+at /);
  // And a directory of recordings reads the table as no trace: 10 recordings, not 11.
  writeFileSync(join(scenario, 'runs.csv'), rows.join('\n') + '\n');
  const all = await runCli(['eval', '--normal', scenario, '--attack', attacks[0]!, '--detector', 'stide', '--window', '3'], 60_000);
  expect(all.code, all.stderr).toBe(0);
  expect(all.stdout).toContain('normal: 10 traces, attack: 1 traces');
  // That directory holds the attack recordings too: given as normal, they are named, not learnt in silence.
  expect(all.stderr).toMatch(/warning: 4 trace\(s\) given with another label than their dataset's runs\.csv gives them \(first: \S*early\.txt was given as normal, but \S*runs\.csv says it runs an exploit\)\. Fix: /);
  expect(run.stderr).not.toMatch(/another label/);
});
