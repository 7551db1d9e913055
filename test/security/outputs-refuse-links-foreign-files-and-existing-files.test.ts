import { execFileSync } from 'node:child_process';
import { chownSync, closeSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SyswardenError } from '../../src/errors.js';
import { checkOutputPath, openOutputFd, writeFileSafely } from '../../src/io/safe-file.js';
import { expectFailure, runCli } from '../cli/helpers.js';

let dir: string;
let victim: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-out-'));
  victim = join(dir, 'victim');
  writeFileSync(victim, 'precious', { mode: 0o644 });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const mode = (p: string): number => statSync(p).mode & 0o777;
const isRoot = process.geteuid?.() === 0;

/** The SyswardenError `fn` throws. */
function refusal(fn: () => unknown): SyswardenError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SyswardenError);
    return e as SyswardenError;
  }
  throw new Error('expected a refusal');
}

async function refusalOf(p: Promise<unknown>): Promise<SyswardenError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(SyswardenError);
    return e as SyswardenError;
  }
  throw new Error('expected a refusal');
}

/** A plain list of syscalls long enough to learn and test on. */
function trace(name: string, calls: string[], repeat: number): string {
  const p = join(dir, name);
  writeFileSync(p, Array.from({ length: repeat }, () => calls.join('\n')).join('\n') + '\n');
  return p;
}

