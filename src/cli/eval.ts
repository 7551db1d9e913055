import { join } from 'node:path';
import { SyswardenError } from '../errors.js';
import { RecordFile, checkOutputPath } from '../io/safe-file.js';
import { DEFAULT_BUDGET } from '../detect/calibration.js';
import { DEFAULT_FRAME, MAX_FRAME } from '../detect/decision.js';
import { expandPaths } from '../trace/paths.js';
import { STAND_IN, datasetPath, requireDataset } from '../trace/dataset.js';
import { defaultThreatTablePath, loadThreatTable } from '../trace/threat-levels.js';
import { traceFormats } from '../trace/read-trace.js';
import { ABIS, parseAbi, type Abi } from '../trace/syscalls.js';
import { parseFilterName, type FilterName } from '../window/filter.js';
import { DETECTOR_NAMES, parseDetectorList } from '../detect/registry.js';
import type { DetectorFactory } from '../detect/detector.js';
import { progressReporter } from './progress.js';
import { asUsage, parseCommandArgs, parseDecimal, parseInteger, type Parsed } from './args.js';
import { sampleTraces, splitTraces } from '../detect/split.js';
import type { ScenarioEvalRecord } from '../scenario/evaluate.js';
import { SPLITS, emptySkips, loadTraces, runEvaluation, traceKind, type EvalRecord, type Split } from '../detect/evaluation.js';

const HELP = `usage: syswarden eval [options]

Trains and tests detectors on labelled traces, the reference study's way.

  --normal <files|dirs>   normal traces (comma-separated or repeated; a dir means every file in it)
  --attack <files|dirs>   attack traces (same form; a dir of dirs only, e.g. ADFA-LD's attack data, means
                          every file of each, and each dir is an attack kind)
                          default for both: the study's stand-in from the dataset
                          (iscc/normal/* as normal, sbseg/exec/wordpress_exec_1_teste1 as attack)
  --window <list>         window sizes, 3..15 (default 3,5,7,9,11,13,15)
  --detector <list>       ${DETECTOR_NAMES.join(', ')} or all (default all)
  --filter <list>         none, harmless, or none,harmless for both (default none)
  --split <kind>          trace (whole files, seeded: half the normal files train, the rest test; attack
                          files are split within each kind (their directory), so supervised detectors
                          are tested on kinds they saw), or the study's window splits: ordered (first
                          half of each class's windows trains), shuffled (seeded 50/50) (default trace)
  --seed <n>              seed for the splits, the calibration folds and randomised detectors,
                          0 to 4294967295 (default 1)
  --false-alarms <rate>   the budget: share of normal traces that may alarm; every detector's threshold
                          is calibrated to it on held-out normal training traces (default ${DEFAULT_BUDGET.trace})
  --frame <n>             windows per decision frame (default ${DEFAULT_FRAME})
  --threat-table <csv>    name,id,threat_level table for --filter harmless
                          (default: the dataset's syscalls.csv, else the built-in level-4 list)
  --format <fmt>          trace format: auto, ${traceFormats().map((f) => f.name).join(', ')} (default auto)
  --lenient               skip and count malformed lines and unknown syscalls instead of failing
  --abi <abi>             syscall numbering of the traces: ${ABIS.join(', ')} (i386: 32-bit processes;
                          recordings carry their own) (default x86_64)
  --dataset <dir>         a scenario dataset ('syswarden scenario run --out <dir>') instead of traces: a
                          model per scenario, normal runs split (seeded) to train and calibrate / to test,
                          every attack run tested; reports detection rate, false alarms per normal run,
                          first-alarm delay after the attack's start, and LID-DS's consecutive false alarms.
                          --normal, --attack, --split, --filter, --format, --lenient, --abi do not apply
  --sample <n>            evaluate a seeded sample of at most n normal and n attack traces (the attack
                          traces shared among their kinds), read before anything else: for a dataset too
                          large to hold (eval keeps every call it reads, and every window it trains on, in memory)
  --json <out>            also write the records as JSON lines, each as soon as it is done
  --force                 replace --json if it exists
  -h, --help              this text

The dataset is read from $SYSWARDEN_DATASET (default ../shared/datasets/hids-docker beside the project).`;

