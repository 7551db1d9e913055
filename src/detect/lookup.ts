import { SyswardenError } from '../errors.js';
import { selectWindows } from '../window/windows.js';
import type { WindowSet } from '../window/window-set.js';
import { checkFitted, optNumber } from './common.js';
import type { Detector, DetectorFactory, StreamScorer } from './detector.js';
import { LocalityFrames, localityStreamScorer } from './locality.js';
import { SequenceStore } from './window-table.js';
import { checkValues, stateInt, stateObject, stateWindowSize } from './lib/state.js';

export interface LookupOptions {
  /** Locality frame L: the score is the share of attack-only windows among the last L windows of the same stream (default 64). */
  frame: number;
  /** Most cross-validation folds over normal training traces (default 25). */
  folds: number;
}

const VERSION = 1;

const SEEN_NORMAL = 1;
const SEEN_ATTACK = 2;

interface LookupState {
  windowSize: number;
  frame: number;
  /** Distinct training windows, row-major. */
  rows: Uint16Array;
  /** Per row: bit 0 seen in normal training windows, bit 1 seen in attack training windows. */
  seen: Uint8Array;
}

/**
 * A supervised exact-window classifier for labelled splits: every distinct
 * training window is stored with the classes it was seen in. A window is
 * evidence of attack when it occurred in attack training windows and never
 * in normal ones; windows never seen in training, or seen in normal
 * training, are not evidence (on hids-docker many normal test windows are
 * new, so novelty alone is a poor sign). The score is the locality-frame
 * rate of that evidence: attack-only windows among the last L windows of
 * the same stream (STIDE's frame, Forrest et al. 1996), so it streams with
 * one small ring per thread.
 *
 * The threshold comes from training data only, the same way as STIDE's: the
 * normal training windows are cut into parts (each trace is a part; a lone
 * trace is cut into its first and second half), and each part is scored by a
 * model of the other normal parts plus every attack training window, so a
 * held-out normal window counts as evidence exactly when a new normal trace's
 * window would. The threshold is one frame step above the highest frame count
 * seen: no held-out normal window alarms. L is a fixed option, not fitted
 * (one attack trace gives nothing to cross-validate it on: on the stand-in,
 * the attack windows of its two halves share no attack-only window).
 * The final model stores every training window.
 */
export class Lookup implements Detector {
  readonly name = 'lookup';
  readonly version = VERSION;
  readonly supervised = true;
  windowSize = 0;
  threshold = Number.POSITIVE_INFINITY;
  thresholdRule = 'not fitted';
  readonly frame: number;
  private readonly folds: number;
  private db = new SequenceStore(1);
  private seen = new Uint8Array(1024);

  constructor(opts: Partial<LookupOptions> = {}) {
    this.frame = Math.round(optNumber(opts, 'frame', 64, 1, 100_000));
    this.folds = Math.round(optNumber(opts, 'folds', 25, 2, 1000));
  }

  private reset(size: number): void {
    this.windowSize = size;
    this.db = new SequenceStore(size, 4096);
    this.seen = new Uint8Array(4096);
  }

  private mark(data: Uint16Array, off: number, bit: number): void {
    const id = this.db.add(data, off);
    if (id >= this.seen.length) {
      const grown = new Uint8Array(this.seen.length * 2);
      grown.set(this.seen);
      this.seen = grown;
    }
    this.seen[id]! |= bit;
  }

  private learn(set: WindowSet): void {
    const { size, data, labels } = set;
    for (let i = 0; i < set.count; i++) this.mark(data, i * size, labels![i] === 1 ? SEEN_ATTACK : SEEN_NORMAL);
  }

  /** 1 for each window seen in attack training windows and never in normal ones, else 0. */
  evidence(windows: WindowSet, out = new Uint8Array(windows.count)): Uint8Array {
    checkFitted(this.name, this.windowSize, windows);
    const { size, data } = windows;
    for (let i = 0; i < windows.count; i++) {
      const id = this.db.lookup(data, i * size);
      out[i] = id >= 0 && this.seen[id] === SEEN_ATTACK ? 1 : 0;
    }
    return out;
  }

