import type { Detector, DetectorFactory } from './detector.js';
import type { WindowSet } from '../window/window-set.js';
import { scoreDistinct, uniqueWindows } from './lib/unique.js';
import { asF64, checkLength, checkNumber, checkState, checkValues, requireFitted, requireLabels, restoring, stateObject, stateWindowSize, type TaggedState } from './lib/state.js';

/**
 * Gaussian Naive Bayes as scikit-learn's GaussianNB: one normal density per
 * class and window position, class priors from the training frequencies, and
 * `varSmoothing` times the largest position variance added to every variance.
 * Score = P(attack | window).
 */
export interface NaiveBayesOptions {
  /** Fraction of the largest feature variance added to all variances (var_smoothing). */
  varSmoothing: number;
}

const DEFAULTS: NaiveBayesOptions = { varSmoothing: 1e-9 };
const NAME = 'nb';
const VERSION = 1;

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

  private probaRows(rows: Uint16Array, count: number): Float64Array {
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
      // P(attack) = 1 / (1 + exp(jll0 - jll1)), written to avoid overflow.
      const z = jll[0]! - jll[1]!;
      out[i] = z > 0 ? Math.exp(-z) / (1 + Math.exp(-z)) : 1 / (1 + Math.exp(z));
    }
    return out;
  }

  score(windows: WindowSet, out?: Float64Array): Float64Array {
    requireFitted(NAME, this.windowSize, windows);
    return scoreDistinct(windows, out, (rows, count) => this.probaRows(rows, count));
  }

  maxScore(): number {
    return 1; // P(attack), a logistic of the joint log-likelihood difference
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
  description: 'Gaussian Naive Bayes on window positions; score = P(attack)',
  create: (options) => new NaiveBayes(options),
  restore: (state) => NaiveBayes.restore(state),
};