function usageError(message: string): SyswardenError {
  return new SyswardenError('ERR_USAGE', `eval: ${message}\n\n${HELP}`);
}

function list(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v.length > 0);
}


function parseWindows(values: string[]): number[] {
  const sizes = values.length ? values : ['3', '5', '7', '9', '11', '13', '15'];
  return [...new Set(sizes.map((v) => parseInteger('window', v, { min: 3, max: 15 })!))].sort((a, b) => a - b);
}

const fmt = (v: number | null, digits = 3) => (v === null ? '-' : v.toFixed(digits));

/** A header that says what is measured and how. */
export function formatHeader(c: { normal: number; attack: number; split: Split; seed: number; budget: number; frame: number }): string {
  return [
    `normal: ${c.normal} traces, attack: ${c.attack} traces; split ${c.split}, seed ${c.seed}`,
    `thresholds: calibrated on normal training traces only, to a budget of ${c.budget} false alarms per normal trace;`,
    `  a trace alarms when the mean score of ${c.frame} consecutive windows of a thread, less their w highest (w = the window size),`,
    `  reaches the threshold (one call displaced in time changes at most w windows: it alone never alarms).`,
    c.split === 'trace'
      ? `columns: detected / falseAlarm = attack / normal test traces that alarm at that threshold; AUC and DR@FA = the best any`
      : `columns: window-level precision, recall and F1 of the attack class at the calibrated threshold (normF1: normal class).`,
    ...(c.split === 'trace' ? [`  threshold could do at that false-alarm rate (hindsight, chosen on test labels: not an operating point).`] : []),
  ].join('\n');
}

