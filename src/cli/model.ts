import { statSync } from 'node:fs';
import { join } from 'node:path';
import { imageIdHex } from '../capture/runtime.js';
import { formatBudget, formatCalibration } from '../detect/calibration.js';
import type { LearntTable } from '../detect/detector.js';
import { heldOutParts } from '../detect/held-out.js';
import { lineageOf, mergeModels, modelDigest, type MergeInput } from '../detect/merge.js';
import { MODEL_FORMAT, modelFromBytes, readModelBytes } from '../detect/model-file.js';
import { SyswardenError, isSyswardenError } from '../errors.js';
import { checkOutputPath, writeFileSafely } from '../io/safe-file.js';
import { syscallName } from '../trace/syscalls.js';
import { buildIdentity, formatBuildIdentity, type BuildIdentity } from '../version.js';
import { parseCommandArgs, parseDecimal, parseInteger } from './args.js';

const HELP = `usage: syswarden model info <model> [--json]
       syswarden model merge <model> <model>... --out <file|dir> [--image <id>] [--false-alarms <rate>] [--seed <n>] [--force]
       syswarden model diff <model-a> <model-b> [--json] [--examples <n>]

info   what a model is: detector, window, budget and threshold, what it was
       trained on, the image it is for, and the build that wrote it (compare
       with 'syswarden --version').
merge  one model from models of one workload learnt on several hosts (or
       runs): their normal profiles joined, the threshold set again on the
       normal windows each model keeps from its training (see docs/fleet.md).
       --out <dir>: written as <dir>/<image id>.model, the name
       'watch --all-containers --models <dir>' looks for first.
       --image <id>: the image the merged model is for (default: the one all
       inputs were learnt on; inputs learnt on different images are refused
       without it). --false-alarms: the merged budget, in the inputs' unit
       (default: theirs, which must agree).
diff   what one model has learnt that the other has not (windows, bags or
       transitions present in one only, and counts that differ), thresholds
       side by side. Exit 0: the same; 1: different; 2: an error.`;

type Sub = 'info' | 'merge' | 'diff';

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    console.log(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (!(['info', 'merge', 'diff'] as const).includes(sub as Sub)) throw new SyswardenError('ERR_USAGE', `model: unknown subcommand '${sub}'. Use info, merge or diff.\n\n${HELP}`);
  if (sub === 'info') return info(rest);
  if (sub === 'merge') return merge(rest);
  // diff's exit codes are diff's: an error is 2, whatever kind.
  try {
    return await diff(rest);
  } catch (e) {
    if (!isSyswardenError(e)) throw e;
    console.error(`syswarden: ${e.message}`);
    return 2;
  }
}

async function load(path: string): Promise<MergeInput> {
  const bytes = await readModelBytes(path);
  const { detector, file } = modelFromBytes(bytes, path);
  return { where: path, file, detector, bytes };
}

/** What `model info --json` prints. */
export interface ModelInfo {
  file: string;
  digest: string;
  bytes: number;
  detector: string;
  detectorVersion: number;
  windowSize: number;
  filter: string;
  createdAt: string;
  budget: { rate: number; unit: string; text: string };
  threshold: number;
  frame: number;
  trim: number;
  expectedFalseAlarms: number;
  heldOutParts: number;
  training: { source: unknown; windows: unknown; distinct: unknown; threads: unknown; parts: number; hosts: number };
  image: { id?: string; name?: string };
  executables?: number;
  profiles?: number;
  heldOut?: { windows: number; parts: number; trainingWindows: number };
  build?: BuildIdentity;
  merged?: unknown;
  summary?: string;
}

function describe(m: MergeInput): ModelInfo {
  const f = m.file;
  const c = f.calibration;
  const merged = f.meta.merged as { inputs?: unknown[] } | undefined;
  const out: ModelInfo = {
    file: m.where,
    digest: modelDigest(m.bytes),
    bytes: m.bytes.length,
    detector: f.detector,
    detectorVersion: f.detectorVersion,
    windowSize: f.windowSize,
    filter: f.filter,
    createdAt: f.createdAt,
    budget: { rate: c.budget, unit: c.unit === 'trace' ? 'normal trace' : 'container-hour', text: formatBudget(c) },
    threshold: f.threshold,
    frame: c.frame,
    trim: c.trim,
    expectedFalseAlarms: c.expected,
    heldOutParts: c.peaks.length,
    training: { source: f.meta.source, windows: f.meta.windows, distinct: f.meta.distinct, threads: f.meta.threads, parts: c.peaks.length, hosts: lineageOf(m).length },
    image: {
      ...(typeof f.meta.imageId === 'string' ? { id: f.meta.imageId } : {}),
      ...(typeof f.meta.image === 'string' ? { name: f.meta.image } : {}),
    },
  };
  if (f.executables) out.executables = f.executables.length;
  if (f.profiles) out.profiles = f.profiles.length;
  if (f.heldOut) out.heldOut = { windows: f.heldOut.source.length, parts: heldOutParts(f.heldOut), trainingWindows: f.heldOut.partWindows.reduce((a, b) => a + b, 0) };
  if (f.build) out.build = f.build;
  if (merged) out.merged = merged;
  const summary = m.detector.summary?.();
  if (summary) out.summary = summary;
  return out;
}

