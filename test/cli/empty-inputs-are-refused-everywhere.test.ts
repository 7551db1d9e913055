import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingWriter } from '../../src/capture/recording.js';
import { expectFailure, runCli } from './helpers.js';

let dir: string;
let empty: string;
let model: string;
let normal: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-empty-'));
  empty = join(dir, 'empty.swrec');
  writeFileSync(empty, '');
  normal = join(dir, 'normal.txt');
  writeFileSync(normal, 'read\nwrite\nclose\nopenat\nfstat\n'.repeat(40));
  model = join(dir, 'm.model');
  const t = await runCli(['train', '--from', normal, '--model', model, '--window', '3']);
  expect(t.code, t.stderr).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('an empty input is the same clear error in every command', () => {
  it('a zero-length file: summary, replay, eval and train --from all exit 1 naming it empty, without a stack trace', async () => {
    const runs = await Promise.all([
      runCli(['summary', empty]),
      runCli(['replay', empty, '--model', model]),
      runCli(['eval', '--normal', normal, '--attack', empty, '--window', '3', '--detector', 'stide']),
      runCli(['eval', '--normal', empty, '--attack', normal, '--window', '3', '--detector', 'stide']),
      runCli(['train', '--from', empty, '--model', join(dir, 'never.model')]),
    ]);
    expectFailure(runs[0]!, 1, /empty\.swrec is empty \(0 bytes\), not a syswarden recording/);
    for (const r of runs.slice(1)) expectFailure(r, 1, /empty\.swrec is empty \(0 bytes\)/);
  });

  it('a recording or trace that holds no syscall fails eval with a clear message instead of a TypeError', async () => {
    const none = join(dir, 'none.swrec');
    RecordingWriter.create(none, { targets: [], allProcesses: true }).finish({
      attach: 'tp_btf',
      kernel: { matched: 0, emitted: 0, dropped: 0 },
      user: { batches: 0, events: 0, droppedBatches: 0, droppedEvents: 0 },
    });
    const comments = join(dir, 'comments.txt');
    writeFileSync(comments, '# nothing was traced\n');
    const runs = await Promise.all([
      runCli(['eval', '--normal', normal, '--attack', none, '--window', '3', '--detector', 'stide,rf']),
      runCli(['eval', '--normal', normal, '--attack', comments, '--window', '3', '--detector', 'stide,rf', '--split', 'shuffled']),
    ]);
    expectFailure(runs[0]!, 1, /none\.swrec holds no syscalls/);
    expectFailure(runs[1]!, 1, /comments\.txt holds no syscalls/);
    // A recording of an idle target is still a recording: summary shows it.
    const s = await runCli(['summary', none]);
    expect(s.code, s.stderr).toBe(0);
  });
});
