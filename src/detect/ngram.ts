import { SyswardenError } from '../errors.js';
import { GrowableInt32 } from '../trace/growable.js';
import type { WindowSet } from '../window/window-set.js';
import { checkFitted, heldOutMax, optHeldOut, type HeldOut, justAbove, normalWindows, optNumber, requireWindows } from './common.js';
import type { Detector, DetectorFactory } from './detector.js';
import { SequenceStore } from './window-table.js';
import { badState, checkLength, checkValues, stateInt, stateNumber, stateObject, stateWindowSize } from './lib/state.js';

export type NgramScoring = 'nll' | 'min';

export interface NgramOptions {
  /** Markov order: calls of context per transition (default 2; capped at window size - 1). */
  order: number;
  /** Additive (Lidstone) smoothing of transition counts (default 0.01). */
  alpha: number;
  /** 'nll': negative mean log-likelihood of the window's transitions; 'min': -log of its least likely transition. */
  scoring: NgramScoring;
  /** With fewer than 3 training traces: fraction of normal windows (the tail) held out to set the threshold (default 0.2). */
  holdout: number;
  /** With 3 or more training traces: most cross-validation folds over traces (default 25). */
  folds: number;
  /** Held-out traces ('sources', default) or the tail of the windows in time ('tail', for live training). */
  heldOut: HeldOut;
  /**
   * Locality frame L: the score is the mean window score over the last L
   * windows of the same stream (default 1: the window alone; 8 is measured in docs/detection.md). The Markov
   * order stays `order`, so a short window with a long frame still scores
   * many transitions.
   */
  frame: number;
}

const VERSION = 1;

interface NgramState {
  windowSize: number;
  order: number;
  alpha: number;
  scoring: NgramScoring;
  /** Absent in files saved before the frame option: 1. */
  frame?: number;
  contexts: Uint16Array;
  contextCounts: Int32Array;
  grams: Uint16Array;
  gramCounts: Int32Array;
  vocabulary: Uint16Array;
}

/**
 * An order-k Markov model of syscall sequences: P(next | previous k calls)
 * from counts over the normal windows, smoothed so unseen transitions get a
 * small, finite probability alpha / (count(context) + alpha * V), V being the
 * calls seen in training plus one for "anything else".
 *
 * Threshold (training data only): each normal training trace is scored by
 * a model of the other training traces (see heldOutMax) and the threshold
 * is set just above the highest score seen; the final model counts every
 * normal training window.
 */
export class Ngram implements Detector {
  readonly name = 'ngram';
  readonly version = VERSION;
  readonly supervised = false;
  windowSize = 0;
  threshold = Number.POSITIVE_INFINITY;
  thresholdRule = 'not fitted';
  readonly alpha: number;
  readonly scoring: NgramScoring;
  readonly frame: number;
  private readonly holdout: number;
  private readonly folds: number;
  private readonly heldOut: HeldOut;
  private orderOption: number;
  private order = 0;
  private contexts = new SequenceStore(1);
  private contextCounts = new GrowableInt32();
  private grams = new SequenceStore(2);
  private gramCounts = new GrowableInt32();
  private seen = new Uint8Array(65536);
  private vocabulary = 0;

  constructor(opts: Partial<NgramOptions> = {}) {
    this.orderOption = Math.round(optNumber(opts, 'order', 2, 1, 63));
    this.alpha = optNumber(opts, 'alpha', 0.01, 1e-9, 1e6);
    this.holdout = optNumber(opts, 'holdout', 0.2, 0, 0.9);
    this.folds = Math.round(optNumber(opts, 'folds', 25, 2, 1000));
    this.heldOut = optHeldOut('ngram', opts);
    this.frame = Math.round(optNumber(opts, 'frame', 1, 1, 100_000));
    const scoring = opts.scoring ?? 'nll';
    if (scoring !== 'nll' && scoring !== 'min') {
      throw new SyswardenError('ERR_INVALID_INPUT', `ngram: scoring '${String(scoring)}' is unknown. Fix: use 'nll' or 'min'.`);
    }
    this.scoring = scoring;
  }