async function info(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('model info', argv, { json: { type: 'boolean' } }, HELP, true);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new SyswardenError('ERR_USAGE', `model info takes one model file.\n\n${HELP}`);
  const m = await load(positionals[0]!);
  const i = describe(m);
  if (values.json) {
    console.log(JSON.stringify(i, null, 2));
    return 0;
  }
  const indent = (s: string) => s.split('\n').map((l) => `  ${l}`).join('\n');
  const here = buildIdentity(MODEL_FORMAT);
  const lines = [
    `${i.file}: ${i.detector} model (detector version ${i.detectorVersion}), windows of ${i.windowSize} calls, filter ${i.filter}`,
    `digest: ${i.digest} (${i.bytes} bytes), created ${i.createdAt}`,
    `image: ${i.image.id ?? 'id unknown'}${i.image.name ? ` (${i.image.name})` : ''}`,
    `trained on: ${String(i.training.windows ?? '?')} windows${i.training.distinct !== undefined ? ` (${String(i.training.distinct)} distinct)` : ''} in ${String(i.training.threads ?? '?')} threads, ${i.training.parts} held-out parts, ${i.training.hosts} host model(s); source: ${String(i.training.source ?? 'unknown')}`,
    `calibration:\n${indent(formatCalibration(m.file.calibration))}`,
    i.heldOut
      ? `held-out windows kept for merging: ${i.heldOut.windows} of ${i.heldOut.trainingWindows} in ${i.heldOut.parts} parts`
      : 'held-out windows kept for merging: none (written before they were kept: this model cannot be merged)',
    ...(i.executables !== undefined ? [`executables learnt: ${i.executables}`] : []),
    ...(i.profiles !== undefined ? [`per-executable profiles: ${i.profiles}`] : []),
    ...(i.summary ? [`made of:\n${indent(i.summary)}`] : []),
    i.build
      ? `written by: syswarden ${i.build.version}\n${indent(formatBuildIdentity(i.build).join('\n'))}${sameBuild(i.build, here) ? '\n  (the same build as this syswarden)' : ''}`
      : 'written by: a syswarden that did not record its build',
  ];
  const merged = m.file.meta.merged as { inputs?: Array<Record<string, unknown>> } | undefined;
  if (merged?.inputs) {
    lines.push(`merged from ${merged.inputs.length} models:`);
    for (const x of merged.inputs) lines.push(`  ${String(x.file)}: digest ${String(x.digest)}, threshold ${Number(Number(x.threshold).toPrecision(4))}, ${String(x.windows)} windows, created ${String(x.createdAt)}`);
  }
  console.log(lines.join('\n'));
  return 0;
}

function sameBuild(a: BuildIdentity, b: BuildIdentity): boolean {
  return a.version === b.version && a.commit === b.commit && a.bpf === b.bpf && a.syscalls === b.syscalls && a.modelFormat === b.modelFormat;
}

async function merge(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'model merge',
    argv,
    { out: { type: 'string', short: 'o' }, image: { type: 'string' }, 'false-alarms': { type: 'string' }, seed: { type: 'string' }, force: { type: 'boolean' } },
    HELP,
    true,
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.out) throw new SyswardenError('ERR_USAGE', `model merge needs --out <file|dir>.\n\n${HELP}`);
  if (positionals.length < 2) throw new SyswardenError('ERR_USAGE', `model merge needs two or more models, got ${positionals.length}.\n\n${HELP}`);
  const falseAlarms = parseDecimal('false-alarms', values['false-alarms'], { min: 0.000001, max: 3600, unit: "false alarms in the inputs' unit" });
  const seed = parseInteger('seed', values.seed, { min: 0, max: 2 ** 32 - 1 });
  if (values.image !== undefined && imageIdHex(values.image) === undefined) {
    throw new SyswardenError('ERR_USAGE', `--image '${values.image.slice(0, 80)}' is not an image id. Fix: give sha256:<64 hex digits> (docker image inspect --format '{{.Id}}' <image>).`);
  }
  const intoDir = isDirectory(values.out);
  if (!intoDir) checkOutputPath(values.out, { what: 'model', force: values.force === true });
  const inputs: MergeInput[] = [];
  for (const p of positionals) inputs.push(await load(p));
  const r = mergeModels(inputs, { ...(falseAlarms !== undefined ? { falseAlarms } : {}), ...(values.image ? { imageId: values.image } : {}), ...(seed !== undefined ? { seed } : {}) });
  let out = values.out;
  if (intoDir) {
    const hex = imageIdHex(r.imageId);
    if (!hex) {
      throw new SyswardenError(
        'ERR_USAGE',
        `--out ${values.out} is a directory, and the merged model is named by its image id there, which the inputs do not name. Fix: give --image sha256:<id>, or --out <file>.`,
      );
    }
    out = join(values.out, `${hex}.model`);
  }
  await writeFileSafely(out, r.bytes, { what: 'model', force: values.force === true });
  console.error(`syswarden: merged ${inputs.length} ${r.detector.name} models into ${out}`);
  console.error(formatCalibration(r.calibration).split('\n').map((l) => `  ${l}`).join('\n'));
  for (const m of inputs) console.error(`  input ${m.where}: threshold ${Number(m.file.threshold.toPrecision(4))}`);
  return 0;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** A learnt table's rows by key, with their counts (1 where the table does not count). */
