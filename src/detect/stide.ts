import { SyswardenError } from '../errors.js';
import type { WindowSet } from '../window/window-set.js';
import { checkFitted, heldOutMax, normalWindows, optHeldOut, optNumber, requireWindows, type HeldOut } from './common.js';
import type { Detector, DetectorFactory, StreamScorer } from './detector.js';
import { LocalityFrames, localityStreamScorer } from './locality.js';
import { SequenceStore } from './window-table.js';
import { badState, stateInt, stateObject, stateWindowSize } from './lib/state.js';

export interface StideOptions {
  /** Locality frame L: the score is the mismatch rate over the last L windows of a stream (1 = raw mismatch). */
  frame: number;
  /** With fewer than 3 training traces: fraction of normal windows (the tail) held out to set the threshold (default 0.2). */
  holdout: number;
  /** With 3 or more training traces: most cross-validation folds over traces (default 25; one trace per fold up to that). */
  folds: number;
  /** What the threshold is set on: held-out traces ('sources', default) or the tail of the windows in time ('tail', for live training). */
  heldOut: HeldOut;
  /**
   * Least mismatches in a frame that may alarm (default 1). Live capture sees
   * timing-dependent sequences (a signal handled a call earlier, a read split
   * in two) that a short learning phase misses; one such displaced call makes
   * at most `windowSize` unseen windows, so a floor above that keeps it quiet
   * while an attack, a long burst of new windows, still alarms.
   */
  minMismatches: number;
}

const VERSION = 1;

interface StideState {
  windowSize: number;
  frame: number;
  /** Distinct normal windows, row-major. */
  normal: Uint16Array;
}

/**
 * STIDE (Forrest et al. 1996): a window is a mismatch when it is not in the
 * database of normal windows; the score is the locality frame count, the
 * share of mismatches among the last L windows of the same stream (windows
 * before the stream's L-th divide by L too, so one early mismatch is not a
 * 100 % burst).
 *
 * Threshold (training data only): each normal training trace is scored
 * against a database of the other training traces (see heldOutMax), and
 * the threshold is one frame step (1/L) above the highest rate seen. The
 * final database holds every normal training window. A new normal trace
 * therefore alarms only if it is more novel than any training trace was
 * to the rest.
 */
export class Stide implements Detector {
  readonly name = 'stide';
  readonly version = VERSION;
  readonly supervised = false;
  windowSize = 0;
  threshold = 1;
  thresholdRule = 'not fitted';
  readonly frame: number;
  private readonly holdout: number;
  private readonly folds: number;
  private readonly heldOut: HeldOut;
  private readonly minMismatches: number;
  private db = new SequenceStore(1);

  constructor(opts: Partial<StideOptions> = {}) {
    this.frame = Math.round(optNumber(opts, 'frame', 20, 1, 10_000));
    this.holdout = optNumber(opts, 'holdout', 0.2, 0, 0.9);
    this.folds = Math.round(optNumber(opts, 'folds', 25, 2, 1000));
    this.heldOut = optHeldOut('stide', opts);
    this.minMismatches = Math.round(optNumber(opts, 'minMismatches', 1, 1, this.frame));
  }

  private learn(set: WindowSet): void {
    const { size, data } = set;
    for (let i = 0; i < set.count; i++) this.db.add(data, i * size);
  }

  fit(train: WindowSet): void {
    const normal = normalWindows(train);
    requireWindows(this.name, normal);
    this.windowSize = normal.size;
    const { max, scheme } = heldOutMax(normal, this.holdout, this.folds, (learn, held) => {
      this.resetDatabase(learn.size);
      this.learn(learn);
      return this.score(held);
    }, this.heldOut);
    const steps = Math.round(max * this.frame);
    this.threshold = Math.max(steps + 1, this.minMismatches) / this.frame;
    this.thresholdRule =
      `one frame step (1/${this.frame}) above the highest locality-frame rate (${steps}/${this.frame}) of held-out normal windows: ${scheme}` +
      (this.minMismatches > steps + 1 ? `; raised to the floor of ${this.minMismatches}/${this.frame}` : '');
    this.resetDatabase(normal.size);
    this.learn(normal);
  }

  private resetDatabase(size: number): void {
    this.db = new SequenceStore(size, 4096);
  }

  /** 1 for each window absent from the normal database, else 0. */
  mismatches(windows: WindowSet, out = new Float64Array(windows.count)): Float64Array {
    checkFitted(this.name, this.windowSize, windows);
    const { size, data } = windows;
    const db = this.db;
    for (let i = 0; i < windows.count; i++) out[i] = db.lookup(data, i * size) < 0 ? 1 : 0;
    return out;
  }

  /**
   * Locality-frame rates in window order. Windows of one stream (same
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
    const L = this.frame;
    for (let i = 0; i < windows.count; i++) {
      const miss = db.lookup(data, i * size) < 0 ? 1 : 0;
      out[i] = frames.push(source ? source[i]! : 0, miss) / L;
    }
    return out;
  }

  /** Distinct normal windows in the database. */
  get databaseSize(): number {
    return this.db.size;
  }

  maxScore(): number {
    return 1; // mismatches among the last L windows, over L
  }

  state(): StideState {
    return { windowSize: this.windowSize, frame: this.frame, normal: this.db.toArray() };
  }

  static restore(state: unknown): Stide {
    const s = stateObject('stide', state);
    if (!(s.normal instanceof Uint16Array)) {
      throw new SyswardenError('ERR_MODEL_STATE', 'stide: the saved state is incomplete (needs windowSize, frame, normal). Fix: re-train the model.');
    }
    const size = stateWindowSize('stide', s.windowSize);
    const d = new Stide({ frame: stateInt('stide', s.frame, 'frame', 1, 10_000) });
    // A length that is not whole windows used to give a fractional count, read past the rows and learn garbage windows.
    if (s.normal.length === 0 || s.normal.length % size !== 0) throw badState('stide', `normal holds ${s.normal.length} calls, not a whole number of ${size}-call windows`);
    d.windowSize = size;
    d.db = new SequenceStore(size, s.normal.length / size);
    d.learn({ size, count: s.normal.length / size, data: s.normal });
    d.thresholdRule = 'as saved in the model file';
    return d;
  }
}

export const factory: DetectorFactory<StideOptions> = {
  name: 'stide',
  version: VERSION,
  description: 'STIDE: unseen normal n-grams, scored as the locality-frame mismatch rate (Forrest et al. 1996)',
  create: (options) => new Stide(options),
  restore: (state) => Stide.restore(state),
};