  fit(train: WindowSet): void {
    if (!train.labels) {
      throw new SyswardenError('ERR_INVALID_INPUT', 'lookup: training windows have no labels. Fix: train on labelled normal and attack windows (the ordered, shuffled or trace split).');
    }
    const parts = partsOf(train);
    const normalParts = new Set<number>();
    let attackWindows = 0;
    for (let i = 0; i < train.count; i++) {
      if (train.labels[i] === 1) attackWindows++;
      else normalParts.add(parts[i]!);
    }
    if (normalParts.size < 2 || attackWindows === 0) {
      throw new SyswardenError('ERR_INVALID_INPUT', `lookup: needs normal and attack training windows (got ${normalParts.size === 0 ? 'no normal' : 'no attack'} windows). Fix: give both classes to fit().`);
    }
    const k = Math.min(this.folds, normalParts.size);
    const foldOf = new Map<number, number>();
    [...normalParts].forEach((p, i) => foldOf.set(p, i % k));
    const L = this.frame;
    let max = 0;
    for (let f = 0; f < k; f++) {
      const learnIdx: number[] = [];
      const heldIdx: number[] = [];
      for (let i = 0; i < train.count; i++) (train.labels[i] === 0 && foldOf.get(parts[i]!) === f ? heldIdx : learnIdx).push(i);
      this.reset(train.size);
      this.learn(selectWindows(train, learnIdx));
      const counts = frameCounts(this.evidence(selectWindows(train, heldIdx)), Int32Array.from(heldIdx, (i) => parts[i]!), L);
      for (let i = 0; i < counts.length; i++) if (counts[i]! > max) max = counts[i]!;
    }
    this.threshold = (max + 1) / L;
    const how = k === normalParts.size ? `leave-one-trace-out over the ${k} normal training parts` : `${k}-fold cross-validation over the ${normalParts.size} normal training parts`;
    this.thresholdRule = `one frame step (1/${L}) above the most attack-only windows (${max}/${L}) in a frame of held-out normal windows: ${how} (traces; a lone trace cut in halves), each scored by a model of the other normal parts and every attack training window`;
    this.reset(train.size);
    this.learn(train);
  }

  /**
   * Locality-frame rates of attack-only windows. Windows of one stream (same
   * `source`) must come in stream order; streams may interleave, each keeps
   * its own frame.
   */
  score(windows: WindowSet, out = new Float64Array(windows.count)): Float64Array {
    return this.scoreFrames(new LocalityFrames(this.frame), windows, out);
  }

  /** Live scoring: each source's locality frame carries over from one batch to the next. */
  streamScorer(): StreamScorer {
    return localityStreamScorer(this.frame, (frames, windows, out) => this.scoreFrames(frames, windows, out));
  }

  private scoreFrames(frames: LocalityFrames, windows: WindowSet, out: Float64Array): Float64Array {
    checkFitted(this.name, this.windowSize, windows);
    const { size, data, source } = windows;
    const db = this.db;
    const seen = this.seen;
    const L = this.frame;
    for (let i = 0; i < windows.count; i++) {
      const id = db.lookup(data, i * size);
      const hit = id >= 0 && seen[id] === SEEN_ATTACK ? 1 : 0;
      out[i] = frames.push(source ? source[i]! : 0, hit) / L;
    }
    return out;
  }

  maxScore(): number {
    return 1; // attack-only windows among the last L, over L
  }

  state(): LookupState {
    return { windowSize: this.windowSize, frame: this.frame, rows: this.db.toArray(), seen: this.seen.slice(0, this.db.size) };
  }

  static restore(state: unknown): Lookup {
    const s = stateObject('lookup', state) as Partial<Record<keyof LookupState, unknown>>;
    const size = stateWindowSize('lookup', s.windowSize);
    if (!(s.rows instanceof Uint16Array) || !(s.seen instanceof Uint8Array) || s.rows.length !== s.seen.length * size) {
      throw new SyswardenError('ERR_MODEL_STATE', 'lookup: the saved state is incomplete (needs windowSize, frame, rows, seen, one mark per row). Fix: re-train the model.');
    }
    const frame = stateInt('lookup', s.frame, 'frame', 1, 100_000);
    checkValues('lookup', s.seen, 'seen', 1, 3);
    const d = new Lookup({ frame });
    d.reset(size);
    for (let i = 0; i < s.seen.length; i++) d.mark(s.rows, i * size, s.seen[i]!);
    d.thresholdRule = 'as saved in the model file';
    return d;
  }
}

/**
 * Cross-validation parts: each source (trace or thread) is a part; when a
 * class has a single source, its windows are cut into a first and second
 * half so that class can be both learnt from and held out.
 */
function partsOf(train: WindowSet): Int32Array {
  const parts = new Int32Array(train.count);
  const src = (i: number) => (train.source ? train.source[i]! : 0);
  let maxSource = 0;
  for (let i = 0; i < train.count; i++) maxSource = Math.max(maxSource, src(i));
  for (const label of [0, 1]) {
    const idx: number[] = [];
    const sources = new Set<number>();
    for (let i = 0; i < train.count; i++) {
      if (train.labels![i] === label) {
        idx.push(i);
        sources.add(src(i));
      }
    }
    const half = idx.length >> 1;
    idx.forEach((i, n) => {
      // Parts are per class (id * 2 + label); the second half of a lone source gets an id above every real source.
      parts[i] = (sources.size === 1 && n >= half ? maxSource + 1 : src(i)) * 2 + label;
    });
  }
  return parts;
}

/** Frame counts (attack-only windows among the last L of the same part), in window order. */
function frameCounts(ev: Uint8Array, parts: Int32Array, L: number): Int32Array {
  const out = new Int32Array(ev.length);
  const frames = new LocalityFrames(L);
  for (let i = 0; i < ev.length; i++) out[i] = frames.push(parts[i]!, ev[i]!);
  return out;
}

export const factory: DetectorFactory<LookupOptions> = {
  name: 'lookup',
  version: VERSION,
  description: 'supervised exact-window lookup: locality-frame rate of windows seen only in attack training',
  create: (options) => new Lookup(options),
  restore: (state) => Lookup.restore(state),
};
