import { chownSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { startCli } from './cli-process.js';
import { saveAlarmingModel } from './helpers.js';

let dir: string;
let model: string;
let cg: ScratchCgroup;
const trace = () => join(dir, 'trace.txt');

/** Outputs syswarden must refuse, and what it must say about each. */
const BAD: Array<{ what: string; path: () => string; message: RegExp }> = [
  { what: 'a path in a missing directory', path: () => join(dir, 'missing', 'alerts.jsonl'), message: /the directory .*missing does not exist\. Fix: create it first/ },
  { what: 'a symbolic link', path: () => join(dir, 'link.jsonl'), message: /it is a symbolic link, which syswarden will not follow\. Fix: remove the link/ },
  { what: 'a directory', path: () => join(dir, 'a-dir'), message: /it is a directory\. Fix: name a file/ },
  { what: "another user's file", path: () => join(dir, 'nobodys.jsonl'), message: /it belongs to uid 65534.*Fix: remove it first/ },
  { what: 'a file with a second name', path: () => join(dir, 'linked.jsonl'), message: /it has 2 hard links.*Fix:/ },
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-badout-'));
  model = join(dir, 'toy.model');
  await saveAlarmingModel(model);
  writeFileSync(trace(), 'socket\nconnect\nexecve\nread\nwrite\nclose\n');
  writeFileSync(join(dir, 'target.jsonl'), '');
  symlinkSync(join(dir, 'target.jsonl'), join(dir, 'link.jsonl'));
  mkdirSync(join(dir, 'a-dir'));
  writeFileSync(join(dir, 'nobodys.jsonl'), '');
  chownSync(join(dir, 'nobodys.jsonl'), 65534, 65534);
  writeFileSync(join(dir, 'linked.jsonl'), '');
  linkSync(join(dir, 'linked.jsonl'), join(dir, 'second-name.jsonl'));
  cg = createScratchCgroup(`sw-test-badout-${process.pid}`);
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('an --out syswarden must not write', () => {
  for (const b of BAD) {
    it(`(${b.what}) makes watch say why and exit 1, before it watches anything`, async () => {
      const cli = startCli(['watch', '--target', cg.spec, '--model', model, '--out', b.path()]);
      expect(await cli.exit()).toBe(1);
      expect(cli.stderr()).toMatch(b.message);
      expect(cli.stderr()).not.toMatch(/watching|\n\s+at /);
    });

    it(`(${b.what}) makes replay say why and exit 1`, async () => {
      const cli = startCli(['replay', trace(), '--model', model, '--out', b.path()]);
      expect(await cli.exit()).toBe(1);
      expect(cli.stderr()).toMatch(b.message);
      expect(cli.stderr()).not.toMatch(/replayed|\n\s+at /);
    });
  }
});
