import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { SyswardenError } from '../../src/errors.js';

export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = join(projectRoot, 'dist', 'cli', 'main.js');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time until the process exited (or was killed at the deadline). */
  ms: number;
  /** The process did not exit by the deadline and was killed. */
  timedOut: boolean;
}

/**
 * Run the built CLI and wait for it to exit, but never longer than
 * `deadlineMs`: a process still running then is killed and reported as timed
 * out, so a hang fails the test instead of stalling the suite.
 */
export function runCli(args: string[], deadlineMs = 30_000, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, deadlineMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0, timedOut });
    });
  });
}

/** A Node stack frame in the output: what a user must never see for an expected failure. */
export const STACK_FRAME = /\n\s+at /;

/** Exited by itself with `code`, a message matching `message` on stderr, and no stack trace. */
export function expectFailure(r: Run, code: 1 | 2, message: RegExp): void {
  const what = `exit ${r.code}${r.timedOut ? ' (killed at the deadline)' : ''}:\n${r.stderr}`;
  expect(r.timedOut, what).toBe(false);
  expect(r.code, what).toBe(code);
  expect(r.stderr, what).toMatch(message);
  expect(r.stderr, what).not.toMatch(STACK_FRAME);
}

/** `fn` returns, or throws a SyswardenError with a message: never another error. */
export function returnsOrRefuses(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof SyswardenError)) throw e;
    expect(e.message.length).toBeGreaterThan(0);
  }
}
