import type { Detector, DetectorFactory } from './detector.js';
import { MAX_CALL, type WindowSet } from '../window/window-set.js';
import { softplus } from './common.js';
import { scoreDistinct, uniqueWindows } from './lib/unique.js';
import { asF64, checkLength, checkNumber, checkState, checkValues, requireFitted, requireLabels, restoring, stateObject, stateWindowSize, type TaggedState } from './lib/state.js';

/**
 * Gaussian Naive Bayes as scikit-learn's GaussianNB: one normal density per
 * class and window position, class priors from the training frequencies, and
 * `varSmoothing` times the largest position variance added to every variance.
 * Score = -log P(normal | window), in nats: the same order of windows as
 * P(attack | window) (scikit-learn's predict() cut of 0.5 is a score of
 * log 2), without its saturation: Gaussian densities make the joint
 * log-likelihoods of the two classes differ by hundreds of nats, and
 * P(attack) rounds to exactly 1 for many windows (every held-out normal
 * window of the ISCC traces), so no threshold below 1 could tell them
 * apart and none could be calibrated. In nats they stay apart.
 */
export interface NaiveBayesOptions {
  /** Fraction of the largest feature variance added to all variances (var_smoothing). */
  varSmoothing: number;
}

const DEFAULTS: NaiveBayesOptions = { varSmoothing: 1e-9 };
const NAME = 'nb';
/** 2: the score is -log P(normal) (version 1 scored P(attack)); the state is the same, but a threshold set on one is meaningless on the other. */
const VERSION = 2;

interface NaiveBayesState extends TaggedState {
  options: NaiveBayesOptions;
  windowSize: number;
  /** log prior per class [normal, attack]. */
  logPrior: Float64Array;
  /** Per class, then per position: mean and variance (2 * windowSize each). */
  mean: Float64Array;
  variance: Float64Array;
}

export class NaiveBayes implements Detector {
  readonly name = NAME;
  readonly version = VERSION;
  readonly supervised = true;
  windowSize = 0;
  readonly options: NaiveBayesOptions;
  private logPrior: Float64Array = new Float64Array(2);
  private mean: Float64Array = new Float64Array(0);
  private variance: Float64Array = new Float64Array(0);

  constructor(options: Partial<NaiveBayesOptions> & { seed?: number } = {}) {
    const { seed: _seed, ...rest } = options;
    this.options = { ...DEFAULTS, ...rest };
    checkNumber('varSmoothing', this.options.varSmoothing, 0, 1);
  }

