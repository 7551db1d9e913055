import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SyswardenError } from '../errors.js';
import { expandPaths } from '../trace/paths.js';
import { datasetPath, requireDataset } from '../trace/dataset.js';
import { defaultThreatTablePath, loadThreatTable } from '../trace/threat-levels.js';
import { traceFormats } from '../trace/read-trace.js';
import { parseFilterName, type FilterName } from '../window/filter.js';
import { DETECTOR_NAMES, parseDetectorList } from '../detect/registry.js';
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
  --seed <n>              seed for the shuffled split and randomised detectors (default 1)
  --threat-table <csv>    name,id,threat_level table for --filter harmless
                          (default: the dataset's syscalls.csv, else the built-in level-4 list)
  --format <fmt>          trace format: auto, ${traceFormats().map((f) => f.name).join(', ')} (default auto)
  --lenient               skip and count malformed lines and unknown syscalls instead of failing
  --json <out>            also write the records as JSON
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
  return [...new Set(sizes.map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 3 || n > 15) throw usageError(`--window ${v} is not an integer from 3 to 15.`);
    return n;
  }))].sort((a, b) => a - b);
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

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
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
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw usageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const split = (v.split ?? 'ordered') as Split;
  if (!(SPLITS as readonly string[]).includes(split)) throw usageError(`--split ${split} is unknown; use one of ${SPLITS.join(', ')}.`);
  const seed = v.seed === undefined ? 1 : Number(v.seed);
  if (!Number.isInteger(seed)) throw usageError(`--seed ${v.seed} is not an integer.`);
  const windows = parseWindows(list(v.window));
  const detectors = parseDetectorList(list(v.detector).length ? list(v.detector) : ['all']);
  const filters = [...new Set(list(v.filter).length ? list(v.filter).map(parseFilterName) : (['none'] as FilterName[]))];

  let normalSpecs = list(v.normal);
  let attackSpecs = list(v.attack);
  if (normalSpecs.length === 0 || attackSpecs.length === 0) {
    const root = requireDataset();
    // The study's SBSeg normal trace is not in the snapshot; its closest stand-in is the ISCC normal set.
    if (normalSpecs.length === 0) normalSpecs = [join(root, 'wordpress/iscc/normal')];
    if (attackSpecs.length === 0) attackSpecs = [join(root, 'wordpress/sbseg/exec/wordpress_exec_1_teste1')];
  }
  const readOpts = { lenient: v.lenient ?? false, format: v.format ?? 'auto' };
  const normal = await loadTraces(expandPaths(normalSpecs), 0, readOpts);
  const attack = await loadTraces(expandPaths(attackSpecs), 1, readOpts);
  const threatTable = filters.includes('harmless') ? await loadThreatTable(v['threat-table'] ?? defaultThreatTablePath()) : undefined;

  console.log(`normal: ${normal.length} traces, attack: ${attack.length} traces; split ${split}, seed ${seed}`);
  if (threatTable) console.log(`threat table: ${threatTable.source}`);
  if (normalSpecs.some((s) => s.startsWith(datasetPath()))) console.log(`dataset: ${datasetPath()}`);

  const records = await runEvaluation({ normal, attack, windows, detectors, filters, split, seed, ...(threatTable ? { threatTable } : {}) }, progressReporter());
  console.log(formatTable(records));
  if (v.json) {
    await writeFile(v.json, `${JSON.stringify(records, null, 2)}\n`);
    console.log(`\nwrote ${records.length} records to ${v.json}`);
  }
  return 0;
}
