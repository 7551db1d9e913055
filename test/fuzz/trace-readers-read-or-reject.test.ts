import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyIssues } from '../../src/trace/issues.js';
import { PlainParser } from '../../src/trace/plain.js';
import { readTrace } from '../../src/trace/read-trace.js';
import type { EventSink } from '../../src/trace/sink.js';
import { StraceParser } from '../../src/trace/strace.js';
import { SysdigParser } from '../../src/trace/sysdig.js';
import { decodesOrRejects, decodesOrRejectsAsync, fcParams, mutated, scratchDir, straceCorpus } from './helpers.js';

/** A sink that checks what a parser hands on: 16-bit syscall numbers of streams it announced. */
function checkingSink(): EventSink {
  const open = new Set<number>();
  return {
    thread(t) {
      expect(Number.isInteger(t) && t >= 0).toBe(true);
      open.add(t);
    },
    call(t, nr) {
      expect(open.has(t)).toBe(true);
      expect(Number.isInteger(nr) && nr >= 0 && nr <= 0xffff).toBe(true);
    },
    end(t) {
      expect(open.has(t)).toBe(true);
    },
  };
}

const corpus = straceCorpus();
/** Pieces strace lines are made of, so generated lines reach the parser's branches. */
const token = fc.constantFrom(
  '[pid ', ']', ' ', '  ', '(', ')', ' = ', '<unfinished ...>', '<... ', ' resumed>', '--- ', 'SIGCHLD', 'SIGFOO', ' ---', '+++ ', 'strace: ',
  'read', 'futex', 'syscall_', '0x', 'sys_', '99999', '1023', '1024', '65536', '4294967296', '12:00:00.5 ', '1700000000.1 ', '#', '\t', '\r', '\u0000', '\uffff', 'é',
);
const line = fc.oneof(
  fc.string({ maxLength: 120 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.array(token, { maxLength: 12 }).map((t) => t.join('')),
  fc.tuple(fc.constantFrom(...corpus), fc.nat(200), fc.string({ maxLength: 6 })).map(([l, at, s]) => l.slice(0, at) + s + l.slice(at)),
  fc.tuple(fc.constantFrom(...corpus), fc.nat(200)).map(([l, at]) => l.slice(0, at)),
);

function feed(make: (sink: EventSink, lenient: boolean) => { line(t: string, n: number): void; finish(): void }, lines: string[], lenient: boolean): void {
  const p = make(checkingSink(), lenient);
  decodesOrRejects(() => {
    lines.forEach((l, i) => p.line(l, i + 1));
    p.finish();
  });
}

describe('trace readers read or reject every input', () => {
  it('the strace parser, strict and lenient, on generated and mutated lines', () => {
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 8 }), fc.boolean(), (lines, lenient) => {
        feed((sink, l) => new StraceParser('fuzz', sink, emptyIssues(), l), lines, lenient);
      }),
      fcParams(),
    );
  });

  it('the plain-list parser, strict and lenient, on generated and mutated lines', () => {
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 8 }), fc.boolean(), (lines, lenient) => {
        feed((sink, l) => new PlainParser('fuzz', sink, emptyIssues(), l), lines, lenient);
      }),
      fcParams(),
    );
  });

  it('the sysdig (LID-DS) parser, strict and lenient, on generated and mutated event lines', () => {
    const sysdigToken = fc.constantFrom(
      '1631209047761484608', '1', '33', '0', '99999999999', ' ', '  ', 'apache2', 'read', 'pread', 'procexit', 'switch', 'constructor', '__proto__',
      '>', '<', 'fd=3', '10:44:31.123456789', '4294967296', '\t', '\r', '\u0000', 'é',
    );
    const event = fc.oneof(
      fc.array(sysdigToken, { maxLength: 14 }).map((t) => t.join(' ')),
      fc.tuple(fc.nat(300), fc.constantFrom('read', 'procexit', 'switch', 'frob'), fc.constantFrom('>', '<')).map(([tid, ev, d]) => `1631209047761484608 0 ${tid} p ${tid} ${ev} ${d} x=1`),
      line,
    );
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 12 }), fc.boolean(), (lines, lenient) => {
        feed((sink, l) => new SysdigParser('fuzz', sink, emptyIssues(), l), lines, lenient);
      }),
      fcParams(),
    );
  });

  it('syscall numbers that do not fit an event are unknown, not wrapped', () => {
    const calls: number[] = [];
    const sink: EventSink = { thread() {}, call: (_t, nr) => void calls.push(nr), end() {} };
    const issues = emptyIssues();
    const strace = new StraceParser('f', sink, issues, true);
    ['syscall_99999(1) = 0', 'syscall_0x10000(1) = 0', 'syscall_1024(1) = 0', 'sys_70000(1) = 0', 'syscall_0x3(1) = 0'].forEach((l, i) => strace.line(l, i + 1));
    const plain = new PlainParser('f', sink, issues, true);
    ['sys_99999 sys_1025 99999 1100 sys_5'].forEach((l, i) => plain.line(l, i + 1));
    expect(calls).toEqual([3, 5]);
    expect(issues.unknownSyscall).toBe(8);
  });

  const dir = scratchDir('sw-fuzz-trace-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('whole files, sniffed and read, in every format', async () => {
    const file = join(dir, 'trace');
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.array(line, { maxLength: 20 }).map((l) => Buffer.from(l.join('\n'))), fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b))), fc.constantFrom('auto', 'strace', 'plain', 'recording'), fc.boolean(), async (bytes, format, lenient) => {
        writeFileSync(file, bytes);
        const t = await decodesOrRejectsAsync(() => readTrace(file, { format, lenient }));
        if (t) for (const th of t.threads) expect(th.calls).toBeInstanceOf(Uint16Array);
      }),
      fcParams(0.1),
    );
  });

  it('zip archives of a trace (LID-DS 2021 ships its recordings so), mutated anywhere: read whole or refused by name', async () => {
    // A small recording's events and metadata, zipped by Info-ZIP: the directory and headers are a large share of the bytes.
    const stage = join(dir, 'stage');
    mkdirSync(stage, { recursive: true });
    const lines = Array.from({ length: 60 }, (_, i) => `${1631209047761484608n + BigInt(i)} 33 700 apache2 700 ${['read', 'write', 'poll'][i % 3]} > fd=3`);
    writeFileSync(join(stage, 'r.sc'), lines.join('\n') + '\n');
    writeFileSync(join(stage, 'r.json'), '{"exploit": false}');
    const base = join(dir, 'base.zip');
    execFileSync('zip', ['-q', '-j', base, join(stage, 'r.sc'), join(stage, 'r.json')]);
    const bytes = readFileSync(base);
    const whole = await readTrace(base);
    expect(whole.threads[0]!.calls).toHaveLength(60);
    const file = join(dir, 'mutated.zip');
    await fc.assert(
      fc.asyncProperty(mutated(bytes), async (b) => {
        writeFileSync(file, b);
        const t = await decodesOrRejectsAsync(() => readTrace(file));
        // What reads is never a shortened trace: a member is checked against its size and CRC.
        if (t && t.format === 'sysdig' && t.issues.malformed === 0) expect(t.threads.reduce((n, th) => n + th.calls.length, 0)).toBeGreaterThanOrEqual(60);
      }),
      fcParams(0.2),
    );
  });
});
