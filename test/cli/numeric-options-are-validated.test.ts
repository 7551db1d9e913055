import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_DURATION_SECONDS, parseDecimal, parseDuration, parseInteger, setLongTimeout, sleepFor } from '../../src/cli/args.js';
import { parse as parseBench } from '../../src/cli/bench.js';
import { parse as parseDemo } from '../../src/cli/demo.js';
import { parse as parseEval } from '../../src/cli/eval.js';
import { parse as parseRecord } from '../../src/cli/record.js';
import { parse as parseSoak } from '../../src/cli/soak.js';
import { parse as parseTrain } from '../../src/cli/train.js';
import { SyswardenError } from '../../src/errors.js';
import { expectFailure, runCli } from './helpers.js';

/** The usage error `fn` throws (code ERR_USAGE), for its message. */
function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SyswardenError);
    expect((e as SyswardenError).code).toBe('ERR_USAGE');
    return (e as SyswardenError).message;
  }
  throw new Error('expected a usage error');
}

const record = (...extra: string[]) => parseRecord(['--all', '--out', 'x.rec', ...extra]);

describe('numeric options are decimal, in a named range, and say so when they are not', () => {
  it('--ring is a power of two from 1 to 1024 MiB: 2048 and 4096 no longer overflow', () => {
    expect(record('--ring', '1')).toMatchObject({ ringBytes: 1 << 20 });
    expect(record('--ring', '1024')).toMatchObject({ ringBytes: 1 << 30 });
    for (const v of ['2048', '4096', '8192', '3', '0', '-8', '0x10', '1e3', '8.0', ' 8', '', 'Infinity']) {
      expect(usage(() => record('--ring', v))).toBe(`--ring must be a power of two from 1 to 1024 MiB (1, 2, 4, ..., 1024), got '${v}'.`);
    }
  });

  it('--cpus-per-ring is a whole number of CPUs, 0 for one shared ring', () => {
    expect(record('--cpus-per-ring', '0')).toMatchObject({ cpusPerRing: 0 });
    expect(record('--cpus-per-ring', '4')).toMatchObject({ cpusPerRing: 4 });
    expect(record()).toMatchObject({ cpusPerRing: undefined });
    for (const v of ['-1', '1.5', '4097', 'all', '']) {
      expect(usage(() => record('--cpus-per-ring', v))).toBe(`--cpus-per-ring must be a whole number from 0 to 4096, got '${v}'.`);
    }
  });

  it('a negative --duration names the range instead of parseArgs\' "argument is ambiguous"', () => {
    const msg = usage(() => record('--duration', '-5'));
    expect(msg).toBe(`--duration must be a positive number of seconds from 0.001 to ${MAX_DURATION_SECONDS} (366 days), got '-5'.`);
    expect(usage(() => record('-d', '-5'))).toMatch(/--duration must be .* got '-5'/);
    expect(usage(() => parseTrain(['--target', 'cgroup:x', '--model', 'm', '--duration', '-1.5']))).toMatch(/--duration must be .* got '-1\.5'/);
  });

  it('--duration takes plain decimals up to 366 days, and nothing a timer cannot keep', () => {
    expect(record('--duration', '1.5')).toMatchObject({ duration: 1.5 });
    expect(record('--duration', '.25')).toMatchObject({ duration: 0.25 });
    expect(record('--duration', String(MAX_DURATION_SECONDS))).toMatchObject({ duration: MAX_DURATION_SECONDS });
    for (const v of ['2147484', '3000000000', '1e3', '0x10', '0', '0.0001', 'soon', 'NaN', '+5', '5s', '']) {
      if (v === '2147484') continue; // within 366 days: allowed, and chained (see below)
      expect(usage(() => record('--duration', v))).toMatch(/^--duration must be a positive number of seconds from 0\.001 to 31622400 \(366 days\), got '/);
    }
    expect(usage(() => record('--duration', String(MAX_DURATION_SECONDS + 1)))).toMatch(/from 0\.001 to 31622400/);
    expect(record('--duration', '2147484')).toMatchObject({ duration: 2147484 });
  });

  it('the other numeric options of every command', () => {
    expect(usage(() => parseTrain(['--from', 'a', '--model', 'm', '--window', '1e1']))).toBe("--window must be a whole number from 2 to 64, got '1e1'.");
    expect(usage(() => parseTrain(['--from', 'a', '--model', 'm', '--window', '65']))).toMatch(/from 2 to 64, got '65'/);
    expect(usage(() => parseBench(['--runs', '0x5']))).toBe("--runs must be a whole number from 1 to 100, got '0x5'.");
    expect(usage(() => parseEval(['--seed', '-1']))).toBe("--seed must be a whole number from 0 to 4294967295, got '-1'.");
    expect(usage(() => parseEval(['--window', '3,1e1']))).toMatch(/--window must be a whole number from 3 to 15, got '1e1'/);
    expect(usage(() => parseSoak(['--minutes', '-2']))).toMatch(/--minutes must be a number of minutes from 0\.1 to 527040 \(366 days\), got '-2'/);
    expect(usage(() => parseDemo(['--learn', '0x14']))).toMatch(/--learn must be a positive number of seconds from 0\.001 to 86400 \(1 day\), got '0x14'/);
    expect(parseEval(['--seed', '42', '--window', '5,3'])).toMatchObject({ seed: 42, windows: [3, 5] });
    expect(usage(() => parseEval(['--sample', '1']))).toBe("--sample must be a whole number from 2 to 1000000000, got '1'.");
    expect(usage(() => parseEval(['--dataset', 'd', '--sample', '10']))).toMatch(/--sample does not apply to --dataset/);
    expect(parseEval(['--sample', '200'])).toMatchObject({ sample: 200 });
    expect(parseSoak(['--minutes', '0.5'])).toMatchObject({ minutes: 0.5 });
  });

  it('the false-alarm budget and the decision frame of train and eval', () => {
    const fromFiles = (...extra: string[]) => parseTrain(['--from', 'a', '--model', 'm', ...extra]);
    const live = (...extra: string[]) => parseTrain(['--target', 'cgroup:x', '--duration', '5', '--model', 'm', ...extra]);
    // From files the budget is a share of normal traces; live, false alarms per container-hour.
    expect(fromFiles('--false-alarms', '0.1', '--frame', '30', '--seed', '7')).toMatchObject({ falseAlarms: 0.1, frame: 30, seed: 7 });
    expect(usage(() => fromFiles('--false-alarms', '2'))).toBe("--false-alarms must be a number of normal traces that may alarm (a share) from 0.000001 to 0.5, got '2'.");
    expect(live('--false-alarms', '2')).toMatchObject({ falseAlarms: 2 });
    expect(usage(() => live('--false-alarms', '0'))).toMatch(/--false-alarms must be a number of false alarms per container-hour from 0\.000001 to 3600, got '0'/);
    expect(usage(() => fromFiles('--frame', '0'))).toMatch(/^--frame must be a whole number from 1 to \d+, got '0'\.$/);
    expect(usage(() => fromFiles('--frame', '1.5'))).toMatch(/--frame must be a whole number from 1 to \d+, got '1\.5'/);
    expect(usage(() => parseEval(['--false-alarms', '-0.1']))).toMatch(/--false-alarms must be a number of normal traces that may alarm \(a share\) from 0\.000001 to 0\.5, got '-0\.1'/);
    expect(usage(() => parseEval(['--frame', '0x10']))).toMatch(/--frame must be a whole number from 1 to \d+, got '0x10'/);
    expect(parseEval(['--false-alarms', '0.01', '--frame', '5'])).toMatchObject({ budget: 0.01, frame: 5 });
  });

  it('the shared parsers', () => {
    expect(parseInteger('n', undefined, { min: 1, max: 2 })).toBeUndefined();
    expect(parseInteger('n', '007', { min: 1, max: 10 })).toBe(7);
    expect(usage(() => parseInteger('n', '9'.repeat(400), { min: 1, max: 10 }))).toMatch(/from 1 to 10/);
    expect(parseDecimal('x', '2.50', { min: 0, max: 3, unit: 'seconds' })).toBe(2.5);
    expect(usage(() => parseDecimal('x', '2.5.1', { min: 0, max: 3, unit: 'seconds' }))).toBe("--x must be a number of seconds from 0 to 3, got '2.5.1'.");
    expect(parseDuration('d', '60', 60)).toBe(60);
    expect(usage(() => parseDuration('d', '61', 60))).toMatch(/from 0\.001 to 60/);
  });

  it('watch and replay (run as the CLI) reject a bad --workers or --duration with exit 2 before doing anything', async () => {
    const runs = await Promise.all([
      runCli(['watch', '--target', 'cgroup:x', '--model', 'm', '--workers', 'abc']),
      runCli(['watch', '--target', 'cgroup:x', '--model', 'm', '--duration', '-5']),
      runCli(['watch', '--target', 'cgroup:x', '--model', 'm', '--duration', '3000000000']),
      runCli(['replay', 'trace.txt', '--model', 'm', '--workers', '1e2']),
      runCli(['record', '--all', '--out', 'x.rec', '--ring', '2048']),
    ]);
    expectFailure(runs[0]!, 2, /--workers must be a whole number from 1 to 256, got 'abc'/);
    expectFailure(runs[1]!, 2, /--duration must be a positive number of seconds from 0\.001 to 31622400 \(366 days\), got '-5'/);
    expectFailure(runs[2]!, 2, /--duration must be .* got '3000000000'/);
    expectFailure(runs[3]!, 2, /--workers must be a whole number from 1 to 256, got '1e2'/);
    expectFailure(runs[4]!, 2, /--ring must be a power of two from 1 to 1024 MiB/);
  });
});

describe('long durations really last: timers are chained past 2^31-1 ms', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('setLongTimeout fires after 30 days, not after 1 ms as setTimeout would', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    const fn = vi.fn();
    const month = 30 * 86_400_000;
    setLongTimeout(fn, month);
    vi.advanceTimersByTime(1000);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(2 ** 31);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(month - 2 ** 31 - 1000 - 1);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(2);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('clear() cancels a chained timer, and sleepFor ends early on abort', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    const fn = vi.fn();
    const t = setLongTimeout(fn, 100 * 86_400_000);
    vi.advanceTimersByTime(50 * 86_400_000);
    t.clear();
    vi.advanceTimersByTime(60 * 86_400_000);
    expect(fn).not.toHaveBeenCalled();

    const ac = new AbortController();
    let slept = false;
    const p = sleepFor(366 * 86_400_000, ac.signal).then(() => (slept = true));
    vi.advanceTimersByTime(2 ** 31);
    await Promise.resolve();
    expect(slept).toBe(false);
    ac.abort();
    await p;
    expect(slept).toBe(true);
  });
});
