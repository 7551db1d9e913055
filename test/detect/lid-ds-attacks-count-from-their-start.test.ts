import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  expect(broken.stderr).toMatch(/a2\/a\.json, the metadata beside .*a\.sc, is not JSON.*Fix:/);
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
