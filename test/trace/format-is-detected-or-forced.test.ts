import { describe, expect, it } from 'vitest';
import { detectFormat, readTrace } from '../../src/trace/read-trace.js';
import { fixture } from './helpers.js';

describe('trace format selection', () => {
  it('sniffs strace and plain lists', async () => {
    expect((await detectFormat(fixture('strace-threads.txt'))).name).toBe('strace');
    expect((await detectFormat(fixture('plain-oneline.txt'))).name).toBe('plain');
  });

  it('obeys an explicit format, failing on lines that do not fit it', async () => {
    await expect(readTrace(fixture('strace-plain.txt'), { format: 'plain' })).rejects.toThrow(/strace-plain\.txt:1: .*neither a syscall name nor a number/);
  });

  it('rejects an unknown format name with the list of formats', async () => {
    await expect(readTrace(fixture('plain-names.txt'), { format: 'pcap' })).rejects.toThrow(/unknown trace format 'pcap'.*strace, sysdig, plain/);
  });

  it('names a missing file', async () => {
    await expect(readTrace(fixture('nope.txt'))).rejects.toThrow(/cannot read trace .*nope\.txt: ENOENT/);
  });
});
