import type { Detector, DetectorFactory } from './detector.js';
import { MAX_CALL, type WindowSet } from '../window/window-set.js';
import { Prng } from './lib/prng.js';
import { softplus } from './common.js';
import { scoreDistinct, uniqueWindows } from './lib/unique.js';
import { asF64, badState, checkInt, checkLength, checkNumber, checkState, checkValues, requireFitted, requireLabels, restoring, stateInt, stateNumber, stateObject, stateWindowSize, type TaggedState } from './lib/state.js';

/**
 * Multi-layer perceptron as scikit-learn's MLPClassifier with its defaults:
 * one hidden layer of 100 ReLU units, logistic output, log-loss with L2
 * penalty alpha = 1e-4, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8), shuffled
 * minibatches of 200 windows, Glorot-uniform initial weights, stop after 10
 * epochs without a 1e-4 drop of the training loss, at most `maxIter` epochs
 * (30 by default, not 200: see the option).
 * Inputs are the raw syscall numbers, unscaled, as in the study.
 *
 * Each minibatch is drawn from the training windows exactly as scikit-learn
 * does; the duplicates inside a batch are then forwarded once, with their
 * count, which gives the same gradient for less work.
 * Score = -log P(normal), in nats (softplus of the output unit's log-odds):
 * the same order of windows as P(attack), whose sigmoid rounds to exactly 1
 * on many windows of raw, unscaled syscall numbers (held-out normal ones
 * included), where no threshold could be calibrated below it.
 */
export interface MlpOptions {
  /** Units of the single hidden layer (hidden_layer_sizes = (n,)). */
  hiddenUnits: number;
  /** L2 penalty (alpha). */
  alpha: number;
  /** Adam step size (learning_rate_init). */
  learningRate: number;
  /** Windows per minibatch (batch_size), capped at the training size. */
  batchSize: number;
  /**
   * Epoch cap (max_iter). scikit-learn's default is 200; 30 keeps the study
   * table within its time budget (see docs/classifiers.md for what it changes).
   */
  maxIter: number;
  /** Loss improvement that counts as progress (tol). */
  tol: number;
  /** Epochs without progress before stopping (n_iter_no_change). */
  nIterNoChange: number;
  seed: number;
}

const DEFAULTS: MlpOptions = { hiddenUnits: 100, alpha: 1e-4, learningRate: 1e-3, batchSize: 200, maxIter: 30, tol: 1e-4, nIterNoChange: 10, seed: 0 };
const NAME = 'mlp';
/** 2: the score is -log P(normal) (version 1 scored P(attack)); the weights are the same, but a threshold set on one is meaningless on the other. */
const VERSION = 2;
const EPS = 2.220446049250313e-16;

interface MlpState extends TaggedState {
  options: MlpOptions;
  windowSize: number;
  /** Input-to-hidden weights, row-major [input][hidden]. */
  w1: Float64Array;
  b1: Float64Array;
  w2: Float64Array;
  b2: number;
  /** Epochs run and final training loss, for reports. */
  epochs: number;
  loss: number;
}

export class Mlp implements Detector {
  readonly name = NAME;
  readonly version = VERSION;
  readonly supervised = true;
  windowSize = 0;
  readonly options: MlpOptions;
  epochs = 0;
  loss = NaN;
  private w1: Float64Array = new Float64Array(0);
  private b1: Float64Array = new Float64Array(0);
  private w2: Float64Array = new Float64Array(0);
  private b2 = 0;

  constructor(options: Partial<MlpOptions> & { seed?: number } = {}) {
    this.options = { ...DEFAULTS, ...options };
    const o = this.options;
    checkInt('hiddenUnits', o.hiddenUnits, 1, 100_000);
    checkNumber('alpha', o.alpha, 0, 1e6);
    checkNumber('learningRate', o.learningRate, 0, 10, true);
    checkInt('batchSize', o.batchSize, 1);
    checkInt('maxIter', o.maxIter, 1);
    checkNumber('tol', o.tol, 0, 1e6);
    checkInt('nIterNoChange', o.nIterNoChange, 1);
    checkInt('seed', o.seed, 0, 0xffffffff);
  }

