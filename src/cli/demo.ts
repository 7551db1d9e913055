import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workloadPath } from '../capture/addon.js';
import { Collector } from '../capture/collector.js';
import { recordToFile } from '../capture/record-session.js';
import { createScratchCgroup } from '../capture/scratch-cgroup.js';
import { formatSummary, summarizeRecording } from '../capture/summary.js';
import { parseCommandArgs } from './args.js';
import { withStopSignals } from './signals.js';

const HELP = `usage: syswarden demo [--out <file>] [--json]

The built-in default job: makes its own cgroup, runs a small workload with a
known syscall footprint in it (3 syscalls x 20000 rounds x 2 threads, then a
file loop), records it with the eBPF collector and prints the summary.
  --out <file>   keep the recording there (default: a temporary file, removed)
  --json         print the summary as one JSON object`;

function runIn(cgroupDir: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(workloadPath(), ['--cgroup', cgroupDir, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, sig) => (code === 0 ? resolve() : reject(new Error(`sw-workload ${args[0]} failed (${sig ?? code})`))));
  });
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('demo', argv, { out: { type: 'string' }, json: { type: 'boolean' } }, HELP);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  return withStopSignals(async (signal) => {
    const tmp = values.out ? undefined : mkdtempSync(join(tmpdir(), 'syswarden-demo-'));
    const out = values.out ?? join(tmp!, 'demo.swrec');
    const cg = createScratchCgroup(`syswarden-demo-${process.pid}`);
    try {
      const collector = await Collector.open({ targets: [cg.spec], signal });
      console.error(`syswarden demo: recording cgroup ${cg.ref.path} (attach ${collector.attachMode})`);
      const recording = recordToFile(collector, out, { signal, overwrite: values.out !== undefined });
      try {
        await runIn(cg.dir, ['pattern', '20000', '2']);
        await runIn(cg.dir, ['mix', '2000']);
      } finally {
        await collector.close();
      }
      await recording;
      const s = await summarizeRecording(out);
      if (values.json) {
        console.log(JSON.stringify({ events: s.events, threads: s.threads, drops: s.drops, syscalls: s.syscalls, attach: collector.attachMode }));
      } else {
        console.log(formatSummary(s, 15));
      }
      return 0;
    } finally {
      await cg.remove();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
  });
}