describe('openOutputFd and checkOutputPath: the one way an output is opened', () => {
  it('creates a new file 0600 and refuses an existing one without force, naming --force', () => {
    const p = join(dir, 'new.out');
    closeSync(openOutputFd(p, { what: 'report' }));
    expect(mode(p)).toBe(0o600);
    const e = refusal(() => openOutputFd(p, { what: 'report' }));
    expect(e.code).toBe('ERR_EXISTS');
    expect(e.message).toMatch(/report .*new\.out already exists.*pass --force to replace it/);
    expect(refusal(() => checkOutputPath(p, { what: 'report' })).code).toBe('ERR_EXISTS');
  });

  it('with force, truncates an existing file of its own and narrows it to 0600', () => {
    const p = join(dir, 'old.out');
    writeFileSync(p, 'old contents', { mode: 0o644 });
    const fd = openOutputFd(p, { what: 'report', force: true });
    writeSync(fd, 'new');
    closeSync(fd);
    expect(readFileSync(p, 'utf8')).toBe('new');
    expect(mode(p)).toBe(0o600);
  });

  it('appends to an existing file, keeping what it holds', () => {
    const p = join(dir, 'alerts.jsonl');
    writeFileSync(p, 'one\n', { mode: 0o600 });
    const fd = openOutputFd(p, { what: 'alert file', append: true });
    writeSync(fd, 'two\n');
    closeSync(fd);
    expect(readFileSync(p, 'utf8')).toBe('one\ntwo\n');
  });

  it('refuses a symbolic link, with force or append too, and never writes through it', () => {
    const planted = join(dir, 'planted.out');
    symlinkSync(victim, planted);
    for (const o of [{}, { force: true }, { append: true }]) {
      expect(refusal(() => openOutputFd(planted, { what: 'report', ...o })).message).toMatch(/planted\.out: it is a symbolic link, which syswarden will not follow\. Fix: remove the link/);
      expect(refusal(() => checkOutputPath(planted, { what: 'report', ...o })).message).toMatch(/symbolic link/);
    }
    const dangling = join(dir, 'dangling.out');
    symlinkSync(join(dir, 'would-be-created'), dangling);
    expect(refusal(() => openOutputFd(dangling, { what: 'report', force: true })).message).toMatch(/symbolic link/);
    expect(existsSync(join(dir, 'would-be-created'))).toBe(false);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(mode(victim)).toBe(0o644);
  });

  it('refuses a hard link planted at the path (another name of a file elsewhere)', () => {
    const planted = join(dir, 'hardlink.out');
    linkSync(victim, planted);
    for (const o of [{ force: true }, { append: true }]) {
      expect(refusal(() => openOutputFd(planted, { what: 'report', ...o })).message).toMatch(/hardlink\.out: it has 2 hard links.*Fix: remove it first/);
    }
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(mode(victim)).toBe(0o644);
  });

  it.skipIf(!isRoot)('refuses a file that belongs to another user, whose owner could read what is written', () => {
    const foreign = join(dir, 'foreign.out');
    writeFileSync(foreign, 'theirs', { mode: 0o666 });
    chownSync(foreign, 65534, 65534);
    for (const o of [{ force: true }, { append: true }]) {
      expect(refusal(() => openOutputFd(foreign, { what: 'alert file', ...o })).message).toMatch(/foreign\.out: it belongs to uid 65534, not to uid 0/);
    }
    expect(readFileSync(foreign, 'utf8')).toBe('theirs');
  });

  it('refuses a directory, a missing directory and a socket-like path, each with the fix', () => {
    mkdirSync(join(dir, 'adir'));
    expect(refusal(() => openOutputFd(join(dir, 'adir'), { what: 'report', force: true })).message).toMatch(/adir: it is a directory/);
    const missing = refusal(() => openOutputFd(join(dir, 'no', 'such', 'x.out'), { what: 'report' }));
    expect(missing.message).toMatch(/the directory .*no\/such does not exist\. Fix: create it first \(mkdir -p /);
    expect(refusal(() => checkOutputPath(join(victim, 'x.out'), { what: 'report' })).message).toMatch(/victim is not a directory/);
  });

  it('writes to /dev/null with force (a stream: nothing to replace), never to a block device', () => {
    closeSync(openOutputFd('/dev/null', { what: 'recording', force: true }));
    expect(refusal(() => openOutputFd('/dev/null', { what: 'recording' })).code).toBe('ERR_EXISTS');
    const block = readdirSync('/dev').map((n) => join('/dev', n)).find((p) => {
      try {
        return statSync(p).isBlockDevice();
      } catch {
        return false;
      }
    });
    if (block) expect(refusal(() => checkOutputPath(block, { what: 'recording', force: true })).message).toMatch(/it is a block device, not a regular file/);
  });
});

describe('writeFileSafely: whole files replace the old one atomically, or not at all', () => {
  it('writes a new file 0600 and leaves no temporary file', async () => {
    const p = join(dir, 'r.json');
    await writeFileSafely(p, '{"a":1}\n', { what: 'JSON report' });
    expect(readFileSync(p, 'utf8')).toBe('{"a":1}\n');
    expect(mode(p)).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses to replace an existing file without force, and replaces it whole (0600) with force', async () => {
    const p = join(dir, 'r.json');
    writeFileSync(p, 'old', { mode: 0o644 });
    expect((await refusalOf(writeFileSafely(p, 'new', { what: 'JSON report' }))).code).toBe('ERR_EXISTS');
    expect(readFileSync(p, 'utf8')).toBe('old');
    await writeFileSafely(p, 'new', { what: 'JSON report', force: true });
    expect(readFileSync(p, 'utf8')).toBe('new');
    expect(mode(p)).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['r.json', 'victim']);
  });

  it('refuses a symbolic link at the path even with force', async () => {
    const planted = join(dir, 'planted.json');
    symlinkSync(victim, planted);
    expect((await refusalOf(writeFileSafely(planted, 'x', { what: 'JSON report', force: true }))).message).toMatch(/symbolic link/);
    expect(lstatSync(planted).isSymbolicLink()).toBe(true);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
  });

  it.skipIf(!isRoot)('a full disk leaves the old file intact, no temporary file, and names ENOSPC and the fix', async () => {
    const small = join(dir, 'small');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small]);
    try {
      const p = join(small, 'model');
      writeFileSync(p, 'old model');
      const e = await refusalOf(writeFileSafely(p, Buffer.alloc(1 << 20, 1), { what: 'model', force: true }));
      expect(e.code).toBe('ERR_DISK_FULL');
      expect(e.message).toMatch(/cannot write model .*model: the disk is full \(ENOSPC\); the old file is unchanged\. Fix: free space/);
      expect(readFileSync(p, 'utf8')).toBe('old model');
      expect(readdirSync(small)).toEqual(['model']);
    } finally {
      execFileSync('umount', [small]);
    }
  });
});

