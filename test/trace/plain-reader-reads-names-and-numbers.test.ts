import { describe, expect, it } from 'vitest';
import { readTrace } from '../../src/trace/read-trace.js';
import { fixture, nrs } from './helpers.js';

describe('plain list reader', () => {
  it('reads one name per line, skipping comments and blank lines', async () => {
    const t = await readTrace(fixture('plain-names.txt'));
    expect(t.format).toBe('plain');
    expect([...t.threads[0]!.calls]).toEqual(nrs('read', 'write', 'close', 'SIGCHLD'));
  });

  it('reads whitespace-separated names and numbers on one line', async () => {
    const t = await readTrace(fixture('plain-oneline.txt'));
    expect([...t.threads[0]!.calls]).toEqual(nrs('read', 'write', 'close', 'read', 'SIGPIPE'));
  });
});
