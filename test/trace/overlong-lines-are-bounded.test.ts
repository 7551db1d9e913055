import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LINE_BYTES, readTrace } from '../../src/trace/read-trace.js';
import { nrs } from './helpers.js';

let dir: string;
let file: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-long-'));
  file = join(dir, 'long.trace');
  // A valid line, one line of 3 MiB (as a hostile trace would carry), a valid line, and a last line without newline.
  const huge = 'read(' + 'A'.repeat(3 * MAX_LINE_BYTES) + ') = 0';
  writeFileSync(file, `read(3, "x", 1) = 1\n${huge}\nclose(3) = 0\r\nwrite(1, "y", 1) = 1`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('an overlong line', () => {
  it('fails by default, naming file and line, without holding the line', async () => {
    await expect(readTrace(file, { format: 'strace' })).rejects.toThrow(/long\.trace:2: the line is longer than 1048576 bytes/);
  });

  it('is skipped and counted when lenient; the lines around it still read, CRLF and a last line without newline too', async () => {
    const t = await readTrace(file, { format: 'strace', lenient: true });
    expect(t.issues.malformed).toBe(1);
    expect([...t.threads[0]!.calls]).toEqual(nrs('read', 'close', 'write'));
  });
});