/** Per detector and window: the calibrated operating point, then the hindsight figures (trace split) or window-level F1. */
export function formatTable(records: readonly EvalRecord[]): string {
  const lines: string[] = [];
  const groups = new Map<string, EvalRecord[]>();
  for (const r of records) {
    const key = `filter=${r.filter} split=${r.split}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const [key, rows] of groups) {
    const traceSplit = rows[0]?.split === 'trace';
    lines.push(`\n${key}`);
    const head = traceSplit
      ? ['detector', 'window', 'detected', 'falseAlarm', 'expectedFA', 'AUC', 'DR@FA.01', 'DR@FA.05', 'DR@FA.10', 'fit ms', 'score ms']
      : ['detector', 'window', 'precision', 'recall', 'f1', 'normF1', 'fit ms', 'score ms'];
    lines.push(head.map((h, i) => (i < 2 ? h.padEnd(9) : h.padStart(11))).join(''));
    for (const r of rows) {
      const dr = (fa: number) => fmt(r.drAt?.find((d) => d.fa === fa)?.dr ?? null, 2);
      const cells = traceSplit
        ? [r.detector, String(r.window), fmt(r.tracesDetected, 2), fmt(r.tracesFalseAlarm, 2), fmt(r.expectedFalseAlarm, 3), fmt(r.auc), dr(0.01), dr(0.05), dr(0.1), fmt(r.fitMs, 0), fmt(r.scoreMs, 0)]
        : [r.detector, String(r.window), fmt(r.precision), fmt(r.recall), fmt(r.f1), fmt(r.normalF1), fmt(r.fitMs, 0), fmt(r.scoreMs, 0)];
      lines.push(cells.map((c, i) => (i < 2 ? c.padEnd(9) : c.padStart(11))).join(''));
    }
  }
  const started = records.filter((r) => r.startsKnown !== null);
  if (started.length > 0) {
    lines.push(`\nAttack start known (from the dataset's metadata) for ${Math.max(...started.map((r) => r.startsKnown!))} attack traces: they count as detected only by an alarm`);
    lines.push('from the start on (and their AUC by their peak from then); an alarm before it is early, as on a normal trace.');
    for (const r of started) {
      const d = [...r.delays!].sort((a, b) => a - b);
      const delay = d.length ? `first alarm ${d[Math.floor((d.length - 1) / 2)]!.toFixed(2)} s after the start (median), ${d[d.length - 1]!.toFixed(2)} s at most` : 'no alarm after the start';
      lines.push(`  ${r.detector} w=${r.window} filter=${r.filter}: ${delay}; ${r.earlyAlarms} of ${r.startsKnown} alarmed before it`);
    }
  }
  lines.push('\nThresholds (calibrated on normal training data only):');
  for (const r of records) {
    lines.push(`  ${r.detector} w=${r.window} filter=${r.filter}: ${r.threshold === null ? '-' : Number(r.threshold.toPrecision(4))} (${r.thresholdRule})${r.note ? `; ${r.note}` : ''}`);
  }
  return lines.join('\n');
}

export interface EvalArgs {
  normal: string[];
  attack: string[];
  windows: number[];
  detectors: DetectorFactory[];
  filters: FilterName[];
  split: Split;
  seed: number;
  budget: number;
  frame: number;
  threatTable: string | undefined;
  format: string;
  lenient: boolean;
  abi: Abi;
  json: string | undefined;
  force: boolean;
  dataset: string | undefined;
  sample: number | undefined;
}

/** The checked options of `eval`; throws an ERR_USAGE SyswardenError. Touches nothing outside. */
export function parse(argv: string[]): Parsed<EvalArgs> {
  const { values: v } = parseCommandArgs(
    'eval',
    argv,
    {
      normal: { type: 'string', multiple: true },
      attack: { type: 'string', multiple: true },
      window: { type: 'string', multiple: true },
      detector: { type: 'string', multiple: true },
      filter: { type: 'string', multiple: true },
      split: { type: 'string' },
      seed: { type: 'string' },
      'false-alarms': { type: 'string' },
      frame: { type: 'string' },
      'threat-table': { type: 'string' },
      format: { type: 'string' },
      lenient: { type: 'boolean' },
      abi: { type: 'string' },
      json: { type: 'string' },
      force: { type: 'boolean' },
      dataset: { type: 'string' },
      sample: { type: 'string' },
    },
    HELP,
  );
  if (v.help) return { help: true };
  const split = (v.split ?? 'trace') as Split;
  if (!(SPLITS as readonly string[]).includes(split)) throw usageError(`--split ${split} is unknown; use one of ${SPLITS.join(', ')}.`);
  const seed = parseInteger('seed', v.seed, { min: 0, max: 2 ** 32 - 1 }) ?? 1;
  const budget = parseDecimal('false-alarms', v['false-alarms'], { min: 0.000001, max: 0.5, unit: 'normal traces that may alarm (a share)' }) ?? DEFAULT_BUDGET.trace;
  const frame = parseInteger('frame', v.frame, { min: 1, max: MAX_FRAME }) ?? DEFAULT_FRAME;
  const windows = parseWindows(list(v.window));
  const detectors = asUsage(() => parseDetectorList(list(v.detector).length ? list(v.detector) : ['all']));
  const filters = [...new Set(list(v.filter).length ? list(v.filter).map((f) => asUsage(() => parseFilterName(f))) : (['none'] as FilterName[]))];
  const format = v.format ?? 'auto';
  const formatNames = traceFormats().map((f) => f.name);
  if (format !== 'auto' && !formatNames.includes(format)) throw usageError(`--format ${format} is unknown; use auto or one of ${formatNames.join(', ')}.`);
  if (v.json === '') throw usageError('--json needs a file name.');
  if (v.dataset !== undefined) {
    if (v.dataset === '') throw usageError('--dataset needs a directory.');
    const traceOnly = (['normal', 'attack', 'split', 'filter', 'threat-table', 'format', 'lenient', 'abi', 'sample'] as const).filter((k) => v[k] !== undefined);
    if (traceOnly.length > 0) throw usageError(`--${traceOnly[0]} does not apply to --dataset (a scenario dataset carries its labels, runs and syscall numbering).`);
  }
  return {
    help: false,
    normal: list(v.normal),
    attack: list(v.attack),
    windows,
    detectors,
    filters,
    split,
    seed,
    budget,
    frame,
    threatTable: v['threat-table'],
    format,
    lenient: v.lenient === true,
    abi: asUsage(() => parseAbi(v.abi ?? 'x86_64')),
    json: v.json,
    force: v.force === true,
    dataset: v.dataset,
    sample: parseInteger('sample', v.sample, { min: 2, max: 1_000_000_000 }),
  };
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const { split, seed, windows, detectors, filters, budget, frame } = args;
  // A report that could not be written is found out now, not after the whole evaluation.
  if (args.json !== undefined) checkOutputPath(args.json, { what: 'JSON report', force: args.force });
  if (args.dataset !== undefined) return runOnDataset(args, args.dataset);

  let normalSpecs = args.normal;
  let attackSpecs = args.attack;
  if (normalSpecs.length === 0 || attackSpecs.length === 0) {
    // Only what the defaults need: a missing part says which one, where it was looked for and where the dataset comes from.
    const needs = [...(normalSpecs.length === 0 ? [STAND_IN.normal] : []), ...(attackSpecs.length === 0 ? [STAND_IN.attack] : [])];
    const root = requireDataset(needs, 'pass --normal and --attack explicitly');
    // The study's SBSeg normal trace is not in the snapshot; its closest stand-in is the ISCC normal set.
    if (normalSpecs.length === 0) normalSpecs = [join(root, STAND_IN.normal)];
    if (attackSpecs.length === 0) attackSpecs = [join(root, STAND_IN.attack)];
  }
  const readOpts = { lenient: args.lenient, format: args.format, abi: args.abi };
  const skips = emptySkips();
  let normalPaths = expandPaths(normalSpecs, '--normal');
  let attackPaths = expandPaths(attackSpecs, '--attack');
  let sampleLine: string | undefined;
  if (args.sample !== undefined) {
    // Drawn from the file names, before any is read: what is left out costs nothing.
    const tags = [...normalPaths.map((p) => ({ label: 0 as const, kind: traceKind(p, 0) })), ...attackPaths.map((p) => ({ label: 1 as const, kind: traceKind(p, 1) }))];
    const sample = sampleTraces(tags, args.sample, seed);
    const kept = new Set(sample.keep);
    const n = normalPaths.length;
    normalPaths = normalPaths.filter((_, i) => kept.has(i));
    attackPaths = attackPaths.filter((_, i) => kept.has(n + i));
    sampleLine = sample.description;
  }
  const normal = await loadTraces(normalPaths, 0, readOpts, skips);
  const attack = await loadTraces(attackPaths, 1, readOpts, skips);
  if (skips.files > 0) {
    console.error(`syswarden: --lenient skipped ${skips.malformed} malformed and ${skips.unknownSyscall} unknown-syscall lines in ${skips.files} files (first: ${skips.example}).`);
  }
  if (skips.warned > 0) console.error(`syswarden: warning: ${skips.warned} file(s) read only in part (first: ${skips.warning}).`);
  if (skips.contradicted > 0) {
    console.error(`syswarden: warning: ${skips.contradicted} trace(s) given with another label than their dataset's runs.csv gives them (first: ${skips.contradiction}). Fix: give each recording to --normal or --attack as its table says.`);
  }
  const threatTable = filters.includes('harmless') ? await loadThreatTable(args.threatTable ?? defaultThreatTablePath()) : undefined;

  // A split that cannot be made is refused before anything is printed.
  const splitLine = split === 'trace' ? `${asUsage(() => splitTraces([...normal, ...attack], seed)).description} One-class detectors are tested on every attack trace.` : undefined;
  console.log(formatHeader({ normal: normal.length, attack: attack.length, split, seed, budget, frame }));
  if (sampleLine) console.log(sampleLine);
  if (splitLine) console.log(splitLine);
  if (threatTable) console.log(`threat table: ${threatTable.source}`);
  if (normalSpecs.some((s) => s.startsWith(datasetPath()))) console.log(`dataset: ${datasetPath()}`);

  // Each record is written (and synced) as soon as it is done: a killed run keeps what it finished.
  const out = args.json !== undefined ? new RecordFile(args.json, { what: 'JSON report', force: args.force }) : undefined;
  try {
    const records = await runEvaluation(
      { normal, attack, windows, detectors, filters, split, seed, budget, frame, ...(threatTable ? { threatTable } : {}) },
      progressReporter('eval'),
      (r) => out?.append(JSON.stringify(r)),
    );
    console.log(formatTable(records));
  } finally {
    out?.close();
  }
  if (out !== undefined) console.log(`\nwrote ${out.records} records to ${out.path} (JSON lines)`);
  return 0;
}

const secs = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(2));

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Per scenario, then overall: the operating point at the calibrated threshold, in runs and seconds. */
export function formatScenarioTable(records: readonly ScenarioEvalRecord[]): string {
  const head = ['scenario', 'detector', 'window', 'detected', 'DR', 'FA runs', 'FA rate', 'early', 'CFA', 'delay p50', 'delay max', 'AUC'];
  const widths = [18, 9, 7, 10, 6, 9, 8, 6, 5, 10, 10, 6];
  const row = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' ');
  const lines = [row(head)];
  for (const r of records) {
    lines.push(
      row([
        r.scenario, r.detector, String(r.window), `${r.detected}/${r.attackRuns}`, fmt(r.detectionRate, 2), `${r.falseAlarmRuns}/${r.normalTest}`, fmt(r.falseAlarmRate, 2),
        String(r.earlyAlarmRuns), String(r.consecutiveFalseAlarms), secs(median(r.delays)), secs(r.delays.length ? Math.max(...r.delays) : undefined), fmt(r.auc, 2),
      ]),
    );
  }
  const notes = records.filter((r) => r.note).map((r) => `  ${r.scenario} ${r.detector} w=${r.window}: ${r.note}`);
  return [...lines, ...(notes.length ? ['notes:', ...notes] : [])].join('\n');
}

