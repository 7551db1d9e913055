import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot, runCli } from './helpers.js';

describe('syswarden --version', () => {
  it('--version and -V print the version in package.json and exit 0', async () => {
    const { version } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    const [long, short] = await Promise.all([runCli(['--version']), runCli(['-V'])]);
    for (const r of [long, short]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(`syswarden ${version}`);
      expect(r.stderr).toBe('');
    }
  });
});
