import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { startCli } from '../pipeline/cli-process.js';
import { saveAlarmingModel } from '../pipeline/helpers.js';

let dir: string;
let model: string;
let cg: ScratchCgroup;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-badoutput-'));
  model = join(dir, 'alarm.model');
  await saveAlarmingModel(model);
  mkdirSync(join(dir, 'a-dir'));
  cg = createScratchCgroup(`sw-test-badoutput-${process.pid}`);
});
afterAll(async () => {
  await cg?.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** Delivery options watch must refuse, and what it must say about each. */
const BAD: Array<{ what: string; args: () => string[]; message: RegExp }> = [
  { what: 'a NATS URL without a port', args: () => ['--output', 'nats://noport'], message: /--output nats:\/\/noport: it gives no port.*Fix: write it as nats:\/\/host:port\/subject/ },
  { what: 'a NATS URL without a subject', args: () => ['--output', 'nats://127.0.0.1:4222'], message: /it names no subject to publish on\. Fix: add one after the port/ },
  { what: 'a NATS wildcard subject', args: () => ['--output', 'nats://127.0.0.1:4222/alerts.>'], message: /'alerts\.>' is not a subject one can publish on/ },
  { what: 'a scheme syswarden does not write', args: () => ['--output', 'ftp://127.0.0.1/alerts'], message: /--output ftp:\/\/127\.0\.0\.1\/alerts: 'ftp:\/\/' is not an output syswarden can write to\. Fix: give --output <dest>/ },
  { what: 'a file in a missing directory', args: () => ['--output', join(dir, 'missing', 'alerts.jsonl')], message: /--output: cannot write alert file .*: the directory .*missing does not exist\. Fix: create it first/ },
  { what: 'a directory', args: () => ['--output', join(dir, 'a-dir')], message: /--output: cannot write alert file .*a-dir: it is a directory/ },
  { what: 'the same destination twice', args: () => ['--output', '-', '--output', '-'], message: /--output stdout is given twice/ },
  { what: 'pretty lines to a bus', args: () => ['--format', 'pretty', '--output', 'nats://127.0.0.1:4222/a'], message: /--format pretty is for people, not for nats:\/\/127\.0\.0\.1:4222\/a/ },
  { what: 'an unknown format', args: () => ['--format', 'xml'], message: /--format must be one of json, falco, pretty, got 'xml'/ },
  { what: 'an empty buffer', args: () => ['--output-buffer', '0'], message: /--output-buffer must be a whole number from 1 to 1000000 records, got '0'/ },
  { what: 'a negative flush time-out', args: () => ['--flush-timeout', '-1'], message: /--flush-timeout must be a number of seconds from 0 to 3600, got '-1'/ },
];

describe('delivery options watch must refuse', () => {
  for (const b of BAD) {
    it(`(${b.what}) make it say why and exit 2, before it watches anything`, async () => {
      const cli = startCli(['watch', '--target', cg.spec, '--model', model, ...b.args()]);
      expect(await cli.exit()).toBe(2);
      expect(cli.stderr()).toMatch(b.message);
      expect(cli.stderr()).not.toMatch(/watching|\n\s+at /);
      expect(cli.stdout()).toBe('');
    });
  }
});
