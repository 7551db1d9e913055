import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSoak } from '../bench/soak.js';
import { parseCommandArgs, parseSeconds } from './args.js';

const HELP = `usage: syswarden soak [--minutes N] [--out <json>]

Runs capture and the STIDE pipeline on a mixed workload (threads, file
loops, short-lived processes) for N minutes (default 10), printing memory,
CPU and loss every 10 s, and says whether memory grew.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('soak', argv, { minutes: { type: 'string' }, out: { type: 'string' } }, HELP);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const minutes = (parseSeconds('minutes', values.minutes) ?? 10);
  console.log('minute   rss MiB  heap MiB  cpu %   events/s  lost  threads  alerts');
  const r = await runSoak(minutes, (s) =>
    console.log(
      `${s.minute.toFixed(1).padStart(6)} ${s.rssMiB.toFixed(1).padStart(9)} ${s.heapMiB.toFixed(1).padStart(9)} ${s.cpuPct.toFixed(0).padStart(6)} ${s.eventsPerSec.toFixed(0).padStart(10)} ${String(s.lostTotal).padStart(5)} ${String(s.threads).padStart(8)} ${String(s.alerts).padStart(7)}`,
    ),
  );
  console.log(`memory ${r.grew ? 'GREW' : 'did not grow'}: resident set ${r.rssGrowthPct >= 0 ? '+' : ''}${r.rssGrowthPct.toFixed(1)} % from the first to the last third of the run.`);
  const out = values.out ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results', 'soak.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(r, null, 2) + '\n');
  return r.grew ? 1 : 0;
}
