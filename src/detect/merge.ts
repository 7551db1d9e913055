import { createHash } from 'node:crypto';
import { SyswardenError } from '../errors.js';
import type { WindowSet } from '../window/window-set.js';
import { selectWindows } from '../window/windows.js';
import { calibrationFromPeaks, checkBudget, dealFolds, type Calibration } from './calibration.js';
import { DEFAULT_FRAME, decisionScores, windowTrim } from './decision.js';
import type { Detector, DetectorFactory } from './detector.js';
import { heldOutParts, heldOutWindows, joinHeldOut, type HeldOut } from './held-out.js';
import { Hybrid, partUnit, silentPartsLoud } from './hybrid.js';
import { encodeModel, type ModelFile } from './model-file.js';
import { getDetector } from './registry.js';

/** A model to merge: where it came from (for messages), its file and its restored detector. */
export interface MergeInput {
  where: string;
  file: ModelFile;
  detector: Detector;
  /** The model file's bytes (its digest identifies it in the merged model's lineage). */
  bytes: Uint8Array;
}

export interface MergeOptions {
  /** The budget of the merged model (default: the inputs', which must then agree), in their unit. */
  falseAlarms?: number;
  /** The image id the merged model is for (default: the one all inputs name, if any). */
  imageId?: string;
  seed?: number;
}

export interface MergeResult {
  detector: Detector;
  calibration: Calibration;
  /** The model file's bytes. */
  bytes: Buffer;
  /** The image id the model is for (from --image or its inputs), if known. */
  imageId?: string;
  /** Calibration folds: held-out parts of each input scored by the others merged with the rest of that input. */
  folds: number;
}

/**
 * Folds across the merged models for recalibration: at most this many in
 * all (calibrate's leave-one-out cap), at least one per input.
 */
const MERGE_FOLDS = 25;

/** A model file's identity in a merged model's lineage: the SHA-256 of its bytes (first 16 hex digits). */
export function modelDigest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** The models a file was made from: itself, or a merged model's leaves. */
export function lineageOf(input: Pick<MergeInput, 'file' | 'bytes'>): string[] {
  const merged = input.file.meta.merged;
  const leaves = typeof merged === 'object' && merged !== null && Array.isArray((merged as { lineage?: unknown }).lineage) ? (merged as { lineage: unknown[] }).lineage : undefined;
  return leaves && leaves.every((x) => typeof x === 'string') ? (leaves as string[]) : [modelDigest(input.bytes)];
}

function mismatch(what: string): never {
  throw new SyswardenError('ERR_MODEL_MISMATCH', `${what} Fix: merge only models of one detector, window, filter and decision frame, trained the same way (the same 'syswarden train' or 'watch --learn-for' options).`);
}

/** The one value `key` has in every input, else a mismatch naming each input's. */
function agreed<T>(inputs: readonly MergeInput[], what: string, key: (m: MergeInput) => T): T {
  const values = inputs.map(key);
  if (values.some((v) => v !== values[0])) mismatch(`the models differ in ${what}: ${inputs.map((m, i) => `${m.where}: ${String(values[i])}`).join(', ')}.`);
  return values[0]!;
}

/**
 * Merges one-class models learnt on different hosts (or runs) of one
 * workload into one, and sets its threshold again.
 *
 * The merged normal profile is the union (or sum) of the inputs' (each
 * detector's merge), so it scores windows differently from every input,
 * and the inputs' thresholds do not carry over. It is recalibrated by
 * cross-validation over the inputs' held-out windows (the sample each model
 * keeps of its calibration parts, see held-out.ts): each input's parts are
 * dealt into folds, and each fold is scored by the other inputs merged with
 * a model of the rest of that input's sample, through the same frame
 * decision as alarms; each part's highest decision score is its peak, and
 * the threshold meets the budget on those peaks the way training does
 * (calibrationFromPeaks). An input's own data beyond its sample is not in
 * its fold models, so the peaks are, if anything, higher than a merged
 * model's own: the threshold errs towards fewer false alarms. With many
 * inputs (one fold each) this is leave-one-host-out: the budget is then
 * what a host the fleet has not seen should expect.
 */
