import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, expect, it } from 'vitest';
import { readTrace } from '../../src/trace/read-trace.js';
import { expandPaths } from '../../src/trace/paths.js';
import { runCli } from '../cli/helpers.js';

// LID-DS 2021 ships each recording as a zip of its sysdig events (<name>.sc),
// metadata (.json), resource (.res) and packet (.pcap) files. Traces are read
// out of such archives in place. The archives here are made by Info-ZIP's
// zip (another implementation than the reader's), and one Zip64 archive by
// hand, checked with Info-ZIP's unzip first.
const dir = mkdtempSync(join(tmpdir(), 'sw-zip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const zip = (args: string[], cwd = dir) => execFileSync('zip', ['-q', ...args], { cwd, stdio: ['pipe', 'ignore', 'pipe'] });

/** A recording's events: threads 700 and 701 taking turns, a call a millisecond, sysdig 2021 lines (entry and return). */
function events(calls: number): string {
  const names = ['openat', 'read', 'fstat', 'close', 'poll', 'recvfrom', 'sendto', 'write', 'mmap', 'futex'];
  const lines: string[] = [];
  for (let i = 0; i < calls; i++) {
    const ts = 1_631_209_047_000_000_000n + BigInt(i) * 1_000_000n;
    const tid = 700 + (i % 2);
    const c = names[(i * 7) % names.length]!;
    lines.push(`${ts} 33 ${tid} apache2 ${tid} ${c} > fd=3`, `${ts + 1000n} 33 ${tid} apache2 ${tid} ${c} < res=0`);
  }
  return lines.join('\n') + '\n';
}

/** A recording as LID-DS zips it: <name>.sc beside its companions, in <name>.zip. */
function lidds(name: string, calls: number): { sc: string; archive: string } {
  const stage = join(dir, `${name}-stage`);
  mkdirSync(stage, { recursive: true });
  writeFileSync(join(stage, `${name}.sc`), events(calls));
  writeFileSync(join(stage, `${name}.json`), JSON.stringify({ exploit: false, recording_time: 30 }));
  writeFileSync(join(stage, `${name}.res`), 'timestamp,cpu_usage,memory_usage\n1,2,3\n');
  writeFileSync(join(stage, `${name}.pcap`), Buffer.from([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]));
  const archive = join(dir, `${name}.zip`);
  zip(['-j', archive, `${name}.json`, `${name}.sc`, `${name}.res`, `${name}.pcap`], stage);
  return { sc: join(stage, `${name}.sc`), archive };
}

/** What a trace reads as: its threads' calls, and what was skipped. */
async function read(path: string) {
  const t = await readTrace(path, { times: true });
  return { format: t.format, threads: t.threads.map((th) => ({ calls: [...th.calls], times: [...th.times!] })), issues: t.issues.malformed + t.issues.unknownSyscall };
}

it('reads the trace of an LID-DS recording zipped with its companions as the unzipped .sc file reads', async () => {
  const { sc, archive } = lidds('gentle_turing_4711', 40_000);
  const zipped = await read(archive);
  expect(zipped.format).toBe('sysdig');
  expect(zipped.threads).toHaveLength(2);
  expect(zipped.threads[0]!.calls).toHaveLength(20_000);
  expect(zipped).toEqual(await read(sc));
  // A directory of such archives lists each archive as a trace.
  expect(expandPaths([dir]).filter((p) => p.endsWith('.zip'))).toEqual([archive]);
  // Unzipped in place (unzip -j -o '*.zip' '*.sc' '*.json'), a recording is its .sc, once: not also its archive.
  const inPlace = join(dir, 'in-place');
  mkdirSync(inPlace);
  copyFileSync(archive, join(inPlace, 'gentle_turing_4711.zip'));
  execFileSync('unzip', ['-q', '-j', '-o', 'gentle_turing_4711.zip', '*.sc', '*.json'], { cwd: inPlace });
  expect(expandPaths([inPlace])).toEqual([join(inPlace, 'gentle_turing_4711.sc')]);
  // Only its side files unzipped beside it (unzip '*.res' '*.pcap' '*.json'): the recording is its archive, once.
  const sides = join(dir, 'sides');
  mkdirSync(sides);
  copyFileSync(archive, join(sides, 'gentle_turing_4711.zip'));
  execFileSync('unzip', ['-q', '-j', '-o', 'gentle_turing_4711.zip', '*.res', '*.pcap', '*.json'], { cwd: sides });
  expect(expandPaths([sides])).toEqual([join(sides, 'gentle_turing_4711.zip')]);
});

it('reads a member streamed into its archive (sizes after the data, Zip64), and a stored one', async () => {
  const { sc } = lidds('streamed', 5000);
  // From a pipe, Info-ZIP writes a data descriptor after the member, with Zip64 sizes; the member is then named '-'.
  const streamed = join(dir, 'streamed-pipe.zip');
  execFileSync('sh', ['-c', `zip -q '${streamed}' - < '${sc}'`]);
  execFileSync('sh', ['-c', `printf '@ -\\n@=streamed.sc\\n' | zipnote -w '${streamed}'`]);
  expect(await read(streamed)).toEqual(await read(sc));
  const stored = join(dir, 'stored.zip');
  zip(['-0', '-j', stored, sc]);
  expect(await read(stored)).toEqual(await read(sc));
  // Zipped on a Mac: a resource fork under __MACOSX/ and a .DS_Store beside the trace are no traces.
  const mac = join(dir, 'mac');
  mkdirSync(join(mac, '__MACOSX'), { recursive: true });
  copyFileSync(sc, join(mac, 'streamed.sc'));
  writeFileSync(join(mac, '__MACOSX', '._streamed.sc'), Buffer.from([0, 5, 22, 7, 0, 2, 0, 0]));
  writeFileSync(join(mac, '.DS_Store'), Buffer.from([0, 0, 0, 1, 66, 117, 100, 49]));
  zip(['-r', join(dir, 'mac.zip'), 'streamed.sc', '__MACOSX', '.DS_Store'], mac);
  expect(await read(join(dir, 'mac.zip'))).toEqual(await read(sc));
});

/** A Zip64 archive of one stored member, built by hand: its sizes and offset only in the Zip64 fields, with a Zip64 end record. */
function zip64(name: string, data: Buffer): Buffer {
  const nameBytes = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(45, 4);
  local.writeUInt32LE(crc32(data), 14);
  local.writeUInt32LE(0xffffffff, 18);
  local.writeUInt32LE(0xffffffff, 22);
  local.writeUInt16LE(nameBytes.length, 26);
  local.writeUInt16LE(20, 28);
  const localExtra = Buffer.alloc(20);
  localExtra.writeUInt16LE(1, 0);
  localExtra.writeUInt16LE(16, 2);
  localExtra.writeBigUInt64LE(BigInt(data.length), 4);
  localExtra.writeBigUInt64LE(BigInt(data.length), 12);
  const body = Buffer.concat([local, nameBytes, localExtra, data]);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(45, 4);
  central.writeUInt16LE(45, 6);
  central.writeUInt32LE(crc32(data), 16);
  central.writeUInt32LE(0xffffffff, 20);
  central.writeUInt32LE(0xffffffff, 24);
  central.writeUInt16LE(nameBytes.length, 28);
  central.writeUInt16LE(28, 30);
  central.writeUInt32LE(0xffffffff, 42);
  const centralExtra = Buffer.alloc(28);
  centralExtra.writeUInt16LE(1, 0);
  centralExtra.writeUInt16LE(24, 2);
  centralExtra.writeBigUInt64LE(BigInt(data.length), 4);
  centralExtra.writeBigUInt64LE(BigInt(data.length), 12);
  centralExtra.writeBigUInt64LE(0n, 20);
  const dirBytes = Buffer.concat([central, nameBytes, centralExtra]);
  const end64 = Buffer.alloc(56);
  end64.writeUInt32LE(0x06064b50, 0);
  end64.writeBigUInt64LE(44n, 4);
  end64.writeUInt16LE(45, 12);
  end64.writeUInt16LE(45, 14);
  end64.writeBigUInt64LE(1n, 24);
  end64.writeBigUInt64LE(1n, 32);
  end64.writeBigUInt64LE(BigInt(dirBytes.length), 40);
  end64.writeBigUInt64LE(BigInt(body.length), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(body.length + dirBytes.length), 8);
  locator.writeUInt32LE(1, 16);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0xffff, 8);
  end.writeUInt16LE(0xffff, 10);
  end.writeUInt32LE(0xffffffff, 12);
  end.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([body, dirBytes, end64, locator, end]);
}

it('reads a Zip64 archive whose sizes and offsets are only in its Zip64 fields', async () => {
  const { sc } = lidds('wide', 3000);
  const archive = join(dir, 'wide64.zip');
  writeFileSync(archive, zip64('wide.sc', readFileSync(sc)));
  // Info-ZIP agrees that the archive is sound.
  expect(execFileSync('unzip', ['-t', archive], { encoding: 'utf8' })).toMatch(/No errors detected/);
  expect(await read(archive)).toEqual(await read(sc));
});

/** The one-line error of reading `path` through the CLI, which must fail without a stack trace. */
async function refusal(path: string): Promise<string> {
  const run = await runCli(['summary', path], 60_000);
  expect(run.code, run.stdout).not.toBe(0);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  return run.stderr;
}

it('refuses a truncated, corrupt, encrypted, ambiguous or traceless archive by name, with the fix', async () => {
  const { sc, archive } = lidds('victim', 20_000);
  const whole = readFileSync(archive);

  // Cut short, as an interrupted download leaves it: no end record.
  const cut = join(dir, 'cut.zip');
  writeFileSync(cut, whole.subarray(0, whole.length - 200));
  expect(await refusal(cut)).toMatch(/zip archive \S*cut\.zip cannot be read: it has no end-of-central-directory record .*Fix: download or copy the archive again/);

  // One byte of the events changed: the inflated bytes fail their check (or do not inflate), never a shorter trace.
  const flipped = Buffer.from(whole);
  const at = flipped.indexOf(Buffer.from('victim.sc')) + 200;
  flipped[at] = flipped[at]! ^ 0xff;
  const bad = join(dir, 'flipped.zip');
  writeFileSync(bad, flipped);
  await expect(readTrace(bad)).rejects.toMatchObject({ code: 'ERR_ZIP', message: expect.stringMatching(/flipped\.zip cannot be read: member victim\.sc\b.*Fix:/) });
  expect(await refusal(bad)).toMatch(/member victim\.sc/);
  // Stored, the changed byte reads on: the CRC-32 finds it at the end.
  const stored = join(dir, 'stored-victim.zip');
  zip(['-0', '-j', stored, sc]);
  const changed = readFileSync(stored);
  changed[changed.indexOf(Buffer.from('victim.sc')) + 5000] ^= 0x01;
  writeFileSync(stored, changed);
  await expect(readTrace(stored)).rejects.toMatchObject({ code: 'ERR_ZIP', message: expect.stringMatching(/stored-victim\.zip cannot be read: member victim\.sc fails its CRC-32 check\. Fix:/) });

  // Encrypted.
  const locked = join(dir, 'locked.zip');
  zip(['-j', '-P', 'secret', locked, sc]);
  expect(await refusal(locked)).toMatch(/locked\.zip:victim\.sc is encrypted\. Fix: unzip it with its password/);

  // Two traces in one archive: which is meant is not guessed.
  const two = join(dir, 'two.zip');
  copyFileSync(sc, join(dir, 'other.sc'));
  zip(['-j', two, sc, join(dir, 'other.sc')]);
  expect(await refusal(two)).toMatch(/two\.zip holds 2 files that could each be the trace \(victim\.sc, other\.sc\).*Fix: unzip it/);

  // A member that is no trace: named inside its archive, with the formats an archive can hold.
  const notes = join(dir, 'notes.zip');
  writeFileSync(join(dir, 'notes.txt'), 'dear diary,\nno syscalls here\n');
  zip(['-j', notes, join(dir, 'notes.txt')]);
  expect(await refusal(notes)).toMatch(/cannot tell the format of \S*notes\.zip:notes\.txt: .*Fix: pass --format strace\|sysdig\|plain\.\n/);

  // Only a recording's companions.
  const bare = join(dir, 'bare.zip');
  zip(['-j', bare, join(dir, 'victim-stage', 'victim.json'), join(dir, 'victim-stage', 'victim.res')]);
  expect(await refusal(bare)).toMatch(/bare\.zip holds no trace \(only metadata, resource or packet files\)\. Fix:/);
});
