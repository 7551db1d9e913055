import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers.js';

/**
 * `eval --sample n` evaluates a seeded sample of the traces, drawn from the
 * file names before any file is read: a dataset too large to hold is cut
 * down without reading what is left out (here: files that could not be read
 * at all would fail the run if they were).
 */
const dir = mkdtempSync(join(tmpdir(), 'sw-eval-sample-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function trace(seed: number, attack: boolean): string {
  const calls: number[] = [];
  for (let i = 0; calls.length < 400; i++) calls.push(...(attack && i % 7 === 3 ? [59, 57, 33] : [0, 1, 2 + ((i * seed) % 3), 3]));
  return calls.join(' ') + '\n';
}

describe('eval --sample', () => {
  it('reads only the sampled traces, spread over the attack kinds, and says what it sampled', async () => {
    const normal = join(dir, 'normal');
    mkdirSync(normal);
    for (let i = 0; i < 30; i++) writeFileSync(join(normal, `n${String(i).padStart(2, '0')}`), trace(i + 1, false));
    for (const kind of ['alpha', 'beta']) {
      mkdirSync(join(dir, kind));
      for (let i = 0; i < 10; i++) writeFileSync(join(dir, kind, `${kind}${i}`), trace(i + 1, true));
    }
    const args = (n: number) => ['eval', '--normal', normal, '--attack', join(dir, 'alpha'), '--attack', join(dir, 'beta'), '--format', 'plain',
      '--detector', 'stide', '--window', '3', '--sample', String(n)];
    const ok = await runCli(args(6), 120_000);
    expect(ok.stderr).not.toMatch(/\n\s+at /);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('normal: 6 traces, attack: 6 traces');
    expect(ok.stdout).toContain('Sample (seed 1): 6 of 30 normal traces and 6 of 20 attack traces.');
    expect(ok.stdout).toMatch(/per kind, train\/test: alpha \d+\/\d+, beta \d+\/\d+/);

    // Garbage in every file the sample leaves out: a run that read them would fail on the first.
    const { sampleTraces } = await import('../../src/detect/split.js');
    const names = [...Array.from({ length: 30 }, (_, i) => join(normal, `n${String(i).padStart(2, '0')}`)),
      ...['alpha', 'beta'].flatMap((k) => Array.from({ length: 10 }, (_, i) => join(dir, k, `${k}${i}`)))];
    const tags = names.map((_, i) => (i < 30 ? { label: 0 as const, kind: 'normal' } : { label: 1 as const, kind: i < 40 ? 'alpha' : 'beta' }));
    const keep = new Set(sampleTraces(tags, 6, 1).keep);
    names.forEach((name, i) => {
      if (!keep.has(i)) writeFileSync(name, 'not a trace\n');
    });
    const again = await runCli(args(6), 120_000);
    expect(again.stderr).toBe(ok.stderr);
    expect(again.code).toBe(0);
    // The same report, but for the timing columns (fit ms, score ms).
    const untimed = (out: string) => out.split('\n').map((l) => (l.startsWith('stide ') ? l.trim().split(/\s+/).slice(0, -2).join(' ') : l));
    expect(untimed(again.stdout)).toEqual(untimed(ok.stdout));
    // Without the sample, the same files are refused by name.
    const all = await runCli(args(1_000_000), 120_000);
    expect(all.code).toBe(1);
    expect(all.stderr).toMatch(/: unknown syscall 'not'. Fix: /);
  });
});