  private reset(size: number): void {
    this.windowSize = size;
    this.order = Math.min(this.orderOption, size - 1);
    this.contexts = new SequenceStore(this.order, 1024);
    this.contextCounts = new GrowableInt32();
    this.grams = new SequenceStore(this.order + 1, 4096);
    this.gramCounts = new GrowableInt32();
    this.seen = new Uint8Array(65536);
    this.vocabulary = 0;
  }

  private count(store: SequenceStore, counts: GrowableInt32, data: Uint16Array, off: number, by: number): void {
    const id = store.add(data, off);
    if (id === counts.length) counts.push(0);
    counts.view()[id]! += by;
  }

  private learn(set: WindowSet): void {
    const { size, data } = set;
    const k = this.order;
    for (let i = 0; i < set.count; i++) {
      const off = i * size;
      for (let t = 0; t < size; t++) {
        const c = data[off + t]!;
        if (this.seen[c] === 0) {
          this.seen[c] = 1;
          this.vocabulary++;
        }
      }
      for (let t = k; t < size; t++) {
        this.count(this.contexts, this.contextCounts, data, off + t - k, 1);
        this.count(this.grams, this.gramCounts, data, off + t - k, 1);
      }
    }
  }

  fit(train: WindowSet): void {
    const normal = normalWindows(train);
    requireWindows(this.name, normal);
    const { max, scheme } = heldOutMax(normal, this.holdout, this.folds, (learn, held) => {
      this.reset(normal.size);
      this.learn(learn);
      return this.score(held);
    }, this.heldOut);
    this.threshold = justAbove(max);
    this.thresholdRule = `just above the highest score (${max.toFixed(3)}) of held-out normal windows: ${scheme}`;
    this.reset(normal.size);
    this.learn(normal);
  }

  score(windows: WindowSet, out = new Float64Array(windows.count)): Float64Array {
    checkFitted(this.name, this.windowSize, windows);
    const { size, data } = windows;
    const k = this.order;
    const alpha = this.alpha;
    const alphaV = alpha * (this.vocabulary + 1);
    const ctxCounts = this.contextCounts.view();
    const gramCounts = this.gramCounts.view();
    const transitions = size - k;
    const useMin = this.scoring === 'min';
    for (let i = 0; i < windows.count; i++) {
      const off = i * size;
      let sum = 0;
      let worst = 0;
      for (let t = k; t < size; t++) {
        const ci = this.contexts.lookup(data, off + t - k);
        const cc = ci >= 0 ? ctxCounts[ci]! : 0;
        const gi = cc > 0 ? this.grams.lookup(data, off + t - k) : -1;
        const cg = gi >= 0 ? gramCounts[gi]! : 0;
        const nll = -Math.log((cg + alpha) / (cc + alphaV));
        sum += nll;
        if (nll > worst) worst = nll;
      }
      out[i] = useMin ? worst : sum / transitions;
    }
    return this.frame > 1 ? frameMeans(out, windows.source, this.frame) : out;
  }

  /**
   * -log P of one transition is largest for an unseen transition out of the
   * most frequent context: log((count + alpha (V + 1)) / alpha). The mean
   * over a window, its worst transition and the mean over a frame are all at
   * most that.
   */
  maxScore(): number {
    let most = 0;
    for (const c of this.contextCounts.view()) if (c > most) most = c;
    return Math.log((most + this.alpha * (this.vocabulary + 1)) / this.alpha);
  }

  state(): NgramState {
    const vocab: number[] = [];
    for (let c = 0; c < this.seen.length; c++) if (this.seen[c] === 1) vocab.push(c);
    return {
      windowSize: this.windowSize,
      order: this.order,
      alpha: this.alpha,
      scoring: this.scoring,
      frame: this.frame,
      contexts: this.contexts.toArray(),
      contextCounts: this.contextCounts.toArray(),
      grams: this.grams.toArray(),
      gramCounts: this.gramCounts.toArray(),
      vocabulary: Uint16Array.from(vocab),
    };
  }