  fit(train: WindowSet): void {
    const labels = requireLabels(NAME, train);
    const o = this.options;
    const u = uniqueWindows(train);
    const d = u.size;
    const H = o.hiddenUnits;
    const n = train.count;
    const X = u.data;
    const rng = new Prng(o.seed);

    // Glorot uniform, with scikit-learn's factors: 6 for ReLU layers, 2 for the logistic output.
    const w1 = new Float64Array(d * H);
    const b1 = new Float64Array(H);
    const w2 = new Float64Array(H);
    const bound1 = Math.sqrt(6 / (d + H));
    for (let k = 0; k < w1.length; k++) w1[k] = (2 * rng.float() - 1) * bound1;
    for (let k = 0; k < H; k++) b1[k] = (2 * rng.float() - 1) * bound1;
    const bound2 = Math.sqrt(2 / (H + 1));
    for (let k = 0; k < H; k++) w2[k] = (2 * rng.float() - 1) * bound2;
    let b2 = (2 * rng.float() - 1) * bound2;

    // Parameters as one vector for Adam: [w1, b1, w2, b2].
    const P = d * H + H + H + 1;
    const grad = new Float64Array(P);
    const m1 = new Float64Array(P);
    const m2 = new Float64Array(P);
    const B = Math.min(o.batchSize, n);
    const perm = new Int32Array(n);
    for (let i = 0; i < n; i++) perm[i] = i;
    // Per distinct window within the current batch: copies per class.
    const c0 = new Float64Array(u.count);
    const c1 = new Float64Array(u.count);
    const inBatch: number[] = [];
    const h = new Float64Array(H);
    let t = 0;
    let best = Infinity;
    let stall = 0;
    let epoch = 0;
    let epochLoss = NaN;
    const beta1 = 0.9;
    const beta2 = 0.999;
    for (epoch = 0; epoch < o.maxIter; epoch++) {
      rng.shuffle(perm);
      let lossSum = 0;
      for (let start = 0; start < n; start += B) {
        const end = Math.min(start + B, n);
        const bn = end - start;
        inBatch.length = 0;
        for (let q = start; q < end; q++) {
          const i = perm[q]!;
          const r = u.index[i]!;
          if (c0[r] === 0 && c1[r] === 0) inBatch.push(r);
          if (labels[i] === 1) c1[r]! += 1;
          else c0[r]! += 1;
        }
        grad.fill(0);
        let batchLoss = 0;
        for (const r of inBatch) {
          const off = r * d;
          let z = b2;
          for (let k = 0; k < H; k++) {
            let a = b1[k]!;
            for (let j = 0; j < d; j++) a += X[off + j]! * w1[j * H + k]!;
            a = a > 0 ? a : 0;
            h[k] = a;
            z += a * w2[k]!;
          }
          let p = z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
          const n0 = c0[r]!;
          const n1 = c1[r]!;
          p = Math.min(Math.max(p, EPS), 1 - EPS);
          batchLoss -= n1 * Math.log(p) + n0 * Math.log(1 - p);
          const delta = ((n0 + n1) * p - n1) / bn;
          for (let k = 0; k < H; k++) {
            grad[d * H + H + k]! += delta * h[k]!;
            if (h[k]! > 0) {
              const dh = delta * w2[k]!;
              grad[d * H + k]! += dh;
              for (let j = 0; j < d; j++) grad[j * H + k]! += dh * X[off + j]!;
            }
          }
          grad[P - 1]! += delta;
          c0[r] = 0;
          c1[r] = 0;
        }
        batchLoss /= bn;
        let sq = 0;
        for (let k = 0; k < d * H; k++) {
          sq += w1[k]! * w1[k]!;
          grad[k]! += (o.alpha * w1[k]!) / bn;
        }
        for (let k = 0; k < H; k++) {
          sq += w2[k]! * w2[k]!;
          grad[d * H + H + k]! += (o.alpha * w2[k]!) / bn;
        }
        batchLoss += (0.5 * o.alpha * sq) / bn;
        lossSum += batchLoss * bn;

        t++;
        const lr = (o.learningRate * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
        for (let k = 0; k < P; k++) {
          const g = grad[k]!;
          const a = (m1[k] = beta1 * m1[k]! + (1 - beta1) * g);
          const v = (m2[k] = beta2 * m2[k]! + (1 - beta2) * g * g);
          const step = (lr * a) / (Math.sqrt(v) + 1e-8);
          if (k < d * H) w1[k]! -= step;
          else if (k < d * H + H) b1[k - d * H]! -= step;
          else if (k < P - 1) w2[k - d * H - H]! -= step;
          else b2 -= step;
        }
      }
      epochLoss = lossSum / n;
      if (epochLoss > best - o.tol) stall++;
      else stall = 0;
      if (epochLoss < best) best = epochLoss;
      if (stall > o.nIterNoChange) {
        epoch++;
        break;
      }
    }
    this.w1 = w1;
    this.b1 = b1;
    this.w2 = w2;
    this.b2 = b2;
    this.epochs = epoch;
    this.loss = epochLoss;
    this.windowSize = d;
  }

  private scoreRows(rows: Uint16Array, count: number): Float64Array {
    const d = this.windowSize;
    const H = this.options.hiddenUnits;
    const { w1, b1, w2, b2 } = this;
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const off = i * d;
      let z = b2;
      for (let k = 0; k < H; k++) {
        let a = b1[k]!;
        for (let j = 0; j < d; j++) a += rows[off + j]! * w1[j * H + k]!;
        if (a > 0) z += a * w2[k]!;
      }
      out[i] = softplus(z);
    }
    return out;
  }