  fit(train: WindowSet): void {
    requireLabels(NAME, train);
    const u = uniqueWindows(train);
    const d = u.size;
    const mean = new Float64Array(2 * d);
    const variance = new Float64Array(2 * d);
    const weights = [u.normal, u.attack];
    const totals = [0, 0];
    for (let c = 0; c < 2; c++) {
      const w = weights[c]!;
      let W = 0;
      for (let i = 0; i < u.count; i++) W += w[i]!;
      totals[c] = W;
      if (W === 0) throw new RangeError(`${NAME}: training windows hold no ${c === 0 ? 'normal' : 'attack'} window`);
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let i = 0; i < u.count; i++) s += w[i]! * u.data[i * d + j]!;
        const m = s / W;
        let v = 0;
        for (let i = 0; i < u.count; i++) {
          const e = u.data[i * d + j]! - m;
          v += w[i]! * e * e;
        }
        mean[c * d + j] = m;
        variance[c * d + j] = v / W;
      }
    }
    // Epsilon from the variance of each position over both classes together.
    const n = totals[0]! + totals[1]!;
    let maxVar = 0;
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let i = 0; i < u.count; i++) s += (u.normal[i]! + u.attack[i]!) * u.data[i * d + j]!;
      const m = s / n;
      let v = 0;
      for (let i = 0; i < u.count; i++) {
        const e = u.data[i * d + j]! - m;
        v += (u.normal[i]! + u.attack[i]!) * e * e;
      }
      maxVar = Math.max(maxVar, v / n);
    }
    const eps = this.options.varSmoothing * maxVar;
    for (let k = 0; k < variance.length; k++) variance[k]! += eps;
    this.mean = mean;
    this.variance = variance;
    this.logPrior = Float64Array.of(Math.log(totals[0]! / n), Math.log(totals[1]! / n));
    this.windowSize = d;
  }

  private scoreRows(rows: Uint16Array, count: number): Float64Array {
    const d = this.windowSize;
    const out = new Float64Array(count);
    const jll = [0, 0];
    for (let i = 0; i < count; i++) {
      for (let c = 0; c < 2; c++) {
        let s = this.logPrior[c]!;
        for (let j = 0; j < d; j++) {
          const v = this.variance[c * d + j]!;
          const e = rows[i * d + j]! - this.mean[c * d + j]!;
          s -= 0.5 * (Math.log(2 * Math.PI * v) + (e * e) / v);
        }
        jll[c] = s;
      }
      out[i] = softplus(jll[1]! - jll[0]!);
    }
    return out;
  }

  score(windows: WindowSet, out?: Float64Array): Float64Array {
    requireFitted(NAME, this.windowSize, windows);
    return scoreDistinct(windows, out, (rows, count) => this.scoreRows(rows, count));
  }

  /**
   * The score at the highest log-odds any window can reach: the prior's
   * log-odds plus, at each position on its own (the positions are
   * independent terms), the highest log-density ratio of a syscall number
   * from 0 to 65535 (a quadratic: at an end, or at its vertex when it opens
   * downwards).
   */
  maxScore(): number {
    const d = this.windowSize;
    let z = this.logPrior[1]! - this.logPrior[0]!;
    for (let j = 0; j < d; j++) {
      const v0 = this.variance[j]!;
      const v1 = this.variance[d + j]!;
      const m0 = this.mean[j]!;
      const m1 = this.mean[d + j]!;
      const ratio = (x: number): number => 0.5 * (Math.log(v0 / v1) + ((x - m0) * (x - m0)) / v0 - ((x - m1) * (x - m1)) / v1);
      let best = Math.max(ratio(0), ratio(MAX_CALL));
      const curve = 1 / v0 - 1 / v1;
      if (curve < 0) {
        const top = (m0 / v0 - m1 / v1) / curve;
        if (top > 0 && top < MAX_CALL) best = Math.max(best, ratio(top));
      }
      z += best;
    }
    return softplus(z);
  }

  state(): NaiveBayesState {
    if (this.windowSize === 0) throw new Error(`${NAME}: state() called before fit()`);
    return {
      name: NAME, version: VERSION, options: { ...this.options }, windowSize: this.windowSize,
      logPrior: this.logPrior, mean: this.mean, variance: this.variance,
    };
  }

  static restore(state: unknown): NaiveBayes {
    return restoring(NAME, () => {
      const s = checkState<NaiveBayesState>(state, NAME, VERSION);
      const nb = new NaiveBayes(stateObject(NAME, s.options));
      const d = (nb.windowSize = stateWindowSize(NAME, s.windowSize));
      nb.logPrior = asF64(s.logPrior, 'logPrior');
      nb.mean = asF64(s.mean, 'mean');
      nb.variance = asF64(s.variance, 'variance');
      checkLength(NAME, nb.logPrior, 'logPrior', 2);
      checkLength(NAME, nb.mean, 'mean', 2 * d);
      checkLength(NAME, nb.variance, 'variance', 2 * d);
      checkValues(NAME, nb.logPrior, 'logPrior', -Number.MAX_VALUE, 0);
      checkValues(NAME, nb.mean, 'mean');
      // A zero or negative variance divides by zero or takes the log of a negative: NaN scores that never alarm.
      checkValues(NAME, nb.variance, 'variance', Number.MIN_VALUE);
      return nb;
    });
  }
}

export const factory: DetectorFactory<NaiveBayesOptions> = {
  name: NAME,
  version: VERSION,
  description: 'Gaussian Naive Bayes on window positions; score = -log P(normal), in nats',
  create: (options) => new NaiveBayes(options),
  restore: (state) => NaiveBayes.restore(state),
};
