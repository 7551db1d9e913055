import { SyswardenError } from '../errors.js';
import { selectWindows, sliceWindows } from '../window/windows.js';
import type { WindowSet } from '../window/window-set.js';
import { checkFitted, indicesLabelled, requireWindows } from './common.js';
import { DEFAULT_FRAME, decisionScores, windowTrim } from './decision.js';
import { dealFolds, segmentParts, thresholdFromPeaks } from './calibration.js';
import type { Detector, DetectorFactory, LearntTable } from './detector.js';
import { mergeInputs } from './lib/mergeable.js';
import { factory as bosc } from './bosc.js';
import { factory as markov } from './markov.js';
import { factory as ngram } from './ngram.js';
import { factory as stide } from './stide.js';
import { badState, restoring, stateNumber, stateObject, stateWindowSize } from './lib/state.js';

/**
 * The one-class sequence detectors a hybrid can combine: each sees a
 * different side of a window (its order, its mix of calls).
 */
const PARTS: ReadonlyMap<string, DetectorFactory> = new Map(
  ([ngram, bosc, markov, stide] as DetectorFactory[]).map((f) => [f.name, f]),
);

/** Order (transitions) and mix (the bag of calls): what each misses, the other sees. */
export const DEFAULT_HYBRID_PARTS = 'ngram+bosc';

/**
 * Search work per window (workPerWindow) above which a part is left out of
 * the model, measured on held-out normal windows in fit(). bosc's
 * nearest-bag search runs once per distinct unseen bag. Measured (normal bags
 * compared per held-out window, fitting on all of a set's normal data): ISCC 0.17 at
 * window 7 and 10 at window 15; the scenario dataset at most 0.15 up to
 * window 7 and 79 at window 15 (postgres); the benchmark's busy container
 * (most requests near-unique) 0.9 at window 3, 250 at window 7 and 1 700 at
 * window 15, where bosc, kept, scored new windows at 5*10^4/s (window 7)
 * and a live container makes 10^5-10^6 calls/s. There the data keeps making
 * new bags, so bosc's novelty is weak evidence as well as costly: the other
 * parts score alone, and the model says so (summary()). The limit sits
 * between the two: 2.5 times the most real data needed, 1.25 times under
 * the busy container's least.
 */
export const WORK_LIMIT = 200;
/** Held-out windows scored between two looks at a part's search work; the first look comes after WORK_FIRST_LOOK windows (the first windows of a fold are all cache misses). */
const WORK_CHUNK = 4096;
const WORK_FIRST_LOOK = 16_384;

/** Most held-out folds used to measure each part's normal peaks in fit(). */
const SCALE_FOLDS = 5;
/** A part's unit is its own alarm level on held-out normal parts (traces, stretches of time) at this share of them (the default budget per trace). */
const SCALE_RATE = 0.05;

export interface HybridOptions {
  /** Parts joined by '+', e.g. 'ngram+bosc' (the default). */
  parts: string;
  seed: number;
  /** Each part's unit, in the order of parts: given, fit() uses them instead of measuring (calibration's fold models). */
  scales: number[];
  /** Parts to leave out, by name, with why (calibration's fold models: what the model left out). */
  left: Record<string, string>;
}

const VERSION = 1;

interface PartState {
  name: string;
  version: number;
  /** The part's score that counts as one unit of the hybrid's score. */
  scale: number;
  state: unknown;
  /** Present when the part was left out of the model (no state): why. */
  left?: string;
}

interface HybridState {
  windowSize: number;
  parts: PartState[];
}

