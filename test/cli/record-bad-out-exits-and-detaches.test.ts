import { mkdirSync, mkdtempSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroup2Mount } from '../../src/capture/cgroup.js';
import { Collector } from '../../src/capture/collector.js';
import { recordToFile } from '../../src/capture/record-session.js';
import { SyswardenError } from '../../src/errors.js';
import { loadedSyswardenPrograms } from '../capture/helpers.js';
import { expectFailure, runCli } from './helpers.js';

/**
 * The syswarden programs loaded since `before` that are still loaded once
 * `deadlineMs` has passed. The kernel frees a program an RCU grace period
 * after its last descriptor closes, so it may stay listed a moment.
 */
async function leftSince(before: number[], deadlineMs = 10_000): Promise<number[]> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const left = (await loadedSyswardenPrograms()).filter((id) => !before.includes(id));
    if (left.length === 0 || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const cgroupName = `sw-badout-${process.pid}`;
let dir: string;

beforeAll(() => {
  mkdirSync(join(cgroup2Mount(), cgroupName));
  dir = mkdtempSync(join(tmpdir(), 'sw-badout-'));
});
afterAll(() => {
  rmdirSync(join(cgroup2Mount(), cgroupName));
  rmSync(dir, { recursive: true, force: true });
});

describe('record with a bad --out exits at once and leaves nothing attached', () => {
  it('a missing directory, an existing file and a symlink: exit 1 in seconds, no stack trace, no program left', async () => {
    const existing = join(dir, 'existing.swrec');
    writeFileSync(existing, 'keep');
    const link = join(dir, 'link.swrec');
    symlinkSync(join(dir, 'elsewhere'), link);
    const before = await loadedSyswardenPrograms();
    const target = `cgroup:${cgroupName}`;
    // Generous deadline for a loaded machine; the old code never exited at all.
    const runs = await Promise.all([
      runCli(['record', '--target', target, '--out', '/nonexistent/x.swrec', '--duration', '1'], 30_000),
      runCli(['record', '--target', target, '--out', existing, '--duration', '1'], 30_000),
      runCli(['record', '--target', target, '--out', link, '--force', '--duration', '1'], 30_000),
    ]);
    expectFailure(runs[0]!, 1, /cannot write recording \/nonexistent\/x\.swrec: the directory \/nonexistent does not exist/);
    expectFailure(runs[1]!, 1, /existing\.swrec already exists.*--force/);
    expectFailure(runs[2]!, 1, /link\.swrec: it is a symbolic link/);
    expect(await leftSince(before)).toEqual([]);
  });

  it('recordToFile closes the collector (detaching the program) when the recording cannot be created', async () => {
    const before = await loadedSyswardenPrograms();
    const collector = await Collector.open({ targets: [`cgroup:${cgroupName}`] });
    let err: unknown;
    try {
      await recordToFile(collector, join(dir, 'no', 'such', 'dir.swrec'));
    } catch (e) {
      err = e;
    } finally {
      // Only for the old code, so a failure does not leak a program into later tests.
      const wasClosed = collector.closed;
      await collector.close();
      expect(wasClosed).toBe(true);
    }
    expect(err).toBeInstanceOf(SyswardenError);
    expect((err as Error).message).toMatch(/the directory .*no\/such does not exist/);
    expect(await leftSince(before)).toEqual([]);
  });
});
