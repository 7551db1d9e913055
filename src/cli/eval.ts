import { join } from 'node:path';
import { SyswardenError } from '../errors.js';
import { checkOutputPath, writeFileSafely } from '../io/safe-file.js';
import { expandPaths } from '../trace/paths.js';
import { STAND_IN, datasetPath, requireDataset } from '../trace/dataset.js';
import { defaultThreatTablePath, loadThreatTable } from '../trace/threat-levels.js';
import { traceFormats } from '../trace/read-trace.js';
import { parseFilterName, type FilterName } from '../window/filter.js';
import { DETECTOR_NAMES, parseDetectorList } from '../detect/registry.js';
import type { DetectorFactory } from '../detect/detector.js';
import { asUsage, parseCommandArgs, parseInteger, type Parsed } from './args.js';
import { SPLITS, loadTraces, runEvaluation, type EvalRecord, type Progress, type Split } from '../detect/evaluation.js';

const HELP = `usage: syswarden eval [options]

Trains and tests detectors on labelled traces, the reference study's way.

  --normal <files|dirs>   normal traces (comma-separated or repeated; a dir means every file in it)
  --attack <files|dirs>   attack traces (same form)
                          default for both: the study's stand-in from the dataset
                          (iscc/normal/* as normal, sbseg/exec/wordpress_exec_1_teste1 as attack)
  --window <list>         window sizes, 3..15 (default 3,5,7,9,11,13,15)
  --detector <list>       ${DETECTOR_NAMES.join(', ')} or all (default all)
  --filter <list>         none, harmless, or none,harmless for both (default none)
  --split <kind>          ordered (first half of each class's windows trains), shuffled (seeded 50/50),
                          trace (first half of the normal files trains; the rest and all attack files test)
                          (default ordered)
  --seed <n>              seed for the shuffled split and randomised detectors, 0 to 4294967295 (default 1)
  --threat-table <csv>    name,id,threat_level table for --filter harmless
                          (default: the dataset's syscalls.csv, else the built-in level-4 list)
  --format <fmt>          trace format: auto, ${traceFormats().map((f) => f.name).join(', ')} (default auto)
  --lenient               skip and count malformed lines and unknown syscalls instead of failing
  --json <out>            also write the records as JSON
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

/** Progress on stderr: a redrawn bar on a terminal, one plain line per step otherwise (logs, CI). */
function progressReporter(): (p: Progress) => void {
  const tty = process.stderr.isTTY === true;
  return ({ done, total, label }) => {
    if (tty) {
      const width = 30;
      const filled = total === 0 ? width : Math.round((done / total) * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`.padEnd(80) + (done === total ? '\n' : ''));
    } else if (done < total) {
      process.stderr.write(`eval: ${done + 1}/${total} ${label}\n`);
    }
  };
}

const fmt = (v: number | null, digits = 3) => (v === null ? '-' : v.toFixed(digits));

/** The study's layout: per detector and window, attack-class precision/recall/F1 and the normal-class F1. */
export function formatTable(records: readonly EvalRecord[]): string {
  const lines: string[] = [];
  const groups = new Map<string, EvalRecord[]>();
  for (const r of records) {
    const key = `filter=${r.filter} split=${r.split}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const [key, rows] of groups) {
    const traceSplit = rows[0]?.split === 'trace';
    lines.push(`\n${key}   (attack is the positive class; normF1 = F1 of the normal class)`);
    const head = ['detector', 'window', 'precision', 'recall', 'f1', 'normF1', ...(traceSplit ? ['detected', 'falseAlarm'] : []), 'fit ms', 'score ms'];
    lines.push(head.map((h, i) => (i < 2 ? h.padEnd(9) : h.padStart(10))).join(''));
    for (const r of rows) {
      const cells = [r.detector, String(r.window), fmt(r.precision), fmt(r.recall), fmt(r.f1), fmt(r.normalF1),
        ...(traceSplit ? [fmt(r.tracesDetected, 2), fmt(r.tracesFalseAlarm, 2)] : []), fmt(r.fitMs, 0), fmt(r.scoreMs, 0)];
      lines.push(cells.map((c, i) => (i < 2 ? c.padEnd(9) : c.padStart(10))).join(''));
    }
  }
  lines.push('\nThresholds (set from training data only):');
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
  threatTable: string | undefined;
  format: string;
  lenient: boolean;
  json: string | undefined;
  force: boolean;
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
      'threat-table': { type: 'string' },
      format: { type: 'string' },
      lenient: { type: 'boolean' },
      json: { type: 'string' },
      force: { type: 'boolean' },
    },
    HELP,
  );
  if (v.help) return { help: true };
  const split = (v.split ?? 'ordered') as Split;
  if (!(SPLITS as readonly string[]).includes(split)) throw usageError(`--split ${split} is unknown; use one of ${SPLITS.join(', ')}.`);
  const seed = parseInteger('seed', v.seed, { min: 0, max: 2 ** 32 - 1 }) ?? 1;
  const windows = parseWindows(list(v.window));
  const detectors = asUsage(() => parseDetectorList(list(v.detector).length ? list(v.detector) : ['all']));
  const filters = [...new Set(list(v.filter).length ? list(v.filter).map((f) => asUsage(() => parseFilterName(f))) : (['none'] as FilterName[]))];
  const format = v.format ?? 'auto';
  const formatNames = traceFormats().map((f) => f.name);
  if (format !== 'auto' && !formatNames.includes(format)) throw usageError(`--format ${format} is unknown; use auto or one of ${formatNames.join(', ')}.`);
  if (v.json === '') throw usageError('--json needs a file name.');
  return {
    help: false,
    normal: list(v.normal),
    attack: list(v.attack),
    windows,
    detectors,
    filters,
    split,
    seed,
    threatTable: v['threat-table'],
    format,
    lenient: v.lenient === true,
    json: v.json,
    force: v.force === true,
  };
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const { split, seed, windows, detectors, filters } = args;
  // A report that could not be written is found out now, not after the whole evaluation.
  if (args.json !== undefined) checkOutputPath(args.json, { what: 'JSON report', force: args.force });

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
  const readOpts = { lenient: args.lenient, format: args.format };
  const normal = await loadTraces(expandPaths(normalSpecs, '--normal'), 0, readOpts);
  const attack = await loadTraces(expandPaths(attackSpecs, '--attack'), 1, readOpts);
  const threatTable = filters.includes('harmless') ? await loadThreatTable(args.threatTable ?? defaultThreatTablePath()) : undefined;

  console.log(`normal: ${normal.length} traces, attack: ${attack.length} traces; split ${split}, seed ${seed}`);
  if (threatTable) console.log(`threat table: ${threatTable.source}`);
  if (normalSpecs.some((s) => s.startsWith(datasetPath()))) console.log(`dataset: ${datasetPath()}`);

  const records = await runEvaluation({ normal, attack, windows, detectors, filters, split, seed, ...(threatTable ? { threatTable } : {}) }, progressReporter());
  console.log(formatTable(records));
  if (args.json !== undefined) {
    await writeFileSafely(args.json, `${JSON.stringify(records, null, 2)}\n`, { what: 'JSON report', force: args.force });
    console.log(`\nwrote ${records.length} records to ${args.json}`);
  }
  return 0;
}