function parsePartNames(spec: unknown): string[] {
  if (typeof spec !== 'string') throw new SyswardenError('ERR_INVALID_INPUT', `hybrid: parts must be names joined by '+', e.g. '${DEFAULT_HYBRID_PARTS}'.`);
  const names = spec.split('+').map((s) => s.trim());
  const known = [...PARTS.keys()].join(', ');
  if (names.length < 2 || names.some((n) => !PARTS.has(n)) || new Set(names).size !== names.length) {
    throw new SyswardenError(
      'ERR_INVALID_INPUT',
      `hybrid: parts '${spec.slice(0, 80)}' are not two or more different one-class sequence detectors. Fix: join names from ${known} with '+', e.g. '${DEFAULT_HYBRID_PARTS}'.`,
    );
  }
  return names;
}

/**
 * A one-class detector that looks at a window two ways at once: by the order
 * of its calls (ngram's transitions) and by their mix (bosc's bag). An
 * attack that replays a normal sequence in an unusual proportion (a path
 * traversal's extra opens and listings) moves the mix and not the order; one
 * that runs the usual calls in a new order (a shell spawned where none was)
 * moves the order. Either alone misses one of them.
 *
 * The parts' scores have different units (nats per transition, a share of
 * the bag), so each is first put in units of what normal data makes of it:
 * in fit(), each part is trained on all but one fold of the normal parts
 * that calibration holds out (traces, or stretches of live time) and scores
 * the held-out fold through the same frame decision as alarms use; the
 * part's own alarm level on the peaks of those held-out parts (at the
 * default budget, see thresholdFromPeaks) is one unit of that part, and a
 * part that no held-out frame moved at all is made loud (silentPartsLoud).
 * A unit is measured on the parts the threshold is set on, not on their
 * threads: a trace's peak is the highest of its threads' peaks, and a part
 * whose noise is wide (ngram's) reaches further above its threads' own
 * level in a trace of many threads than a part that is quiet on normal data
 * (bosc's). Thread-level units left the wide part several units high at
 * the trace level, set the threshold there and drowned the quiet part
 * (all 10 path traversals missed at window 3 on the scenario dataset: 0/10,
 * 10/10 with units of the calibration's parts).
 * (Measured once, by the model itself: calibration's fold models are given
 * the same units, so the threshold is set on the scale the model scores on;
 * units measured afresh by every fold model moved the scale under it.)
 * A window's hybrid score is the highest of its parts' scores in those
 * units: a part whose noise is wide (ngram's, on a varied application)
 * drowns one that separates cleanly (bosc's, on a traversal) less than it
 * did in a sum. The model's threshold is then calibrated on it like any
 * other detector's (calibration.ts).
 */
export class Hybrid implements Detector {
  readonly name = 'hybrid';
  readonly version = VERSION;
  readonly supervised = false;
  windowSize = 0;
  private readonly partNames: string[];
  private readonly seed: number;
  private readonly givenScales: number[] | undefined;
  private readonly givenLeft: Record<string, string>;
  /** Per part: its fitted model, or undefined when it was left out (see leftWhy). */
  private parts: (Detector | undefined)[] = [];
  private scales: number[] = [];
  private leftWhy: (string | undefined)[] = [];
  private buffer = new Float64Array(0);

  constructor(opts: Partial<HybridOptions> = {}) {
    this.partNames = parsePartNames(opts.parts ?? DEFAULT_HYBRID_PARTS);
    this.seed = opts.seed ?? 1;
    const given = opts.scales;
    if (given !== undefined && (!Array.isArray(given) || given.length !== this.partNames.length || given.some((x) => !(typeof x === 'number' && x > 0 && Number.isFinite(x))))) {
      throw new SyswardenError('ERR_INVALID_INPUT', `hybrid: scales must be ${this.partNames.length} positive numbers, one per part (${this.partNames.join(', ')}).`);
    }
    this.givenScales = given && [...given];
    const left = opts.left ?? {};
    if (typeof left !== 'object' || left === null || Object.keys(left).some((n) => !this.partNames.includes(n)) || Object.keys(left).length >= this.partNames.length) {
      throw new SyswardenError('ERR_INVALID_INPUT', `hybrid: parts left out must be some, not all, of ${this.partNames.join(', ')}.`);
    }
    this.givenLeft = { ...left };
  }

