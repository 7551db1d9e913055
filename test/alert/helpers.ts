import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import type { Alert } from '../../src/alert/alert.js';

/** A small tmpfs of its own (root only), so a test can fill a disk for real. */
export function mountTmpfs(dir: string, size = '64k'): () => void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return () => {
    // Lazily: a failed test may leave a descriptor open on it, and the mount must go anyway.
    execFileSync('umount', ['--lazy', dir]);
    rmSync(dir, { recursive: true, force: true });
  };
}

/** Fill the file system of `path` to the last byte with a file there; returns its size. */
export function fill(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(4096, 0x2e);
  let n = 0;
  try {
    for (;;) n += writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  return n;
}

/** An alert record as the pipeline makes them; `n` tells them apart. */
export function sampleAlert(n: number): Alert {
  return {
    type: 'alert',
    time: new Date(1_700_000_000_000 + n).toISOString(),
    container: { slot: 0, cgroup: '/sw-test', spec: 'cgroup:/sw-test' },
    tid: 1000 + n,
    window: ['openat', 'read', 'write', 'close', 'execve', 'connect'],
    score: 1,
    threshold: 0.35,
    detector: 'stide',
    model: 'test.model',
    count: 1,
    eventTsNs: 0,
    incident: n,
  };
}

/** Every line of a JSON-lines text, parsed; throws on a line that is not whole JSON. */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error(`the file ends in half a line: ${JSON.stringify(text.slice(-80))}`);
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Append one JSON line of padding so that the last page of `file` keeps just
 * `left` bytes free: on a full tmpfs, the next longer write is then taken in part.
 */
export function leaveInPage(file: string, left: number): void {
  const page = 4096;
  const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  let len = page - (size % page) - left;
  const bare = `${JSON.stringify({ type: 'pad', pad: '' })}\n`.length;
  if (len < bare) len += page;
  appendFileSync(file, `${JSON.stringify({ type: 'pad', pad: 'x'.repeat(len - bare) })}\n`, { mode: 0o600 });
}