export function mergeModels(inputs: readonly MergeInput[], opts: MergeOptions = {}): MergeResult {
  if (inputs.length < 2) throw new SyswardenError('ERR_USAGE', `model merge needs two or more models, got ${inputs.length}. Fix: give the models learnt on each host.`);
  const name = agreed(inputs, 'detector', (m) => m.file.detector);
  const factory = getDetector(name);
  if (!factory.merge) {
    throw new SyswardenError(
      'ERR_MODEL_MERGE',
      `${inputs[0]!.where} holds a ${name} model, which cannot be merged: only the one-class sequence detectors (hybrid, ngram, stide, bosc, markov) learn a normal profile that adds up across hosts; a ${name} model ${getDetector(name).create().supervised ? 'is a classifier trained on labelled attacks' : 'has no additive profile'}. Fix: train one ${name} model on all the hosts' recordings, or use a one-class detector.`,
    );
  }
  const size = agreed(inputs, 'window size', (m) => m.file.windowSize);
  agreed(inputs, 'syscall filter', (m) => m.file.filter);
  const frame = agreed(inputs, 'decision frame', (m) => m.file.calibration.frame);
  const trim = agreed(inputs, 'frame trim', (m) => m.file.calibration.trim);
  const unit = agreed(inputs, 'budget unit (per normal trace or per container-hour)', (m) => m.file.calibration.unit);
  const part = agreed(inputs, 'what a calibration part is (trace, stretch of time, segment)', (m) => m.file.calibration.part);
  const syscalls = new Set(inputs.map((m) => m.file.build?.syscalls).filter((x) => x !== undefined));
  if (syscalls.size > 1) mismatch(`the models were written by builds with different syscall tables (${[...syscalls].map((h) => `sha256:${h!.slice(0, 12)}`).join(', ')}), so the same number may be different calls.`);
  for (const m of inputs) {
    if (m.file.profiles !== undefined) {
      throw new SyswardenError('ERR_MODEL_MERGE', `${m.where} has per-executable profiles (train --per-exe), which merge does not combine yet. Fix: merge models trained without --per-exe.`);
    }
    if (m.file.heldOut === undefined) {
      throw new SyswardenError(
        'ERR_MODEL_MERGE',
        `${m.where} keeps no held-out normal windows (it was written before syswarden kept them, or by hand), so a merged threshold cannot be measured with it. Fix: train it again with this syswarden (or let 'watch --all-containers --save-learnt' learn it again).`,
      );
    }
  }
  const budget =
    opts.falseAlarms !== undefined
      ? checkBudget(opts.falseAlarms, unit)
      : agreed(inputs, 'false-alarm budget (give --false-alarms to choose the merged one)', (m) => m.file.calibration.budget);
  const seen = new Map<string, string>();
  for (const m of inputs) {
    for (const leaf of lineageOf(m)) {
      const other = seen.get(leaf);
      if (other !== undefined) {
        throw new SyswardenError('ERR_MODEL_MERGE', `${m.where} and ${other} were both made from model ${leaf}: its data would count twice and be held out against itself. Fix: give each host's model once.`);
      }
      seen.set(leaf, m.where);
    }
  }
  const imageId = mergedImage(inputs, opts.imageId);
  const seed = opts.seed ?? 1;
  const detectors = inputs.map((m) => m.detector);
  const heldOut = inputs.map((m) => m.file.heldOut!);
  const foldsPer = inputs.map((m, i) => Math.max(1, Math.min(heldOutParts(heldOut[i]!), Math.round(MERGE_FOLDS / inputs.length))));
  const folds = foldsPer.reduce((a, b) => a + b, 0);

  const wrap = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof SyswardenError && e.code === 'ERR_MODEL_MISMATCH') mismatch(e.message);
      throw e;
    }
  };
  // A hybrid's parts are put in units of what held-out normal data makes of the merged part, measured the same way.
  const mergeOptions = name === 'hybrid' ? wrap(() => hybridUnits(inputs, heldOut, foldsPer, seed)) : {};
  const mergeOf = (list: readonly Detector[]) => wrap(() => factory.merge!(list, mergeOptions));
  const detector = mergeOf(detectors);
  const freshOptions = { seed, ...(detector.calibrationOptions?.() ?? {}) };
  const measured = foldPeaks(detectors, heldOut, foldsPer, size, seed, frame, trim, (others, learn) => {
    const fresh = learn ? [fitted(factory, freshOptions, learn)] : [];
    return mergeOf([...others, ...fresh]);
  });
  const peaks = measured.parts;
  const partHours = unit === 'hour' ? inputs.reduce((h, m, i) => h + m.file.calibration.partHours * heldOutParts(heldOut[i]!), 0) / peaks.length : 0;
  const calibration = calibrationFromPeaks(
    Float64Array.from(peaks).sort(),
    {
      budget,
      unit,
      part,
      partHours,
      frame,
      trim,
      folds,
      // The samples hold the windows around each part's peak: their streams' peaks lean high, so this tail errs towards quiet.
      streamPeaks: Float64Array.from(measured.streams).sort(),
      how: `${folds} folds across ${inputs.length} merged models: each scored by the others merged with the rest of its own, frame means`,
    },
    detector,
  );
  const windows = inputs.reduce((n, m) => n + numberIn(m.file.meta, 'windows'), 0);
  const executables = inputs.every((m) => m.file.executables !== undefined) ? inputs.flatMap((m) => m.file.executables!) : undefined;
  const meta: Record<string, unknown> = {
    source: 'merge',
    windows,
    ...(inputs.every((m) => typeof m.file.meta.threads === 'number') ? { threads: inputs.reduce((n, m) => n + numberIn(m.file.meta, 'threads'), 0) } : {}),
    merged: {
      inputs: inputs.map((m) => ({ file: m.where, digest: modelDigest(m.bytes), threshold: m.file.threshold, windows: numberIn(m.file.meta, 'windows'), createdAt: m.file.createdAt })),
      lineage: [...seen.keys()],
    },
    ...(imageId ? { imageId } : {}),
    ...(commonImageName(inputs) ? { image: commonImageName(inputs) } : {}),
  };
  const bytes = encodeModel(detector, calibration, {
    filter: inputs[0]!.file.filter,
    meta,
    heldOut: joinHeldOut(heldOut, size),
    ...(executables ? { executables } : {}),
  });
  return { detector, calibration, bytes, folds, ...(imageId ? { imageId } : {}) };
}

