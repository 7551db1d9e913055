import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSoak } from '../bench/soak.js';
import { SyswardenError } from '../errors.js';
import { checkOutputPath, writeFileSafely } from '../io/safe-file.js';
import { MAX_DURATION_SECONDS, parseCommandArgs, parseDecimal, type Parsed } from './args.js';

const HELP = `usage: syswarden soak [--minutes N] [--out <json> [--force]]

Runs capture and the STIDE pipeline on a mixed workload (threads, file
loops, short-lived processes) for N minutes (default 10, from 0.1 to
${MAX_DURATION_SECONDS / 60}), printing memory, CPU and loss every 10 s, and says whether
memory grew. Writes bench/results/soak.json, or --out (replaced only with --force).`;

export interface SoakArgs {
  minutes: number;
  /** undefined: the default results file in the project, replaced each run. */
  out: string | undefined;
  force: boolean;
}

/** The checked options of `soak`; throws an ERR_USAGE SyswardenError. Touches nothing outside. */
export function parse(argv: string[]): Parsed<SoakArgs> {
  const { values } = parseCommandArgs('soak', argv, { minutes: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } }, HELP);
  if (values.help) return { help: true };
  const minutes = parseDecimal('minutes', values.minutes, { min: 0.1, max: MAX_DURATION_SECONDS / 60, unit: 'minutes', note: '366 days' }) ?? 10;
  if (values.out === '') throw new SyswardenError('ERR_USAGE', '--out needs a file name.');
  return { help: false, minutes, out: values.out, force: values.force === true };
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const out = args.out ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results', 'soak.json');
  const force = args.out === undefined || args.force;
  if (args.out === undefined) mkdirSync(dirname(out), { recursive: true });
  // Checked before the soak runs for minutes, not after.
  checkOutputPath(out, { what: 'soak results', force });
  console.log('minute   rss MiB  heap MiB  cpu %   events/s  lost  threads  alerts');
  const r = await runSoak(args.minutes, (s) =>
    console.log(
      `${s.minute.toFixed(1).padStart(6)} ${s.rssMiB.toFixed(1).padStart(9)} ${s.heapMiB.toFixed(1).padStart(9)} ${s.cpuPct.toFixed(0).padStart(6)} ${s.eventsPerSec.toFixed(0).padStart(10)} ${String(s.lostTotal).padStart(5)} ${String(s.threads).padStart(8)} ${String(s.alerts).padStart(7)}`,
    ),
  );
  console.log(`memory ${r.grew ? 'GREW' : 'did not grow'}: resident set ${r.rssGrowthPct >= 0 ? '+' : ''}${r.rssGrowthPct.toFixed(1)} % from the first to the last third of the run.`);
  await writeFileSafely(out, JSON.stringify(r, null, 2) + '\n', { what: 'soak results', force });
  return r.grew ? 1 : 0;
}
