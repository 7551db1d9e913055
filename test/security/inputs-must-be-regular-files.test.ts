import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroup2Mount } from '../../src/capture/cgroup.js';
import { SyswardenError } from '../../src/errors.js';
import { openInputFile, readInputFile } from '../../src/io/safe-file.js';
import { expectFailure, runCli } from '../cli/helpers.js';

let dir: string;
let fifo: string;
/** A file standing in for a secret (/etc/shadow): its text must never appear in a message. */
let secret: string;
const SECRET_TEXT = 'root:$6$s3cr3tS4lt$hashhashhash:19000:0:99999:7:::\n';
/** An empty cgroup to name as watch's target, so only the model can be what fails. */
const cgroupName = `sw-inputs-${process.pid}`;
let target: string;

beforeAll(() => {
  mkdirSync(join(cgroup2Mount(), cgroupName));
  target = `cgroup:${cgroupName}`;
  dir = mkdtempSync(join(tmpdir(), 'sw-in-'));
  fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  secret = join(dir, 'shadow');
  writeFileSync(secret, SECRET_TEXT.repeat(20), { mode: 0o600 });
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmdirSync(join(cgroup2Mount(), cgroupName));
});

/** Every spawned command must fail well before this: a FIFO with no writer used to hang forever. */
const DEADLINE_MS = 20_000;

describe('inputs must be regular files: a FIFO or a device fails fast with a clear message', () => {
  it('openInputFile refuses a FIFO without waiting for a writer, /dev/zero, a directory and a too-large file', async () => {
    const refused = (p: string, maxBytes = 1 << 20): SyswardenError => {
      try {
        closeSync(openInputFile(p, { what: 'model', maxBytes }).fd);
      } catch (e) {
        expect(e).toBeInstanceOf(SyswardenError);
        return e as SyswardenError;
      }
      throw new Error(`${p} was accepted`);
    };
    expect(refused(fifo).message).toMatch(/cannot read model .*fifo: it is a FIFO \(named pipe\), not a regular file \(a pipe with no writer would hang the command\)\. Fix: save the model to a regular file/);
    expect(refused('/dev/zero').message).toMatch(/\/dev\/zero: it is a character device, not a regular file/);
    expect(refused(dir).message).toMatch(/it is a directory/);
    expect(refused(secret, 100).message).toMatch(new RegExp(`shadow: it is ${SECRET_TEXT.length * 20} bytes, more than the 100 bytes syswarden reads for a model`));
    expect(refused(join(dir, 'missing')).message).toMatch(/missing: ENOENT \(no such file\)/);
    expect((await readInputFile(secret, { what: 'model', maxBytes: 1 << 20 })).toString()).toBe(SECRET_TEXT.repeat(20));
  });

  it('/dev/zero as --model (replay, watch) is refused at once instead of filling memory', async () => {
    const trace = join(dir, 'trace.txt');
    writeFileSync(trace, 'read\nwrite\nclose\n'.repeat(10));
    const [replay, watch] = await Promise.all([
      runCli(['replay', trace, '--model', '/dev/zero'], DEADLINE_MS),
      runCli(['watch', '--target', target, '--model', '/dev/zero', '--duration', '1'], DEADLINE_MS),
    ]);
    expectFailure(replay, 1, /cannot read model \/dev\/zero: it is a character device, not a regular file/);
    expectFailure(watch, 1, /cannot read model \/dev\/zero: it is a character device, not a regular file/);
  });

  it('a FIFO with no writer fails summary, replay, watch --model, train --from and eval within seconds', async () => {
    const model = join(dir, 'never.model');
    const runs = await Promise.all([
      runCli(['summary', fifo], DEADLINE_MS),
      runCli(['replay', fifo, '--model', fifo], DEADLINE_MS),
      runCli(['watch', '--target', target, '--model', fifo, '--duration', '1'], DEADLINE_MS),
      runCli(['train', '--from', fifo, '--model', model], DEADLINE_MS),
      runCli(['eval', '--normal', fifo, '--attack', fifo, '--detector', 'stide'], DEADLINE_MS),
    ]);
    expectFailure(runs[0]!, 1, /cannot read recording .*fifo: it is a FIFO \(named pipe\)/);
    expectFailure(runs[1]!, 1, /cannot read model .*fifo: it is a FIFO \(named pipe\)/);
    expectFailure(runs[2]!, 1, /cannot read model .*fifo: it is a FIFO \(named pipe\)/);
    expectFailure(runs[3]!, 1, /cannot read trace .*fifo: it is a FIFO \(named pipe\)/);
    expectFailure(runs[4]!, 1, /cannot read trace .*fifo: it is a FIFO \(named pipe\)/);
    for (const r of runs) expect(r.ms).toBeLessThan(DEADLINE_MS);
  });

  it('a FIFO given as a trace to replay is refused too (the model being fine)', async () => {
    const from = join(dir, 'normal.txt');
    writeFileSync(from, 'read\nwrite\nclose\nopenat\n'.repeat(30));
    const model = join(dir, 'ok.model');
    const t = await runCli(['train', '--from', from, '--model', model, '--window', '3'], DEADLINE_MS);
    expect(t.code, t.stderr).toBe(0);
    expectFailure(await runCli(['replay', fifo, '--model', model], DEADLINE_MS), 1, /cannot read trace .*fifo: it is a FIFO \(named pipe\)/);
  });
});

describe('no message quotes what a foreign file holds', () => {
  it('a link to a secret given as a recording, a model, a trace or a threat table names the file, never its text', async () => {
    const link = join(dir, 'innocent-looking');
    symlinkSync(secret, link);
    const trace = join(dir, 'plain.txt');
    writeFileSync(trace, 'read\nwrite\nclose\nopenat\n'.repeat(30));
    const runs = await Promise.all([
      runCli(['summary', link]),
      runCli(['replay', link, '--model', link]),
      runCli(['eval', '--normal', link, '--attack', link, '--format', 'recording']),
      runCli(['eval', '--normal', trace, '--attack', trace, '--detector', 'stide', '--window', '3', '--filter', 'harmless', '--threat-table', link]),
    ]);
    expectFailure(runs[0]!, 1, /innocent-looking is not a syswarden recording \(it does not start with the syswarden recording preamble 'SWREC'\)/);
    expectFailure(runs[1]!, 1, /innocent-looking is not a syswarden model file: it does not start with the syswarden model header/);
    expectFailure(runs[2]!, 1, /innocent-looking is not a syswarden recording/);
    expectFailure(runs[3]!, 1, /innocent-looking:1: header lacks a name or threat_level column/);
    for (const r of runs) {
      expect(r.code).toBe(1);
      for (const piece of ['root:', 's3cr3t', 'hashhash', '19000']) expect(r.stderr + r.stdout).not.toContain(piece);
    }
  });
});