function numberIn(meta: Record<string, unknown>, key: string): number {
  const v = meta[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** The image id given, or the one every input names; inputs naming different ones are refused without one given. */
function mergedImage(inputs: readonly MergeInput[], given: string | undefined): string | undefined {
  if (given !== undefined) return given;
  const ids = inputs.map((m) => (typeof m.file.meta.imageId === 'string' ? m.file.meta.imageId : undefined));
  const known = [...new Set(ids.filter((x) => x !== undefined))];
  if (known.length > 1) {
    throw new SyswardenError(
      'ERR_MODEL_MISMATCH',
      `the models were learnt on different images (${inputs.map((m, i) => `${m.where}: ${ids[i] ?? 'unknown'}`).join(', ')}). Fix: merge models of one image, or give --image <id> to name the image the merged model is for.`,
    );
  }
  return known.length === 1 && ids.every((x) => x !== undefined) ? known[0] : undefined;
}

function commonImageName(inputs: readonly MergeInput[]): string | undefined {
  const names = new Set(inputs.map((m) => m.file.meta.image));
  const only = [...names][0];
  return names.size === 1 && typeof only === 'string' ? only : undefined;
}

function fitted(factory: Pick<DetectorFactory, 'create'>, options: Record<string, unknown>, windows: WindowSet): Detector {
  const d = factory.create(options);
  d.fit(windows);
  return d;
}

interface FoldPeaks {
  /** The peak of each held-out part, all inputs, and of those a frame long or longer (hybrid units). */
  parts: number[];
  longParts: number[];
  /** The peak of each held-out stream. */
  streams: number[];
}

/**
 * Scores every input's held-out windows by fold models: input i's parts are
 * dealt into foldsPer[i] folds; fold f is scored by model(the other inputs'
 * detectors, a model fitted on i's other folds, or undefined with one fold).
 */
function foldPeaks(
  detectors: readonly Detector[],
  heldOut: readonly HeldOut[],
  foldsPer: readonly number[],
  size: number,
  seed: number,
  frame: number,
  trim: number,
  model: (others: Detector[], learn: WindowSet | undefined) => Detector,
): FoldPeaks {
  const out: FoldPeaks = { parts: [], longParts: [], streams: [] };
  heldOut.forEach((h, i) => {
    const all = heldOutWindows(h, size);
    const others = detectors.filter((_, j) => j !== i);
    const parts = Array.from({ length: heldOutParts(h) }, (_, p) => p);
    const foldOf = dealFolds(parts, foldsPer[i]!, seed);
    for (let f = 0; f < foldsPer[i]!; f++) {
      const held: number[] = [];
      const learn: number[] = [];
      for (let k = 0; k < all.count; k++) (foldOf.get(h.part[k]!) === f ? held : learn).push(k);
      if (held.length === 0) continue;
      const m = model(others, learn.length > 0 ? selectWindows(all, learn) : undefined);
      const set = selectWindows(all, held);
      const decided = decisionScores(set, m.score(set), frame, trim);
      const partPeak = new Map<number, { max: number; n: number }>();
      const streamPeak = new Map<number, number>();
      for (let k = 0; k < set.count; k++) {
        const p = partPeak.get(h.part[held[k]!]!) ?? { max: 0, n: 0 };
        p.max = Math.max(p.max, decided[k]!);
        p.n++;
        partPeak.set(h.part[held[k]!]!, p);
        streamPeak.set(set.source![k]!, Math.max(streamPeak.get(set.source![k]!) ?? 0, decided[k]!));
      }
      for (const p of partPeak.values()) {
        out.parts.push(p.max);
        if (p.n >= frame) out.longParts.push(p.max);
      }
      out.streams.push(...streamPeak.values());
    }
  });
  return out;
}

/**
 * The units of a merged hybrid's parts: each part merged across the inputs
 * is measured on the held-out windows by the same folds as the threshold
 * (at the default frame, as training measures them), then put in units as
 * training does (partUnit, silentPartsLoud).
 */
function hybridUnits(inputs: readonly MergeInput[], heldOut: readonly HeldOut[], foldsPer: readonly number[], seed: number): Record<string, unknown> {
  const hybrids = inputs.map((m) => m.detector as Hybrid);
  const size = hybrids[0]!.windowSize;
  const partsOf = hybrids.map((h) => h.partModels);
  // A first merge with unit scales: which parts stay, and their merged bounds.
  const probe = Hybrid.merge(hybrids, { scales: partsOf[0]!.map(() => 1) });
  const merged = probe.partModels;
  const trim = windowTrim(size, DEFAULT_FRAME);
  const measured = merged.map(({ name, detector }, p) => {
    if (!detector) return { scale: 1, silent: false };
    const factory = getDetector(name);
    const peaks = foldPeaks(partsOf.map((ps) => ps[p]!.detector!), heldOut, foldsPer, size, seed, DEFAULT_FRAME, trim, (others, learn) =>
      factory.merge!([...others, ...(learn ? [fitted(factory, { seed }, learn)] : [])]),
    );
    return partUnit(peaks.parts, peaks.longParts, detector.maxScore(), size);
  });
  return { scales: silentPartsLoud(merged.map((m) => m.detector), measured) };
}