  /** `parts`: the held-out part of each training window, as calibration holds them out (see Detector.fit); the units are measured on them. */
  fit(train: WindowSet, parts?: Int32Array): void {
    const normalIdx = indicesLabelled(train, 0);
    const normal = normalIdx ? selectWindows(train, normalIdx) : train;
    requireWindows(this.name, normal);
    const factories = this.partNames.map((n) => PARTS.get(n)!);
    const size = normal.size;
    const partOf = parts && normalParts(train, normalIdx, parts);
    const measured = this.givenScales ? undefined : factories.map((f) => heldOutScale(f, normal, this.seed, partOf));
    this.leftWhy = measured ? leaveOutCostly(this.partNames, measured) : this.partNames.map((n) => this.givenLeft[n]);
    this.parts = factories.map((f, p) => {
      if (this.leftWhy[p] !== undefined) return undefined;
      const d = f.create({ seed: this.seed });
      d.fit(normal);
      return d;
    });
    this.scales = this.givenScales ? [...this.givenScales] : silentPartsLoud(this.parts, measured!);
    this.windowSize = size;
  }

  score(windows: WindowSet, out = new Float64Array(windows.count)): Float64Array {
    checkFitted(this.name, this.windowSize, windows);
    if (this.buffer.length < windows.count) this.buffer = new Float64Array(Math.max(windows.count, this.buffer.length * 2));
    const part = this.buffer.subarray(0, windows.count);
    out.fill(0, 0, windows.count);
    for (let p = 0; p < this.parts.length; p++) {
      const d = this.parts[p];
      if (!d) continue;
      d.score(windows, part);
      const unit = 1 / this.scales[p]!;
      for (let i = 0; i < windows.count; i++) {
        const x = part[i]! * unit;
        if (x > out[i]!) out[i] = x;
      }
    }
    return out;
  }

  /** The highest of the parts' bounds in their units. */
  maxScore(): number {
    let highest = 0;
    for (let p = 0; p < this.parts.length; p++) {
      const max = this.parts[p]?.maxScore() ?? 0;
      if (Number.isNaN(max)) return Number.NaN;
      highest = Math.max(highest, max / this.scales[p]!);
    }
    return highest;
  }

  /** Calibration's fold models keep this model's units, so its held-out peaks are on the scale this model scores on. */
  calibrationOptions(): Record<string, unknown> {
    const left = Object.fromEntries(this.partNames.flatMap((n, p) => (this.leftWhy[p] === undefined ? [] : [[n, this.leftWhy[p]!]])));
    return { parts: this.partNames.join('+'), seed: this.seed, scales: [...this.scales], left };
  }

  summary(): string {
    return this.partNames
      .map((n, p) =>
        this.leftWhy[p] !== undefined
          ? `part ${n}: left out, ${this.leftWhy[p]}`
          : `part ${n}: one unit = a score of ${Number(this.scales[p]!.toPrecision(4))}`,
      )
      .join('\n');
  }

  /** Each part's score that counts as one unit, by name (what fit() measured on held-out normal parts). */
  get units(): Record<string, number> {
    return Object.fromEntries(this.partNames.flatMap((n, p) => (this.parts[p] ? [[n, this.scales[p]!]] : [])));
  }

  state(): HybridState {
    return {
      windowSize: this.windowSize,
      parts: this.partNames.map((name, p) => {
        const d = this.parts[p];
        const f = PARTS.get(name)!;
        return d ? { name, version: d.version, scale: this.scales[p]!, state: d.state() } : { name, version: f.version, scale: this.scales[p]!, state: null, left: this.leftWhy[p]! };
      }),
    };
  }

  learnt(): LearntTable[] {
    return this.parts.flatMap((d, p) => (d?.learnt?.() ?? []).map((t) => ({ ...t, what: `${this.partNames[p]} ${t.what}` })));
  }