async function runOnDataset(args: EvalArgs, dir: string): Promise<number> {
  const { evaluateScenarios, overall } = await import('../scenario/evaluate.js');
  const { readDataset } = await import('../scenario/dataset.js');
  const scenarios = await readDataset(dir);
  const { windows, detectors, seed, budget, frame } = args;
  console.log(
    [
      `dataset ${dir}: ${scenarios.map((s) => `${s.scenario} (${s.runs.filter((r) => r.label.kind === 'normal').length} normal, ${s.runs.filter((r) => r.label.kind === 'attack').length} attack runs)`).join(', ')}; seed ${seed}`,
      `a model per scenario, trained and calibrated on half its normal runs (seeded) to a budget of ${budget} false alarms per normal run;`,
      `  tested on the other normal runs and every attack run (supervised detectors: the attack runs they did not learn from).`,
      `columns: detected = attack runs with an alarm at or after the attack's start; FA = normal test runs with any alarm;`,
      `  early = attack runs that alarmed before the attack; CFA = LID-DS's consecutive false alarms (each run of alarming`,
      `  windows in normal time counted once); delay = seconds from the attack's start to the first alarm; AUC = run-level peaks.`,
    ].join('\n'),
  );
  const out = args.json !== undefined ? new RecordFile(args.json, { what: 'JSON report', force: args.force }) : undefined;
  try {
    const records = await evaluateScenarios({ scenarios, detectors, windows, seed, budget, frame }, progressReporter('eval'), (r) => out?.append(JSON.stringify(r)));
    const pooled = overall(records);
    for (const r of pooled) out?.append(JSON.stringify(r));
    console.log(`\n${formatScenarioTable(records)}\n\noverall (all scenarios pooled)\n${formatScenarioTable(pooled)}`);
  } finally {
    out?.close();
  }
  if (out !== undefined) console.log(`\nwrote ${out.records} records to ${out.path} (JSON lines; scenario "all" = pooled)`);
  return 0;
}
