import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../capture/helpers.js';
import { startCli } from '../pipeline/cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'sw-eval-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixtures = join(projectRoot, 'test', 'fixtures');

const lines = (path: string): string[] => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0) : []);

describe('eval --json', () => {
  it('writes each record as it is done, so a killed run keeps the whole records it finished', async () => {
    const out = join(dir, 'report.jsonl');
    const windows = '3,4,5,6,7,8,9,10,11,12,13,14,15';
    const cli = startCli(['eval', '--normal', join(fixtures, 'strace-plain.txt'), '--attack', join(fixtures, 'strace-ttt.txt'),
      '--split', 'ordered', '--detector', 'markov,stide,bosc,ngram,mlp', '--window', windows, '--json', out]);
    // Progress lines come before each combination: the file is looked at as they come.
    await cli.waitFor(() => lines(out).length >= 2, 'two records in the report', 120_000);
    cli.child.kill('SIGKILL');
    await cli.exit(30_000);
    const kept = lines(out);
    const total = 13 * 5;
    expect(kept.length).toBeGreaterThanOrEqual(2);
    expect(kept.length).toBeLessThan(total);
    // Every line is a whole record (written and synced before it counted).
    for (const l of kept) {
      const r = JSON.parse(l) as Record<string, unknown>;
      expect(typeof r['detector']).toBe('string');
      expect(typeof r['window']).toBe('number');
    }
    expect(readFileSync(out, 'utf8').endsWith('\n')).toBe(true);
  });
});