  /** The parts by name, each with its fitted model (undefined: left out). */
  get partModels(): ReadonlyArray<{ name: string; detector: Detector | undefined }> {
    return this.partNames.map((name, p) => ({ name, detector: this.parts[p] }));
  }

  /**
   * Each part merged with the same part of the others (see the factory's
   * merge); a part any input left out is left out. Units cannot be merged:
   * the merged profile scores differently, so `options.scales` gives them
   * (merge measures them on the inputs' held-out windows).
   */
  static merge(detectors: readonly Detector[], options: Record<string, unknown> = {}): Hybrid {
    const list = mergeInputs('hybrid', detectors, Hybrid);
    const names = [...new Set(list.map((h) => h.partNames.join('+')))];
    if (names.length > 1) throw new SyswardenError('ERR_MODEL_MISMATCH', `the hybrid models differ in their parts (${names.join(' and ')}).`);
    const partNames = list[0]!.partNames;
    const left: Record<string, string> = {};
    partNames.forEach((n, p) => {
      const why = list.find((h) => h.leftWhy[p] !== undefined)?.leftWhy[p];
      if (why !== undefined) left[n] = `left out of an input model (${why})`;
    });
    if (Object.keys(left).length === partNames.length) throw new SyswardenError('ERR_MODEL_MISMATCH', `every part of the hybrid is left out of one input model or another (${Object.values(left).join('; ')}).`);
    const d = new Hybrid({ parts: partNames.join('+'), seed: list[0]!.seed, scales: options.scales as number[] | undefined, left });
    if (d.givenScales === undefined) throw new SyswardenError('ERR_INVALID_INPUT', 'hybrid: merging needs the merged units (scales).');
    d.leftWhy = partNames.map((n) => left[n]);
    d.parts = partNames.map((n, p) => (left[n] !== undefined ? undefined : PARTS.get(n)!.merge!(list.map((h) => h.parts[p]!))));
    d.scales = [...d.givenScales];
    d.windowSize = list[0]!.windowSize;
    return d;
  }

  static restore(state: unknown): Hybrid {
    return restoring('hybrid', () => {
      const s = stateObject('hybrid', state);
      const size = stateWindowSize('hybrid', s.windowSize);
      if (!Array.isArray(s.parts)) throw badState('hybrid', 'it lacks its parts');
      const saved = s.parts.map((p: unknown) => stateObject('hybrid', p));
      for (const p of saved) if (!PARTS.has(String(p.name))) throw badState('hybrid', `it names a part '${String(p.name).slice(0, 40)}' this build does not have`);
      if (saved.length < 2) throw badState('hybrid', 'it holds fewer than two parts');
      const d = new Hybrid({ parts: saved.map((p) => String(p.name)).join('+') });
      d.leftWhy = saved.map((p) => (p.left === undefined ? undefined : String(p.left).slice(0, 400)));
      if (d.leftWhy.every((w) => w !== undefined)) throw badState('hybrid', 'every part was left out');
      d.parts = saved.map((p, i) => {
        const f = PARTS.get(String(p.name))!;
        if (p.version !== f.version) throw badState('hybrid', `its ${f.name} part has version ${String(p.version).slice(0, 20)}, this build reads ${f.version}`);
        if (d.leftWhy[i] !== undefined) return undefined;
        const part = f.restore(p.state);
        if (part.windowSize !== size) throw badState('hybrid', `its ${f.name} part has windows of ${part.windowSize}, not ${size}`);
        return part;
      });
      d.scales = saved.map((p) => stateNumber('hybrid', p.scale, 'scale', Number.MIN_VALUE, Number.MAX_VALUE));
      d.windowSize = size;
      return d;
    });
  }
}

