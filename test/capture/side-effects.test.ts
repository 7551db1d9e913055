import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../../src/capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { projectRoot, waitFor } from './helpers.js';

// An agent that embeds syswarden keeps its process as it set it up: the
// library changes no limit, no priority and no process-wide hook beyond
// what the caller asked for.

let cg: ScratchCgroup;
let dir: string;
beforeAll(() => {
  cg = createScratchCgroup(`sw-test-side-${process.pid}`);
  dir = mkdtempSync(join(tmpdir(), 'sw-side-'));
});
afterAll(async () => {
  await cg.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** The consumer thread of this process (named sw-ring) and its nice value, once it runs. */
function consumerNice(): number | undefined {
  for (const tid of readdirSync('/proc/self/task')) {
    let comm: string;
    try {
      comm = readFileSync(join('/proc/self/task', tid, 'comm'), 'utf8').trim();
    } catch {
      continue;
    }
    if (comm !== 'sw-ring') continue;
    // Fields after "(comm)": state is field 3, nice is field 19.
    const stat = readFileSync(join('/proc/self/task', tid, 'stat'), 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[19 - 3]);
  }
  return undefined;
}

describe('side effects on the embedding process', () => {
  it('leaves RLIMIT_MEMLOCK as the process set it, and the collector still works under a low limit', () => {
    const collectorJs = join(projectRoot, 'dist', 'capture', 'collector.js');
    const script = `
      import { readFileSync } from 'node:fs';
      import { spawnSync } from 'node:child_process';
      const { Collector } = await import(${JSON.stringify(collectorJs)});
      const memlock = () => readFileSync('/proc/self/limits', 'utf8').split('\\n').find((l) => l.startsWith('Max locked memory')).replace(/\\s+/g, ' ').trim();
      const before = memlock();
      const c = await Collector.open({ targets: [${JSON.stringify(cg.spec)}], ringBytes: 1 << 20 });
      let events = 0;
      c.on('batch', (b) => (events += b.count));
      const during = memlock();
      spawnSync(process.argv[1], ['--cgroup', ${JSON.stringify(cg.dir)}, 'getppid', '1000']);
      await c.close();
      console.log(JSON.stringify({ before, during, after: memlock(), events }));
    `;
    // A soft limit far below what the ring needs. strace shows any attempt to
    // change it, even one the kernel refuses (raising the hard limit needs
    // CAP_SYS_RESOURCE, which a container's root often lacks).
    const trace = join(dir, 'rlimit.strace');
    const node = [process.execPath, '--input-type=module', '-e', script, join(projectRoot, 'build', 'Release', 'sw-workload')];
    const r = spawnSync('prlimit', ['--memlock=65536:', 'strace', '-f', '-qq', '-e', 'trace=setrlimit,prlimit64', '-o', trace, ...node], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: string; during: string; after: string; events: number };
    expect(out.before).toMatch(/^Max locked memory 65536 \d+ bytes$/);
    expect(out.during).toBe(out.before);
    expect(out.after).toBe(out.before);
    expect(out.events).toBeGreaterThanOrEqual(1000);
    // Nothing printed by the library (libbpf's messages go to the error a failed load throws).
    expect(r.stderr).toBe('');
    const attempts = readFileSync(trace, 'utf8').split('\n').filter((l) => /RLIMIT_MEMLOCK, \{/.test(l) || /setrlimit\(RLIMIT_MEMLOCK/.test(l));
    expect(attempts, 'calls that set RLIMIT_MEMLOCK').toEqual([]);
  });

  it('leaves the consumer thread at the process priority unless consumerNice asks otherwise', async () => {
    const own = Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[19 - 3]);
    const plain = await Collector.open({ targets: [cg.spec] });
    try {
      await waitFor(() => consumerNice() !== undefined, 'the consumer thread');
      expect(consumerNice()).toBe(own);
    } finally {
      await plain.close();
    }
    await waitFor(() => consumerNice() === undefined, 'the consumer thread to end');
    const raised = await Collector.open({ targets: [cg.spec], consumerNice: -7 });
    try {
      await waitFor(() => consumerNice() !== undefined, 'the consumer thread');
      // Root may raise it; without CAP_SYS_NICE it would stay where it was.
      expect(consumerNice()).toBe(-7);
    } finally {
      await raised.close();
    }
  });

  it('rejects a consumerNice out of range', async () => {
    await expect(Collector.open({ targets: [cg.spec], consumerNice: -21 })).rejects.toThrow(RangeError);
    await expect(Collector.open({ targets: [cg.spec], consumerNice: 1.5 })).rejects.toThrow(TypeError);
  });
});
