import { SyswardenError } from '../errors.js';
import { GrowableInt32 } from '../trace/growable.js';
import type { WindowSet } from '../window/window-set.js';
import { checkFitted, normalWindows, optNumber, requireWindows } from './common.js';
import type { Detector, DetectorFactory, LearntTable } from './detector.js';
import { mergeInputs } from './lib/mergeable.js';
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
}

const VERSION = 1;

interface NgramState {
  windowSize: number;
  order: number;
  alpha: number;
  scoring: NgramScoring;
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
 */
export class Ngram implements Detector {
  readonly name = 'ngram';
  readonly version = VERSION;
  readonly supervised = false;
  windowSize = 0;
  readonly alpha: number;
  readonly scoring: NgramScoring;
  private orderOption: number;
  /** The effective order (at most window size - 1). */
  order = 0;
  private contexts = new SequenceStore(1);
  private contextCounts = new GrowableInt32();
  private grams = new SequenceStore(2);
  private gramCounts = new GrowableInt32();
  private seen = new Uint8Array(65536);
  private vocabulary = 0;
  /** score()'s scratch: the -log P of each transition of the last window scored. */
  private nll = new Float64Array(16);

  constructor(opts: Partial<NgramOptions> = {}) {
    this.orderOption = Math.round(optNumber(opts, 'order', 2, 1, 63));
    this.alpha = optNumber(opts, 'alpha', 0.01, 1e-9, 1e6);
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

  /** Adds `by` to the count of the sequence at `data[off ..)`; returns its id. */
  private count(store: SequenceStore, counts: GrowableInt32, data: Uint16Array, off: number, by: number): number {
    const id = store.add(data, off);
    if (id === counts.length) counts.push(0);
    counts.add(id, by);
    return id;
  }

  private learn(set: WindowSet): void {
    const { size, data } = set;
    const k = this.order;
    // The context and n-gram id of each transition of the last window, at its place.
    const ctxIds = new Int32Array(size);
    const gramIds = new Int32Array(size);
    for (let i = 0; i < set.count; i++) {
      const off = i * size;
      // A window slid one call on from the last one (the usual case) holds
      // the last one's transitions but its first, one place earlier, and one
      // new: only that one is looked up, the others' ids are moved along. Ids
      // and counts come out as if every transition were looked up.
      const slid = size - k > 1 && slidOn(data, i, size);
      for (let t = slid ? size - 1 : 0; t < size; t++) {
        const c = data[off + t]!;
        if (this.seen[c] === 0) {
          this.seen[c] = 1;
          this.vocabulary++;
        }
      }
      if (slid) {
        for (let t = k; t < size - 1; t++) {
          ctxIds[t] = ctxIds[t + 1]!;
          gramIds[t] = gramIds[t + 1]!;
          this.contextCounts.add(ctxIds[t]!, 1);
          this.gramCounts.add(gramIds[t]!, 1);
        }
        ctxIds[size - 1] = this.count(this.contexts, this.contextCounts, data, off + size - 1 - k, 1);
        gramIds[size - 1] = this.count(this.grams, this.gramCounts, data, off + size - 1 - k, 1);
        continue;
      }
      for (let t = k; t < size; t++) {
        ctxIds[t] = this.count(this.contexts, this.contextCounts, data, off + t - k, 1);
        gramIds[t] = this.count(this.grams, this.gramCounts, data, off + t - k, 1);
      }
    }
  }

  fit(train: WindowSet): void {
    const normal = normalWindows(train);
    requireWindows(this.name, normal);
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
    // Each transition's -log P, at its place in the window. Windows slide:
    // when this window is the last one moved on by a call (its first size-1
    // calls are the last one's last size-1), all its transitions but the
    // last were computed for the last one, one place further on. Only the
    // new one is looked up; the sum runs in the same order as for a fresh
    // window, so the score is the same to the last bit.
    if (this.nll.length < size) this.nll = new Float64Array(size);
    const nll = this.nll;
    const transition = (off: number, t: number): number => {
      const ci = this.contexts.lookup(data, off + t - k);
      const cc = ci >= 0 ? ctxCounts[ci]! : 0;
      const gi = cc > 0 ? this.grams.lookup(data, off + t - k) : -1;
      const cg = gi >= 0 ? gramCounts[gi]! : 0;
      return -Math.log((cg + alpha) / (cc + alphaV));
    };
    for (let i = 0; i < windows.count; i++) {
      const off = i * size;
      if (transitions > 1 && slidOn(data, i, size)) {
        // A loop, not copyWithin: a builtin call costs more than a few moves.
        for (let t = k; t < size - 1; t++) nll[t] = nll[t + 1]!;
        nll[size - 1] = transition(off, size - 1);
      } else {
        for (let t = k; t < size; t++) nll[t] = transition(off, t);
      }
      let sum = 0;
      let worst = 0;
      for (let t = k; t < size; t++) {
        const x = nll[t]!;
        sum += x;
        if (x > worst) worst = x;
      }
      out[i] = useMin ? worst : sum / transitions;
    }
    return out;
  }

  /**
   * -log P of one transition is largest for an unseen transition out of the
   * most frequent context: log((count + alpha (V + 1)) / alpha). The mean
   * over a window and its worst transition are at most that.
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
      contexts: this.contexts.toArray(),
      contextCounts: this.contextCounts.toArray(),
      grams: this.grams.toArray(),
      gramCounts: this.gramCounts.toArray(),
      vocabulary: Uint16Array.from(vocab),
    };
  }

  /** Models fitted to be merged with this one (merge's fold models) need its options. */
  calibrationOptions(): Record<string, unknown> {
    return { order: this.order, alpha: this.alpha, scoring: this.scoring };
  }

  learnt(): LearntTable[] {
    return [{ what: 'transition', width: this.order + 1, rows: this.grams.view(), counts: this.gramCounts.view() }];
  }

  /** Transition counts summed, vocabularies joined: the model of all the inputs' windows. */
  static merge(detectors: readonly Detector[]): Ngram {
    const list = mergeInputs('ngram', detectors, Ngram, ['order', 'alpha', 'scoring']);
    const first = list[0]!;
    const d = new Ngram({ order: first.order, alpha: first.alpha, scoring: first.scoring });
    d.reset(first.windowSize);
    const k = d.order;
    for (const x of list) {
      const contexts = x.contexts.view();
      const grams = x.grams.view();
      x.contextCounts.view().forEach((c, i) => d.count(d.contexts, d.contextCounts, contexts, i * k, c));
      x.gramCounts.view().forEach((c, i) => d.count(d.grams, d.gramCounts, grams, i * (k + 1), c));
      for (let c = 0; c < x.seen.length; c++) {
        if (x.seen[c] === 1 && d.seen[c] === 0) {
          d.seen[c] = 1;
          d.vocabulary++;
        }
      }
    }
    return d;
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
    checkLength('ngram', s.contexts, 'contexts', s.contextCounts.length * k);
    checkLength('ngram', s.grams, 'grams', s.gramCounts.length * (k + 1));
    // Counts are occurrences: zero or negative ones make log() of a non-positive probability (NaN or -Infinity scores).
    checkValues('ngram', s.contextCounts, 'contextCounts', 1);
    checkValues('ngram', s.gramCounts, 'gramCounts', 1);
    if (s.vocabulary.length > 65536) throw badState('ngram', `vocabulary holds ${s.vocabulary.length} calls, more than there are syscall numbers`);
    const d = new Ngram({ order: k, alpha, scoring });
    d.reset(size);
    for (let i = 0; i < s.contextCounts.length; i++) d.count(d.contexts, d.contextCounts, s.contexts, i * k, s.contextCounts[i]!);
    for (let i = 0; i < s.gramCounts.length; i++) d.count(d.grams, d.gramCounts, s.grams, i * (k + 1), s.gramCounts[i]!);
    for (const c of s.vocabulary) d.seen[c] = 1;
    d.vocabulary = s.vocabulary.length;
    return d;
  }
}

export const factory: DetectorFactory<NgramOptions> = {
  name: 'ngram',
  version: VERSION,
  description: 'order-k Markov model of syscall transitions, scored by negative log-likelihood',
  create: (options) => new Ngram(options),
  restore: (state) => Ngram.restore(state),
  merge: (detectors) => Ngram.merge(detectors),
};

/** Whether window `i` of `data` (windows of `size`, row-major) is window i - 1 moved on by one call. */
function slidOn(data: Uint16Array, i: number, size: number): boolean {
  if (i === 0) return false;
  const off = i * size;
  for (let j = 0; j < size - 1; j++) if (data[off + j] !== data[off - size + 1 + j]) return false;
  return true;
}