/**
 * One unit of a part's score: its alarm level on the peaks that held-out
 * normal parts (`partOf`: calibration's traces or stretches of time; absent,
 * each stream is a part) reach under a model of the other folds, through the
 * frame decision (default frame, trim = window size), each stream deciding
 * on its own windows and a part's peak the highest of its streams'. Parts
 * shorter than a frame are left out when at least three are a frame long (a
 * few windows averaged with a frame of zeros say little). Normal data that a part finds
 * unremarkable everywhere (peaks of 0: every held-out bag was seen) gets the
 * smallest frame score the part can show, one window at a 1/w share of its
 * bound, and is silent: silentPartsLoud() scales it further.
 */
interface Measured {
  scale: number;
  silent: boolean;
  /** Search work per held-out window (see WORK_LIMIT); Infinity when scoring stopped because it passed the limit. */
  work: number;
}

function heldOutScale(factory: DetectorFactory, normal: WindowSet, seed: number, partOf?: Int32Array): Measured {
  const size = normal.size;
  const trim = windowTrim(size, DEFAULT_FRAME);
  const group = partOf ?? streamGroups(normal);
  const groups = [...new Set(group)];
  const folds = Math.min(SCALE_FOLDS, groups.length);
  const foldOf = dealFolds(groups, folds, seed);
  const peaks: number[] = [];
  const longPeaks: number[] = [];
  let bound = Number.NaN;
  let work = 0;
  let scored = 0;
  if (folds >= 2) {
    for (let f = 0; f < folds; f++) {
      const trainIdx: number[] = [];
      const heldIdx: number[] = [];
      for (let i = 0; i < normal.count; i++) (foldOf.get(group[i]!) === f ? heldIdx : trainIdx).push(i);
      const d = factory.create({ seed });
      d.fit(selectWindows(normal, trainIdx));
      bound = d.maxScore();
      const heldSet = selectWindows(normal, heldIdx);
      const heldGroup = Int32Array.from(heldIdx, (i) => group[i]!);
      // Given parts, each stream decides on its own windows; else the groups are the streams.
      const windows = partOf ? heldSet : { ...heldSet, source: heldGroup };
      const scores = scoreWithinLimit(d, windows);
      if (!scores) return { scale: 1, silent: false, work: Infinity };
      if (d.workPerWindow) {
        work += d.workPerWindow() * windows.count;
        scored += windows.count;
      }
      const decided = decisionScores(windows, scores, DEFAULT_FRAME, trim);
      const peak = new Map<number, { max: number; n: number }>();
      for (let i = 0; i < windows.count; i++) {
        const p = peak.get(heldGroup[i]!) ?? { max: 0, n: 0 };
        if (decided[i]! > p.max) p.max = decided[i]!;
        p.n++;
        peak.set(heldGroup[i]!, p);
      }
      for (const p of peak.values()) {
        peaks.push(p.max);
        if (p.n >= DEFAULT_FRAME) longPeaks.push(p.max);
      }
    }
  }
  if (Number.isNaN(bound)) {
    const d = factory.create({ seed });
    d.fit(normal);
    bound = d.maxScore();
  }
  return { ...partUnit(peaks, longPeaks, bound, size), work: scored > 0 ? work / scored : 0 };
}

/**
 * One unit of a part from the peaks held-out normal parts reach (through
 * the frame decision at the default frame, trim = window size; `longPeaks`:
 * those of parts a frame long or longer), and the part's bound: its alarm
 * level at SCALE_RATE, or the least it can show when that is lower (see
 * heldOutScale).
 */
export function partUnit(peaks: number[], longPeaks: number[], bound: number, size: number): { scale: number; silent: boolean } {
  const trim = windowTrim(size, DEFAULT_FRAME);
  const use = (longPeaks.length >= 3 ? longPeaks : peaks).sort((a, b) => a - b);
  const q = use.length === 0 || use[use.length - 1]! <= 0 ? 0 : thresholdFromPeaks(Float64Array.from(use), SCALE_RATE).threshold;
  const least = (Number.isFinite(bound) && bound > 0 ? bound : 1) / (size * (DEFAULT_FRAME - trim));
  return q > least ? { scale: q, silent: false } : { scale: least, silent: q <= 0 };
}

