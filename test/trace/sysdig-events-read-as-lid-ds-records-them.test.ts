import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { SyswardenError } from '../../src/errors.js';
import { readTrace } from '../../src/trace/read-trace.js';
import { runCli } from '../cli/helpers.js';
import { nrs } from './helpers.js';

// The LID-DS datasets (the anchors' own benchmark) hold sysdig text events,
// one line per entry (>) and return (<) of each call, in a 2021 and a 2019
// layout. The lines below are written in those layouts for this test.
const dir = mkdtempSync(join(tmpdir(), 'sw-sysdig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** The same events in either layout: [tid, event, dir, params]. */
const EVENTS: Array<[number, string, '>' | '<', string]> = [
  [100, 'openat', '>', 'dirfd=-100(AT_FDCWD) name=/var/www/index.php flags=1(O_RDONLY) mode=0'],
  [101, 'futex', '<', 'res=0'], // its entry was before the capture began: the return is its only record
  [100, 'openat', '<', 'fd=5(<f>/var/www/index.php)'],
  [100, 'switch', '>', 'next=0 pgft_maj=0'], // a context switch: no syscall
  [100, 'pread', '>', 'fd=5 size=4096 pos=0'], // sysdig's name for pread64
  [100, 'pread', '<', 'res=120 data=...'],
  [101, 'write', '>', 'fd=1 size=6'],
  [101, 'write', '<', 'res=6'],
  [101, 'procexit', '>', 'status=0'], // the thread ends ...
  [101, 'read', '>', 'fd=0 size=10'], // ... and its id, reused, is a new thread
  [100, 'close', '>', 'fd=5'],
  [100, 'close', '<', 'res=0'],
];

const layout2021 = (i: number, [tid, ev, d, params]: (typeof EVENTS)[number]) => `${1631209047761484608n + BigInt(i)} 33 ${tid} apache2 ${tid} ${ev} ${d} ${params}`;
const layout2019 = (i: number, [tid, ev, d, params]: (typeof EVENTS)[number]) => `${i + 1} 10:44:3${i % 10}.123456789 ${i % 2} 33 apache2 ${tid} ${d} ${ev} ${params}`;

it('reads both layouts alike: each call once at its entry, a lone return counted, no-syscall events skipped, procexit ends a thread', async () => {
  for (const [name, line] of [['2021.sc', layout2021], ['2019.sc', layout2019]] as const) {
    const t = await readTrace(file(name, EVENTS.map((e, i) => line(i, e))));
    expect(t.format, name).toBe('sysdig');
    expect(t.threads.map((s) => [s.pid, [...s.calls]]), name).toEqual([
      [100, nrs('openat', 'pread64', 'close')],
      [101, nrs('futex', 'write')],
      [101, nrs('read')],
    ]);
  }
});

it('an event no syscall table knows is an error naming the file and line; --lenient counts it', async () => {
  const path = file('odd.sc', [layout2021(0, [7, 'read', '>', 'fd=3']), layout2021(1, [7, 'frobnicate', '>', '']), layout2021(2, [7, 'write', '>', 'fd=1'])]);
  const err = await readTrace(path).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SyswardenError);
  expect((err as Error).message).toMatch(new RegExp(`odd\\.sc:2: unknown syscall 'frobnicate'.*--lenient`));
  const t = await readTrace(path, { lenient: true });
  expect(t.issues.unknownSyscall).toBe(1);
  expect([...t.threads[0]!.calls]).toEqual(nrs('read', 'write'));
});

it('train learns from LID-DS recordings as from any trace', async () => {
  // A worker thread per request, each a few calls: two recordings of the same service.
  const request = ['accept4', 'recvfrom', 'openat', 'fstat', 'read', 'close', 'sendto', 'close'];
  const recording = (name: string, requests: number) =>
    file(
      name,
      Array.from({ length: requests }, (_, r) => request.flatMap((ev, k) => [layout2021(r * 20 + k, [200, ev, '>', '']), layout2021(r * 20 + k, [200, ev, '<', 'res=0'])])).flat(),
    );
  const run = await runCli(['train', '--from', recording('a.sc', 300), recording('b.sc', 300), '--model', join(dir, 'lidds.model')], 60_000);
  expect(run.code, run.stderr).toBe(0);
  expect(run.stderr).toMatch(/learnt \d+ distinct windows of 6 from 4790 windows in 2 threads/);
});

it('2019 layout: times of day run on across midnight, carried over by lines that are no syscall as well', async () => {
  // A syscall just before midnight, a context switch after it, then a quiet spell until noon: the noon
  // call is on the next day. Seen from the syscalls alone, noon would look like the same day, earlier.
  const path = file('midnight-2019.txt', [
    '1 23:59:59.000000000 0 33 apache2 700 > read fd=0 size=10',
    '2 00:00:01.000000000 0 33 apache2 700 > switch next=0 pgft_maj=0',
    '3 12:00:02.000000000 0 33 apache2 700 > write fd=1 size=6',
  ]);
  const t = await readTrace(path, { format: 'sysdig', abi: 'x86_64', times: true });
  expect(t.threads).toHaveLength(1);
  const times = [...t.threads[0]!.times!];
  expect(times).toEqual([86_399e9, 86_400e9 + 43_202e9]);
});