describe('every command that writes a file refuses a bad output before doing its work', () => {
  it('eval --json: refuses an existing file without --force and a symlink; writes 0600; --force replaces', async () => {
    // Four normal traces: the default (trace) split trains on two and tests on two.
    const normal = [0, 1, 2, 3].map((k) => trace(`normal-${k}.txt`, ['read', 'write', 'close', 'openat', 'read', 'write'], 60));
    const attack = trace('attack.txt', ['execve', 'socket', 'connect', 'read', 'write', 'dup2'], 60);
    const args = ['eval', '--normal', normal.join(','), '--attack', attack, '--window', '3', '--detector', 'stide'];
    const existing = join(dir, 'existing.json');
    writeFileSync(existing, 'keep', { mode: 0o644 });
    const link = join(dir, 'link.json');
    symlinkSync(victim, link);
    const [ex, ln, lnForced] = await Promise.all([
      runCli([...args, '--json', existing]),
      runCli([...args, '--json', link]),
      runCli([...args, '--json', link, '--force']),
    ]);
    expectFailure(ex, 1, /JSON report .*existing\.json already exists.*pass --force/);
    // Refused before the evaluation, not after it.
    expect(ex.stdout).not.toMatch(/normal: \d+ traces/);
    expectFailure(ln, 1, /link\.json: it is a symbolic link/);
    expectFailure(lnForced, 1, /link\.json: it is a symbolic link/);
    expect(readFileSync(existing, 'utf8')).toBe('keep');
    expect(readFileSync(victim, 'utf8')).toBe('precious');

    const fresh = join(dir, 'fresh.json');
    const ok = await runCli([...args, '--json', fresh]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(mode(fresh)).toBe(0o600);
    const forced = await runCli([...args, '--json', existing, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    // JSON lines: one record, for the one detector and window.
    const lines = readFileSync(existing, 'utf8').split('\n').filter((l) => l.length > 0);
    expect(lines.map((l) => (JSON.parse(l) as { detector: string }).detector)).toEqual(['stide']);
    expect(mode(existing)).toBe(0o600);
  });

  it('train --model: refuses an existing model without --force, and a symlink; --force replaces it 0600', async () => {
    const from = trace('normal.txt', ['read', 'write', 'close', 'openat', 'read', 'write', 'fstat'], 40);
    const model = join(dir, 'm.model');
    writeFileSync(model, 'an older model', { mode: 0o644 });
    const link = join(dir, 'link.model');
    symlinkSync(victim, link);
    const [ex, ln] = await Promise.all([
      runCli(['train', '--from', from, '--model', model, '--window', '3']),
      runCli(['train', '--from', from, '--model', link, '--window', '3', '--force']),
    ]);
    expectFailure(ex, 1, /model .*m\.model already exists.*pass --force/);
    expectFailure(ln, 1, /link\.model: it is a symbolic link/);
    expect(readFileSync(model, 'utf8')).toBe('an older model');
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    const forced = await runCli(['train', '--from', from, '--model', model, '--window', '3', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(mode(model)).toBe(0o600);
    expect(readFileSync(model).subarray(0, 40).toString('latin1')).toMatch(/syswarden-model/);
  });

  it('soak --out and bench --out: refused at once (not after minutes of work) when existing, a symlink or in a missing directory', async () => {
    const existing = join(dir, 'existing.json');
    writeFileSync(existing, 'keep');
    const link = join(dir, 'link.json');
    symlinkSync(victim, link);
    const runs = await Promise.all([
      runCli(['soak', '--out', existing], 20_000),
      runCli(['soak', '--out', link, '--force'], 20_000),
      runCli(['bench', '--out', existing], 20_000),
      runCli(['bench', '--out', link, '--force'], 20_000),
      runCli(['bench', '--out', join(dir, 'missing', 'b.json')], 20_000),
    ]);
    expectFailure(runs[0]!, 1, /soak results .*existing\.json already exists.*--force/);
    expectFailure(runs[1]!, 1, /link\.json: it is a symbolic link/);
    expectFailure(runs[2]!, 1, /benchmark results .*existing\.json already exists.*--force/);
    expectFailure(runs[3]!, 1, /link\.json: it is a symbolic link/);
    expectFailure(runs[4]!, 1, /the directory .*missing does not exist/);
    expect(readFileSync(existing, 'utf8')).toBe('keep');
    expect(readFileSync(victim, 'utf8')).toBe('precious');
  });

  it('record --out: an existing file, a symlink, and a hard link with --force are refused before anything loads', async () => {
    const existing = join(dir, 'existing.swrec');
    writeFileSync(existing, 'keep');
    const link = join(dir, 'link.swrec');
    symlinkSync(victim, link);
    const hard = join(dir, 'hard.swrec');
    linkSync(victim, hard);
    const runs = await Promise.all([
      runCli(['record', '--all', '--out', existing, '--duration', '1'], 20_000),
      runCli(['record', '--all', '--out', link, '--force', '--duration', '1'], 20_000),
      runCli(['record', '--all', '--out', hard, '--force', '--duration', '1'], 20_000),
    ]);
    expectFailure(runs[0]!, 1, /recording .*existing\.swrec already exists.*--force/);
    expectFailure(runs[1]!, 1, /link\.swrec: it is a symbolic link/);
    expectFailure(runs[2]!, 1, /hard\.swrec: it has 2 hard links/);
    // Nothing was attached: the "recording <targets> (attach ...)" line never appeared.
    for (const r of runs) expect(r.stderr).not.toMatch(/\(attach /);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
  });
});