/**
 * The part's scores of held-out windows, in chunks: undefined as soon as its
 * search work per window passes WORK_LIMIT (so measuring a part that is too
 * costly costs a few chunks, not the whole fold).
 */
function scoreWithinLimit(d: Detector, windows: WindowSet): Float64Array | undefined {
  if (!d.workPerWindow) return d.score(windows);
  const out = new Float64Array(windows.count);
  for (let at = 0; at < windows.count; at += WORK_CHUNK) {
    const end = Math.min(windows.count, at + WORK_CHUNK);
    d.score(sliceWindows(windows, at, end), out.subarray(at, end));
    if ((end >= WORK_FIRST_LOOK || end === windows.count) && d.workPerWindow() > WORK_LIMIT) return undefined;
  }
  return out;
}

/**
 * Parts whose held-out search work passed WORK_LIMIT are left out, with why,
 * as long as one part stays (the cheapest).
 */
function leaveOutCostly(names: readonly string[], measured: readonly Measured[]): (string | undefined)[] {
  const cheapest = measured.reduce((best, m, p) => (m.work < measured[best]!.work ? p : best), 0);
  return measured.map((m, p) =>
    p !== cheapest && m.work > WORK_LIMIT
      ? `its search cost more than ${WORK_LIMIT} comparisons per held-out normal window (this program's normal windows keep making new ${names[p] === 'bosc' ? 'bags' : 'windows'}): too slow to score live, and weak evidence where normal data is that new`
      : undefined,
  );
}

/**
 * The units of the parts, given what held-out normal parts made of each.
 * A silent part (no held-out normal frame moved it: bosc when every held-out
 * bag was a known one) has separated normal from everything else so far, so
 * the least it can show (one window of novelty in a frame) is made as loud
 * as the most the other parts can score: alone, it alarms, as it would as a
 * detector of its own. Without this its novelty counted as one unit, and the
 * other parts' normal noise drowned it (path traversals missed that bosc
 * alone detects).
 */
export function silentPartsLoud(parts: readonly (Detector | undefined)[], measured: ReadonlyArray<Pick<Measured, 'scale' | 'silent'>>): number[] {
  let loudest = 1;
  parts.forEach((d, p) => {
    if (!d) return;
    const bound = d.maxScore() / measured[p]!.scale;
    if (!measured[p]!.silent && Number.isFinite(bound) && bound > loudest) loudest = bound;
  });
  return measured.map((m, p) => (!parts[p] ? 1 : m.silent ? m.scale / loudest : m.scale));
}

/**
 * The held-out part of each normal window, from the parts of every training
 * window (`normalIdx`: the normal windows' indices, undefined when all are).
 */
function normalParts(train: WindowSet, normalIdx: Int32Array | undefined, parts: Int32Array): Int32Array {
  if (parts.length < train.count) throw new SyswardenError('ERR_INVALID_INPUT', `hybrid: ${parts.length} held-out parts given for ${train.count} training windows; give the part of every window.`);
  return normalIdx ? Int32Array.from(normalIdx, (i) => parts[i]!) : parts.subarray(0, train.count);
}

/**
 * Without held-out parts, the group of each window for holding out: its stream; data from one
 * stream only is cut into four runs in order, so there is something to hold out.
 */
function streamGroups(normal: WindowSet): Int32Array {
  const source = normal.source;
  if (source) {
    for (let i = 1; i < normal.count; i++) if (source[i] !== source[0]) return source.slice(0, normal.count);
  }
  return segmentParts(normal.count, Math.min(4, normal.count));
}

export const factory: DetectorFactory<HybridOptions> = {
  name: 'hybrid',
  version: VERSION,
  description: 'order and mix together: ngram transitions plus bag of calls, each in units of its held-out normal peaks',
  create: (options) => new Hybrid(options),
  restore: (state) => Hybrid.restore(state),
  merge: (detectors, options) => Hybrid.merge(detectors, options),
};
