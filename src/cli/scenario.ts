import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { SyswardenError } from '../errors.js';
import { ensureEngine } from '../scenario/engine.js';
import { defaultCacheDir } from '../scenario/image.js';
import { SCENARIOS, parseScenarioList } from '../scenario/registry.js';
import { attackCount, runScenario } from '../scenario/runner.js';
import { asUsage, parseCommandArgs, parseDecimal, parseInteger, type Parsed } from './args.js';
import { progressReporter } from './progress.js';
import { withStopSignals } from './signals.js';

export const DEFAULT_RUNS = 30;
export const DEFAULT_LENGTH: [number, number] = [6, 12];

const HELP = `usage: syswarden scenario list
       syswarden scenario run <name[,name...]|all> --out <dir> [--runs N] [--seed S] [--length A-B]

Labelled datasets of real containers, recorded by syswarden itself. Each
scenario builds its image from Debian packages (cached under $SYSWARDEN_CACHE,
default ${defaultCacheDir()}), then for each run starts a fresh container on
the host's loopback, drives it with a seeded client, and in attack runs
attacks it at a seeded moment while the client goes on. Each run is a
recording <dir>/<scenario>/run-NNN.swrec and its label run-NNN.json (kind,
attack kind, attack start and end in CLOCK_MONOTONIC ns, the recording's clock).
Interrupted? Run the same command again: finished runs are kept.

  --out <dir>        the dataset directory (created if missing)
  --runs <n>         runs per scenario, a third of them attacks (default ${DEFAULT_RUNS}: 20 normal, 10 attack)
  --seed <s>         the dataset's seed: same seed, same runs and requests (default 1)
  --length <a-b>     run lengths drawn between a and b seconds (default ${DEFAULT_LENGTH.join('-')})
  -h, --help         this text

Needs root, dockerd (started here if it is not running), debootstrap and a
Debian mirror for the first image build. Evaluate a dataset with
'syswarden eval --dataset <dir>'.`;

export interface ScenarioArgs {
  action: 'list' | 'run';
  names: string;
  out: string;
  runs: number;
  seed: number;
  length: [number, number];
}

function parseLength(v: string | undefined): [number, number] {
  if (v === undefined) return DEFAULT_LENGTH;
  const m = /^([^-]+)-([^-]+)$/.exec(v);
  const a = parseDecimal('length', m?.[1] ?? v, { min: 2, max: 3600, unit: 'seconds', note: 'as a-b, e.g. 6-12' })!;
  const b = m ? parseDecimal('length', m[2], { min: 2, max: 3600, unit: 'seconds', note: 'as a-b, e.g. 6-12' })! : a;
  if (b < a) throw new SyswardenError('ERR_USAGE', `--length ${v}: the first number must not be larger than the second (e.g. 6-12).`);
  return [a, b];
}

export function parse(argv: string[]): Parsed<ScenarioArgs> {
  const { values, positionals } = parseCommandArgs(
    'scenario',
    argv,
    { out: { type: 'string' }, runs: { type: 'string' }, seed: { type: 'string' }, length: { type: 'string' } },
    HELP,
    true,
  );
  if (values.help) return { help: true };
  const [action, names, ...extra] = positionals;
  if (action !== 'list' && action !== 'run') throw new SyswardenError('ERR_USAGE', `scenario: say list or run, got ${action === undefined ? 'nothing' : `'${action}'`}.\n\n${HELP}`);
  if (extra.length > 0) throw new SyswardenError('ERR_USAGE', `scenario: unexpected '${extra[0]}'. Name several scenarios with commas (a,b).`);
  if (action === 'run') {
    if (names === undefined) throw new SyswardenError('ERR_USAGE', `scenario run: name a scenario (${SCENARIOS.map((s) => s.name).join(', ')}) or all.`);
    asUsage(() => parseScenarioList(names));
    if (values.out === undefined) throw new SyswardenError('ERR_USAGE', 'scenario run: --out <dir> is required (the dataset directory).');
  }
  return {
    help: false,
    action,
    names: names ?? 'all',
    out: values.out ?? '',
    runs: parseInteger('runs', values.runs, { min: 1, max: 10_000 }) ?? DEFAULT_RUNS,
    seed: parseInteger('seed', values.seed, { min: 0, max: 0xffffffff }) ?? 1,
    length: parseLength(values.length),
  };
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  if (args.action === 'list') {
    for (const s of SCENARIOS) console.log(`${s.name.padEnd(18)} ${s.application}\n${''.padEnd(18)} attack: ${s.attackKind}`);
    return 0;
  }
  if (process.getuid?.() !== 0) throw new SyswardenError('ERR_PERMISSION', 'scenario run needs root (it starts containers and loads the BPF program). Fix: run it with sudo.');
  const scenarios = parseScenarioList(args.names);
  const out = resolve(args.out);
  // Found out before dockerd is started or an image built.
  if (existsSync(out) && !statSync(out).isDirectory()) throw new SyswardenError('ERR_OUTPUT', `--out ${out} exists and is not a directory. Fix: give a dataset directory (it is created if missing).`);
  return withStopSignals(async (signal) => {
    const engine = await ensureEngine();
    try {
      const progress = progressReporter('scenario');
      const total = scenarios.length * args.runs;
      let base = 0;
      for (const s of scenarios) {
        const r = await runScenario(s, {
          out,
          runs: args.runs,
          seed: args.seed,
          length: args.length,
          signal,
          onStep: (m) => process.stderr.write(`scenario: ${m}\n`),
          onProgress: (p) => progress({ done: base + p.done, total, label: p.label }),
        });
        base += r.runs;
        console.log(`${s.name}: ${r.runs} runs (${r.runs - attackCount(r.runs)} normal, ${attackCount(r.runs)} attack${r.skipped ? `; ${r.skipped} were already there` : ''}) in ${r.dir}`);
      }
      return 0;
    } finally {
      await engine.stop();
    }
  });
}
