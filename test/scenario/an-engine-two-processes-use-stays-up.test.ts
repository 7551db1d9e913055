import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { docker, engineLeased, ensureEngine } from '../../src/scenario/engine.js';

/**
 * A dockerd that a syswarden process started is stopped by the last
 * syswarden process using it, not by the one that started it while another
 * still runs containers on it (a test run beside the demo: the demo's
 * container vanished and it died of ECONNREFUSED).
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const answers = () =>
  docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 }).then(
    () => true,
    () => false,
  );

/** Another process holding the engine: says "held" once it has it, lets go when told, says "let go". */
function otherUser() {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { ensureEngine } from ${JSON.stringify(join(root, 'dist', 'scenario', 'engine.js'))};
       import { createInterface } from 'node:readline';
       const e = await ensureEngine();
       console.log('held');
       for await (const _ of createInterface({ input: process.stdin })) { await e.stop(); console.log('let go'); process.exit(0); }`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    async next(): Promise<string> {
      const r = await lines.next();
      return r.done ? '(exited)' : String(r.value);
    },
    letGo() {
      child.stdin!.write('go\n');
    },
    exited: once(child, 'exit'),
  };
}

describe('the Docker engine syswarden starts', () => {
  it('stays up while another syswarden process uses it, and stops when the last one lets go', async () => {
    const mine = await ensureEngine();
    // Ours when this process started it, or when another syswarden process did (a lease); a dockerd
    // started by hand is never stopped, and then there is nothing to stop here.
    const ours = mine.started || engineLeased();
    const other = otherUser();
    try {
      expect(await other.next()).toBe('held');
      await mine.stop();
      // The other process still holds it: it answers.
      expect(await answers()).toBe(true);
      other.letGo();
      expect(await other.next()).toBe('let go');
      await other.exited;
      // The last user let go: a dockerd syswarden started is gone; one started by hand still runs.
      expect(await answers()).toBe(!ours);
    } finally {
      other.letGo();
    }
  }, 180_000);
});