  score(windows: WindowSet, out?: Float64Array): Float64Array {
    requireFitted(NAME, this.windowSize, windows);
    return scoreDistinct(windows, out, (rows, count) => this.scoreRows(rows, count));
  }

  /**
   * The score at a bound of the output's log-odds over every window of
   * syscall numbers 0..65535: each hidden unit's highest and lowest input
   * over that box (interval arithmetic), through the ReLU, then each unit
   * at whichever end raises the output. A bound, not always reached: the
   * units' ends need not come from one window.
   */
  maxScore(): number {
    const d = this.windowSize;
    const H = this.options.hiddenUnits;
    const { w1, b1, w2 } = this;
    let z = this.b2;
    for (let k = 0; k < H; k++) {
      let hi = b1[k]!;
      let lo = b1[k]!;
      for (let j = 0; j < d; j++) {
        const w = w1[j * H + k]! * MAX_CALL;
        if (w > 0) hi += w;
        else lo += w;
      }
      z += w2[k]! * (w2[k]! > 0 ? Math.max(0, hi) : Math.max(0, lo));
    }
    return softplus(z);
  }

  state(): MlpState {
    if (this.windowSize === 0) throw new Error(`${NAME}: state() called before fit()`);
    return {
      name: NAME, version: VERSION, options: { ...this.options }, windowSize: this.windowSize,
      w1: this.w1, b1: this.b1, w2: this.w2, b2: this.b2, epochs: this.epochs, loss: this.loss,
    };
  }

  static restore(state: unknown): Mlp {
    return restoring(NAME, () => {
      const s = checkState<MlpState>(state, NAME, VERSION);
      const m = new Mlp(stateObject(NAME, s.options));
      const d = (m.windowSize = stateWindowSize(NAME, s.windowSize));
      const H = m.options.hiddenUnits;
      m.w1 = asF64(s.w1, 'w1');
      m.b1 = asF64(s.b1, 'b1');
      m.w2 = asF64(s.w2, 'w2');
      checkLength(NAME, m.w1, 'w1', d * H);
      checkLength(NAME, m.b1, 'b1', H);
      checkLength(NAME, m.w2, 'w2', H);
      checkValues(NAME, m.w1, 'w1');
      checkValues(NAME, m.b1, 'b1');
      checkValues(NAME, m.w2, 'w2');
      m.b2 = stateNumber(NAME, s.b2, 'b2');
      m.epochs = stateInt(NAME, s.epochs, 'epochs', 0, Number.MAX_SAFE_INTEGER);
      // The training loss is for reports only; NaN is what an unfinished fit leaves.
      if (typeof s.loss !== 'number') throw badState(NAME, `loss is ${String(s.loss).slice(0, 40)}, not a number`);
      m.loss = s.loss;
      return m;
    });
  }
}

export const factory: DetectorFactory<MlpOptions> = {
  name: NAME,
  version: VERSION,
  description: 'Multi-layer perceptron (100 ReLU units, Adam) on raw window positions; score = -log P(normal), in nats',
  create: (options) => new Mlp(options),
  restore: (state) => Mlp.restore(state),
};
