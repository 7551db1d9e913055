import { readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertWriter } from '../../src/alert/sink.js';
import { waitFor } from '../capture/helpers.js';
import { fill, jsonLines, leaveInPage, mountTmpfs, sampleAlert } from './helpers.js';

const disk = join(tmpdir(), `sw-fulldisk-${process.pid}`);
let unmount: () => void;
beforeAll(() => {
  unmount = mountTmpfs(disk);
});
afterAll(() => unmount());

/** Messages the writer reports, kept instead of printed. */
function reporter(): { report: (m: string) => void; messages: string[] } {
  const messages: string[] = [];
  return { report: (m) => messages.push(m), messages };
}

describe('the alert writer on a full disk', () => {
  it('never throws on ENOSPC: it keeps what fits in memory, counts the rest as lost, and says so once', () => {
    const { report, messages } = reporter();
    const w = new AlertWriter('/dev/full', { report, maxBuffered: 3 });
    for (let i = 0; i < 5; i++) expect(() => w.write(sampleAlert(i))).not.toThrow();
    expect(w.stats()).toMatchObject({ written: 0, buffered: 3, lost: 2 });
    expect(w.stats().writeErrors).toBeGreaterThanOrEqual(1);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/cannot write alerts to \/dev\/full: ENOSPC.*Detection goes on.*Fix: free space/);
    w.close();
    // What never got out is lost too, and reported.
    expect(w.stats()).toMatchObject({ written: 0, buffered: 0, lost: 5 });
    expect(messages[1]).toMatch(/3 alert record\(s\) could not be written to \/dev\/full \(ENOSPC\) and are lost; 5 lost in all/);
  });

  it('finishes a line the disk took only in part, and writes everything once there is room again', async () => {
    const file = join(disk, 'alerts.jsonl');
    // The file's page keeps 100 bytes free, so the next record is written in part.
    leaveInPage(file, 100);
    const filler = join(disk, 'filler');
    fill(filler);
    const { report, messages } = reporter();
    const w = new AlertWriter(file, { report, retryMs: 20 });
    for (let i = 0; i < 4; i++) w.write(sampleAlert(i));
    expect(w.stats()).toMatchObject({ written: 0, buffered: 4, lost: 0 });
    // The kernel took the head of the first record: the file ends in half a line for now.
    expect(readFileSync(file, 'utf8').endsWith('\n')).toBe(false);
    expect(messages).toEqual([expect.stringMatching(/ENOSPC/)]);

    unlinkSync(filler);
    // The retry timer writes the rest without another record to push it.
    await waitFor(() => w.stats().buffered === 0, 'the buffered records to be written', 30_000);
    expect(w.stats()).toMatchObject({ written: 4, lost: 0 });
    expect(messages[1]).toMatch(/writing alerts to .*alerts\.jsonl works again; nothing was lost/);
    const lines = jsonLines(readFileSync(file, 'utf8'));
    expect(lines.map((l) => l.type)).toEqual(['pad', 'alert', 'alert', 'alert', 'alert']);
    expect(lines.slice(1).map((l) => l.incident)).toEqual([0, 1, 2, 3]);
    w.close();
    unlinkSync(file);
  });

  it('marks where records were lost with an alerts-lost record, and cuts a half line it cannot finish at close', async () => {
    const file = join(disk, 'lossy.jsonl');
    const filler = join(disk, 'filler');
    fill(filler);
    const { report, messages } = reporter();
    const w = new AlertWriter(file, { report, retryMs: 20, maxBuffered: 2 });
    for (let i = 0; i < 5; i++) w.write(sampleAlert(i));
    expect(w.stats()).toMatchObject({ buffered: 2, lost: 3 });
    unlinkSync(filler);
    await waitFor(() => w.stats().buffered === 0, 'the buffered records to be written', 30_000);
    w.write(sampleAlert(5));
    expect(messages[1]).toMatch(/works again; 3 record\(s\) were lost while it failed/);
    const lines = jsonLines(readFileSync(file, 'utf8'));
    expect(lines.map((l) => l.type)).toEqual(['alert', 'alert', 'alerts-lost', 'alert']);
    expect(lines[2]).toMatchObject({ count: 3, total: 3, reason: expect.stringMatching(/ENOSPC/) });
    expect(lines[3]!.incident).toBe(5);

    // Full again, with a record half written when the command ends: the file keeps whole lines only.
    leaveInPage(file, 100);
    fill(filler);
    w.write(sampleAlert(6));
    expect(readFileSync(file, 'utf8').endsWith('\n')).toBe(false);
    w.close();
    expect(w.stats().lost).toBe(4);
    expect(jsonLines(readFileSync(file, 'utf8')).map((l) => l.type)).toEqual(['alert', 'alert', 'alerts-lost', 'alert', 'pad']);
    unlinkSync(filler);
    unlinkSync(file);
  });
});
