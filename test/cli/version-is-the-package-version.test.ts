import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot, runCli } from './helpers.js';

describe('syswarden --version', () => {
  it('--version and -V print the version in package.json and the build\'s identifiers, and exit 0', async () => {
    const { version } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    const [long, short] = await Promise.all([runCli(['--version']), runCli(['-V'])]);
    for (const r of [long, short]) {
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe(`syswarden ${version}`);
      // What identifies the build, the same identifiers 'model info' prints from a model.
      expect(lines.slice(1).map((l) => l.split(':')[0])).toEqual(['commit', 'bpf object', 'syscall table', 'model format']);
      expect(lines[3]).toMatch(/^syscall table: sha256:[0-9a-f]{12}$/);
      expect(r.stderr).toBe('');
    }
  });
});