function rowsOf(t: LearntTable): Map<string, number> {
  const out = new Map<string, number>();
  const n = t.rows.length / t.width;
  for (let i = 0; i < n; i++) out.set(t.rows.subarray(i * t.width, (i + 1) * t.width).join(','), t.counts?.[i] ?? 1);
  return out;
}

const named = (key: string) => key.split(',').map((x) => syscallName(Number(x))).join(' ');

interface TableDiff {
  what: string;
  a: number;
  b: number;
  onlyA: number;
  onlyB: number;
  countsDiffer: number;
  examplesOnlyA: string[];
  examplesOnlyB: string[];
}

async function diff(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('model diff', argv, { json: { type: 'boolean' }, examples: { type: 'string' } }, HELP, true);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new SyswardenError('ERR_USAGE', `model diff takes two model files.\n\n${HELP}`);
  const examples = parseInteger('examples', values.examples, { min: 0, max: 10_000 }) ?? 5;
  const [a, b] = [await load(positionals[0]!), await load(positionals[1]!)];
  const fields: Array<[string, unknown, unknown]> = [
    ['detector', a.file.detector, b.file.detector],
    ['window', a.file.windowSize, b.file.windowSize],
    ['filter', a.file.filter, b.file.filter],
    ['budget', formatBudget(a.file.calibration), formatBudget(b.file.calibration)],
    ['frame', a.file.calibration.frame, b.file.calibration.frame],
    ['threshold', a.file.threshold, b.file.threshold],
    ['expected false alarms', a.file.calibration.expected, b.file.calibration.expected],
  ];
  const tables: TableDiff[] = [];
  const ta = a.detector.learnt?.() ?? [];
  const tb = b.detector.learnt?.() ?? [];
  const comparable = a.file.detector === b.file.detector && a.file.windowSize === b.file.windowSize && ta.length > 0;
  if (comparable) {
    for (const x of ta) {
      const y = tb.find((t) => t.what === x.what && t.width === x.width);
      if (!y) continue;
      const [ra, rb] = [rowsOf(x), rowsOf(y)];
      const onlyA = [...ra.keys()].filter((k) => !rb.has(k));
      const onlyB = [...rb.keys()].filter((k) => !ra.has(k));
      const countsDiffer = [...ra].filter(([k, c]) => rb.has(k) && rb.get(k) !== c).length;
      tables.push({ what: x.what, a: ra.size, b: rb.size, onlyA: onlyA.length, onlyB: onlyB.length, countsDiffer, examplesOnlyA: onlyA.slice(0, examples).map(named), examplesOnlyB: onlyB.slice(0, examples).map(named) });
    }
  }
  const same = fields.every(([, x, y]) => x === y) && comparable && tables.every((t) => t.onlyA === 0 && t.onlyB === 0 && t.countsDiffer === 0);
  if (values.json) {
    console.log(JSON.stringify({ a: a.where, b: b.where, same, fields: fields.map(([name, x, y]) => ({ name, a: x, b: y })), learnt: comparable ? tables : null }, null, 2));
    return same ? 0 : 1;
  }
  const lines = [`a: ${a.where}`, `b: ${b.where}`];
  const num = (v: unknown) => (typeof v === 'number' ? String(Number(v.toPrecision(4))) : String(v));
  for (const [name, x, y] of fields) lines.push(`${x === y ? ' ' : '*'} ${name.padEnd(22)} ${num(x).padEnd(36)} ${num(y)}`);
  if (!comparable) lines.push(`what they learnt is not comparable (${a.file.detector} of ${a.file.windowSize} and ${b.file.detector} of ${b.file.windowSize}, or a detector without a table of what it learnt)`);
  for (const t of tables) {
    lines.push(`${t.what}s: a ${t.a}, b ${t.b}; only in a ${t.onlyA}, only in b ${t.onlyB}${t.countsDiffer > 0 ? `, counted differently ${t.countsDiffer}` : ''}`);
    for (const e of t.examplesOnlyA) lines.push(`  < ${e}`);
    for (const e of t.examplesOnlyB) lines.push(`  > ${e}`);
  }
  lines.push(same ? 'the models are the same' : 'the models differ');
  console.log(lines.join('\n'));
  return same ? 0 : 1;
}