  static restore(state: unknown): Ngram {
    const s = stateObject('ngram', state) as Partial<Record<keyof NgramState, unknown>>;
    if (
      !(s.contexts instanceof Uint16Array) || !(s.contextCounts instanceof Int32Array) ||
      !(s.grams instanceof Uint16Array) || !(s.gramCounts instanceof Int32Array) || !(s.vocabulary instanceof Uint16Array)
    ) {
      throw new SyswardenError('ERR_MODEL_STATE', 'ngram: the saved state is incomplete. Fix: re-train the model.');
    }
    const size = stateWindowSize('ngram', s.windowSize);
    // The saved order is the effective one (at most size - 1); another would index rows of the wrong width.
    const k = stateInt('ngram', s.order, 'order', 1, size - 1);
    const alpha = stateNumber('ngram', s.alpha, 'alpha', 1e-9, 1e6);
    const scoring = s.scoring ?? 'nll';
    if (scoring !== 'nll' && scoring !== 'min') throw badState('ngram', `scoring is '${String(scoring).slice(0, 40)}', not nll or min`);
    const frame = s.frame === undefined ? 1 : stateInt('ngram', s.frame, 'frame', 1, 100_000);
    checkLength('ngram', s.contexts, 'contexts', s.contextCounts.length * k);
    checkLength('ngram', s.grams, 'grams', s.gramCounts.length * (k + 1));
    // Counts are occurrences: zero or negative ones make log() of a non-positive probability (NaN or -Infinity scores).
    checkValues('ngram', s.contextCounts, 'contextCounts', 1);
    checkValues('ngram', s.gramCounts, 'gramCounts', 1);
    if (s.vocabulary.length > 65536) throw badState('ngram', `vocabulary holds ${s.vocabulary.length} calls, more than there are syscall numbers`);
    const d = new Ngram({ order: k, alpha, scoring, frame });
    d.reset(size);
    for (let i = 0; i < s.contextCounts.length; i++) d.count(d.contexts, d.contextCounts, s.contexts, i * k, s.contextCounts[i]!);
    for (let i = 0; i < s.gramCounts.length; i++) d.count(d.grams, d.gramCounts, s.grams, i * (k + 1), s.gramCounts[i]!);
    for (const c of s.vocabulary) d.seen[c] = 1;
    d.vocabulary = s.vocabulary.length;
    d.thresholdRule = 'as saved in the model file';
    return d;
  }
}

/**
 * In place: each score becomes the mean of the last L scores of the same
 * source (windows of a source in stream order; sources may interleave).
 * Before a source's L-th window the mean is over the windows so far.
 */
function frameMeans(scores: Float64Array, source: Int32Array | undefined, L: number): Float64Array {
  const rings = new Map<number, { vals: Float64Array; pos: number; n: number; sum: number }>();
  for (let i = 0; i < scores.length; i++) {
    const src = source ? source[i]! : 0;
    let r = rings.get(src);
    if (!r) {
      r = { vals: new Float64Array(L), pos: 0, n: 0, sum: 0 };
      rings.set(src, r);
    }
    const v = scores[i]!;
    r.sum += v - r.vals[r.pos]!;
    r.vals[r.pos] = v;
    r.pos = r.pos + 1 === L ? 0 : r.pos + 1;
    if (r.n < L) r.n++;
    scores[i] = r.sum / r.n;
  }
  return scores;
}

export const factory: DetectorFactory<NgramOptions> = {
  name: 'ngram',
  version: VERSION,
  description: 'order-k Markov model of syscall transitions, scored by negative log-likelihood',
  create: (options) => new Ngram(options),
  restore: (state) => Ngram.restore(state),
};
