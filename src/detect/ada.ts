import type { Detector, DetectorFactory } from './detector.js';
import type { WindowSet } from '../window/window-set.js';
import { Prng } from './lib/prng.js';
import { scoreDistinct } from './lib/unique.js';
import { asF64, badState, checkInt, checkNumber, checkState, checkValues, requireFitted, requireLabels, restoring, stateObject, stateWindowSize, type TaggedState } from './lib/state.js';
import { RandomForest, distinctForTrees } from './rf.js';

/**
 * AdaBoost with Random Forests as base estimators, as scikit-learn's
 * AdaBoostClassifier(estimator=RandomForestClassifier(), algorithm='SAMME'):
 * each round fits a forest with the current window weights, weighs it by
 * log((1 - err) / err) (+ log(K - 1) = 0 for two classes), and raises the
 * weight of the windows it got wrong. Stops early when a forest makes no
 * training error, or when its error reaches 0.5.
 *
 * Score = σ(decision), decision = Σ weight·(+1 attack / -1 normal) / Σ weight,
 * which is scikit-learn's SAMME predict_proba for two classes; alarm at 0.5.
 *
 * Windows with the same content and class always share one weight, so the
 * weights live per (distinct window, class).
 */
export interface AdaBoostOptions {
  /** Boosting rounds (n_estimators). */
  nEstimators: number;
  /** Shrinks each round's weight (learning_rate). */
  learningRate: number;
  /**
   * Trees per base forest. scikit-learn's default forest has 100; 10 keeps the
   * study table within its time budget (see docs/classifiers.md for the cost).
   */
  baseTrees: number;
  seed: number;
}

const DEFAULTS: AdaBoostOptions = { nEstimators: 50, learningRate: 1, baseTrees: 10, seed: 0 };
const NAME = 'ada';
const VERSION = 1;

interface AdaBoostState extends TaggedState {
  options: AdaBoostOptions;
  windowSize: number;
  /** Saved states of the base forests, in boosting order. */
  forests: unknown[];
  weights: Float64Array;
}

export class AdaBoost implements Detector {
  readonly name = NAME;
  readonly version = VERSION;
  readonly supervised = true;
  windowSize = 0;
  readonly options: AdaBoostOptions;
  private forests: RandomForest[] = [];
  private weights: Float64Array = new Float64Array(0);

  constructor(options: Partial<AdaBoostOptions> & { seed?: number } = {}) {
    this.options = { ...DEFAULTS, ...options };
    checkInt('nEstimators', this.options.nEstimators, 1, 100_000);
    checkNumber('learningRate', this.options.learningRate, 0, 1e6, true);
    checkInt('baseTrees', this.options.baseTrees, 1, 100_000);
    checkInt('seed', this.options.seed, 0, 0xffffffff);
  }

  fit(train: WindowSet): void {
    const labels = requireLabels(NAME, train);
    const { uniq: u, codes } = distinctForTrees(train, labels, this.options.seed);
    const U = u.count;
    const n = codes.length;
    // Per-window weight of each (distinct window, class) pair; starts at 1/n.
    const w = { normal: new Float64Array(U).fill(1 / n), attack: new Float64Array(U).fill(1 / n) };
    const rng = new Prng(this.options.seed);
    const forests: RandomForest[] = [];
    const weights: number[] = [];
    for (let m = 0; m < this.options.nEstimators; m++) {
      const rf = new RandomForest({ nEstimators: this.options.baseTrees });
      rf.fitDistinct(u, codes, w, rng.uint32());
      const p = rf.probaRows(u.data, U);
      // Weighted training error; scikit-learn's forest predicts attack only when P > 0.5.
      let wrong = 0;
      let total = 0;
      for (let r = 0; r < U; r++) {
        const massN = u.normal[r]! * w.normal[r]!;
        const massA = u.attack[r]! * w.attack[r]!;
        total += massN + massA;
        wrong += p[r]! > 0.5 ? massN : massA;
      }
      const err = wrong / total;
      if (err <= 0) {
        forests.push(rf);
        weights.push(1);
        break;
      }
      if (err >= 0.5) {
        if (forests.length === 0) throw new Error(`${NAME}: the first base forest is no better than chance (error ${err.toFixed(3)}); cannot boost`);
        break;
      }
      const alpha = this.options.learningRate * Math.log((1 - err) / err);
      forests.push(rf);
      weights.push(alpha);
      if (m === this.options.nEstimators - 1) break;
      const up = Math.exp(alpha);
      let sum = 0;
      for (let r = 0; r < U; r++) {
        if (p[r]! > 0.5) w.normal[r]! *= up;
        else w.attack[r]! *= up;
        sum += u.normal[r]! * w.normal[r]! + u.attack[r]! * w.attack[r]!;
      }
      for (let r = 0; r < U; r++) {
        w.normal[r]! /= sum;
        w.attack[r]! /= sum;
      }
    }
    this.forests = forests;
    this.weights = Float64Array.from(weights);
    this.windowSize = u.size;
  }

  /** Rounds actually kept (fewer than nEstimators after an early stop). */
  get rounds(): number {
    return this.forests.length;
  }

  private probaRows(rows: Uint16Array, count: number): Float64Array {
    const dec = new Float64Array(count);
    let total = 0;
    this.forests.forEach((rf, m) => {
      const a = this.weights[m]!;
      total += a;
      const p = rf.probaRows(rows, count);
      for (let i = 0; i < count; i++) dec[i]! += p[i]! > 0.5 ? a : -a;
    });
    for (let i = 0; i < count; i++) dec[i] = 1 / (1 + Math.exp(-dec[i]! / total));
    return dec;
  }

  score(windows: WindowSet, out?: Float64Array): Float64Array {
    requireFitted(NAME, this.windowSize, windows);
    return scoreDistinct(windows, out, (rows, count) => this.probaRows(rows, count));
  }

  maxScore(): number {
    return 1; // boosted P(attack), the sigmoid of the normalised weighted vote
  }

  state(): AdaBoostState {
    if (this.windowSize === 0) throw new Error(`${NAME}: state() called before fit()`);
    return {
      name: NAME, version: VERSION, options: { ...this.options }, windowSize: this.windowSize,
      forests: this.forests.map((f) => f.state()), weights: this.weights,
    };
  }

  static restore(state: unknown): AdaBoost {
    return restoring(NAME, () => {
      const s = checkState<AdaBoostState>(state, NAME, VERSION);
      const m = new AdaBoost(stateObject(NAME, s.options));
      m.windowSize = stateWindowSize(NAME, s.windowSize);
      if (!Array.isArray(s.forests) || s.forests.length === 0) throw badState(NAME, 'forests is not a non-empty array');
      m.forests = s.forests.map((f) => RandomForest.restore(f));
      for (const rf of m.forests) if (rf.windowSize !== m.windowSize) throw badState(NAME, `a base forest was fitted on windows of ${rf.windowSize}, the model on ${m.windowSize}`);
      m.weights = asF64(s.weights, 'weights');
      if (m.weights.length !== m.forests.length) throw badState(NAME, `it has ${m.forests.length} forests but ${m.weights.length} weights`);
      checkValues(NAME, m.weights, 'weights');
      return m;
    });
  }
}

export const factory: DetectorFactory<AdaBoostOptions> = {
  name: NAME,
  version: VERSION,
  description: 'AdaBoost (SAMME, 50 rounds) of Random Forests on window positions; score = boosted P(attack)',
  create: (options) => new AdaBoost(options),
  restore: (state) => AdaBoost.restore(state),
};
