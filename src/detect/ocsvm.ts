import type { Detector, DetectorFactory } from './detector.js';
import type { WindowSet } from '../window/window-set.js';
import { boundedDistinct } from './lib/bounded-sample.js';
import { scoreDistinct, uniqueWindows } from './lib/unique.js';
import { asF64, asU16, checkInt, checkLength, checkNumber, checkState, checkValues, requireFitted, restoring, stateNumber, stateObject, stateWindowSize, type TaggedState } from './lib/state.js';

/**
 * One-class SVM (Schölkopf et al. 2001) as scikit-learn's OneClassSVM / libsvm
 * with the study's settings: nu = 0.01, RBF kernel, gamma 'scale' =
 * 1 / (features * variance of all training values). Learns from normal windows.
 *
 * libsvm solves  min ½ aᵀQa  s.t. 0 <= a_i <= 1, Σ a_i = nu·n  by SMO. c copies
 * of one window act as one point whose bound is c (the copies' alphas only
 * ever matter through their sum), so this solves the same problem over the
 * distinct windows with per-point bounds: an exact reduction, not an
 * approximation. Working-set selection is libsvm's second-order rule, the
 * stopping rule its `m(a) - M(a) < tol`, rho its mean gradient of free points.
 *
 * Score = -decision_function = rho - Σ a_i K(x_i, x): above 0 is where
 * scikit-learn's predict says -1; syswarden calibrates its threshold on
 * held-out normal data instead, as for every detector.
 */
export interface OneClassSvmOptions {
  /** Upper bound on the training outlier fraction, lower bound on the support-vector fraction. */
  nu: number;
  /** RBF width; 0 = 'scale' (1 / (features * variance)). */
  gamma: number;
  /** Stopping tolerance on the KKT gap (libsvm eps, sklearn tol). */
  tol: number;
  /** SMO iteration cap. */
  maxIter: number;
  /** Kernel row cache budget in MiB. */
  cacheMiB: number;
}

const DEFAULTS: OneClassSvmOptions = { nu: 0.01, gamma: 0, tol: 1e-3, maxIter: 10_000_000, cacheMiB: 256 };
const NAME = 'ocsvm';
const VERSION = 1;

interface OneClassSvmState extends TaggedState {
  options: OneClassSvmOptions;
  windowSize: number;
  gamma: number;
  rho: number;
  /** Support vectors (row-major) and their alphas. */
  sv: Uint16Array;
  alpha: Float64Array;
}

export class OneClassSvm implements Detector {
  readonly name = NAME;
  readonly version = VERSION;
  readonly supervised = false;
  windowSize = 0;
  readonly options: OneClassSvmOptions;
  /** Iterations the last fit took (for reports). */
  iterations = 0;
  private gamma = 0;
  private rho = 0;
  private sv: Uint16Array = new Uint16Array(0);
  private alpha: Float64Array = new Float64Array(0);

  /** Seeds the sample of distinct windows taken above MAX_DISTINCT_PER_CLASS (not saved: only fitting draws). */
  private readonly seed: number;

  constructor(options: Partial<OneClassSvmOptions> & { seed?: number } = {}) {
    const { seed = 0, ...rest } = options;
    checkInt('seed', seed, 0, 0xffffffff);
    this.seed = seed;
    this.options = { ...DEFAULTS, ...rest };
    checkNumber('nu', this.options.nu, 0, 1, true);
    checkNumber('gamma', this.options.gamma, 0, Number.MAX_VALUE);
    checkNumber('tol', this.options.tol, 0, 1, true);
    checkInt('maxIter', this.options.maxIter, 1);
    checkNumber('cacheMiB', this.options.cacheMiB, 1, 1 << 20);
  }

  fit(train: WindowSet): void {
    // A kernel row per distinct window: past MAX_DISTINCT_PER_CLASS, a weighted sample of them (350 000 did not fit in 15 minutes).
    const u = boundedDistinct(uniqueWindows(train, train.labels ? 'normal' : undefined), undefined, this.seed);
    const d = u.size;
    const U = u.count;
    const C = u.normal;
    const X = u.data;
    let n = 0;
    for (let i = 0; i < U; i++) n += C[i]!;
    if (n < 1) throw new RangeError(`${NAME}: no normal training windows`);

    let gamma = this.options.gamma;
    if (gamma === 0) {
      let s = 0;
      let s2 = 0;
      for (let i = 0; i < U; i++) {
        for (let j = 0; j < d; j++) {
          const v = X[i * d + j]!;
          s += C[i]! * v;
          s2 += C[i]! * v * v;
        }
      }
      const m = s / (n * d);
      const variance = s2 / (n * d) - m * m;
      gamma = variance > 0 ? 1 / (d * variance) : 1;
    }

    // Kernel rows on demand, first-in first-out once the budget is spent.
    const rows: Array<Float64Array | undefined> = new Array(U);
    const order: number[] = [];
    const maxRows = Math.max(2, Math.floor((this.options.cacheMiB * 1024 * 1024) / (8 * U)));
    const row = (i: number): Float64Array => {
      let r = rows[i];
      if (r) return r;
      if (order.length >= maxRows) rows[order.shift()!] = undefined;
      r = new Float64Array(U);
      const io = i * d;
      for (let k = 0; k < U; k++) {
        let s = 0;
        const ko = k * d;
        for (let j = 0; j < d; j++) {
          const e = X[io + j]! - X[ko + j]!;
          s += e * e;
        }
        r[k] = Math.exp(-gamma * s);
      }
      rows[i] = r;
      order.push(i);
      return r;
    };

    // libsvm's start: the first nu·n training windows (copies, not distinct
    // windows) at their bound of 1, the next one at the remainder. Where the
    // solver starts decides which tol-optimal solution it stops at, and with
    // heavily repeated windows the commonest ones are free support vectors
    // whose decision value is 0 up to that tolerance: starting elsewhere put
    // them on the other side of the boundary from libsvm's (see
    // test/detect/ocsvm-matches-libsvm.test.ts).
    const alpha = new Float64Array(U);
    let left = this.options.nu * n;
    for (let i = 0; i < u.index.length && left > 0; i++) {
      const k = u.index[i]!;
      if (k < 0) continue; // not a normal window
      const a = Math.min(1, left);
      alpha[k]! += a;
      left -= a;
    }
    const G = new Float64Array(U);
    for (let i = 0; i < U; i++) {
      if (alpha[i]! === 0) continue;
      const r = row(i);
      for (let k = 0; k < U; k++) G[k]! += alpha[i]! * r[k]!;
    }

    const tol = this.options.tol;
    let iter = 0;
    for (; iter < this.options.maxIter; iter++) {
      // i: the point that most wants to grow (smallest gradient, below its bound).
      let gmax = -Infinity;
      let bi = -1;
      for (let k = 0; k < U; k++) {
        if (alpha[k]! < C[k]! && -G[k]! > gmax) {
          gmax = -G[k]!;
          bi = k;
        }
      }
      if (bi < 0) break;
      const Qi = row(bi);
      // j: second-order choice among points that can shrink.
      let gmin = Infinity;
      let bj = -1;
      let best = Infinity;
      for (let k = 0; k < U; k++) {
        if (alpha[k]! <= 0) continue;
        const gk = -G[k]!;
        if (gk < gmin) gmin = gk;
        const diff = gmax - gk;
        if (diff > 0) {
          let quad = 2 - 2 * Qi[k]!;
          if (quad <= 0) quad = 1e-12;
          const obj = -(diff * diff) / quad;
          if (obj <= best) {
            best = obj;
            bj = k;
          }
        }
      }
      if (gmax - gmin < tol || bj < 0) break;
      const Qj = row(bj);
      let quad = 2 - 2 * Qi[bj]!;
      if (quad <= 0) quad = 1e-12;
      let t = (G[bj]! - G[bi]!) / quad;
      t = Math.min(t, C[bi]! - alpha[bi]!, alpha[bj]!);
      if (t <= 0) break;
      alpha[bi]! += t;
      alpha[bj]! -= t;
      // Keep the bounds exact against rounding.
      if (C[bi]! - alpha[bi]! < 1e-12 * C[bi]!) alpha[bi] = C[bi]!;
      if (alpha[bj]! < 1e-12) alpha[bj] = 0;
      for (let k = 0; k < U; k++) G[k]! += t * (Qi[k]! - Qj[k]!);
    }
    this.iterations = iter;

    // rho: mean gradient over free points, else the middle of the feasible interval.
    let sum = 0;
    let nFree = 0;
    let ub = Infinity;
    let lb = -Infinity;
    for (let k = 0; k < U; k++) {
      const a = alpha[k]!;
      if (a > 0 && a < C[k]!) {
        sum += G[k]!;
        nFree++;
      } else if (a >= C[k]!) lb = Math.max(lb, G[k]!);
      else ub = Math.min(ub, G[k]!);
    }
    this.rho = nFree > 0 ? sum / nFree : (ub + lb) / 2;

    let nsv = 0;
    for (let k = 0; k < U; k++) if (alpha[k]! > 0) nsv++;
    const sv = new Uint16Array(nsv * d);
    const a = new Float64Array(nsv);
    for (let k = 0, m = 0; k < U; k++) {
      if (alpha[k]! <= 0) continue;
      sv.set(X.subarray(k * d, k * d + d), m * d);
      a[m++] = alpha[k]!;
    }
    this.sv = sv;
    this.alpha = a;
    this.gamma = gamma;
    this.windowSize = d;
  }

  private anomalyRows(rows: Uint16Array, count: number): Float64Array {
    const d = this.windowSize;
    const { sv, alpha, gamma, rho } = this;
    const nsv = alpha.length;
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const off = i * d;
      let s = 0;
      for (let k = 0; k < nsv; k++) {
        let e2 = 0;
        for (let j = 0; j < d; j++) {
          const e = rows[off + j]! - sv[k * d + j]!;
          e2 += e * e;
        }
        s += alpha[k]! * Math.exp(-gamma * e2);
      }
      out[i] = rho - s;
    }
    return out;
  }

  score(windows: WindowSet, out?: Float64Array): Float64Array {
    requireFitted(NAME, this.windowSize, windows);
    return scoreDistinct(windows, out, (rows, count) => this.anomalyRows(rows, count));
  }

  /** rho - sum(alpha_i K(x_i, x)) with K in [0, 1]: at most rho plus the negative alphas' weight. */
  maxScore(): number {
    let bound = this.rho;
    for (const a of this.alpha) if (a < 0) bound -= a;
    return bound;
  }

  state(): OneClassSvmState {
    if (this.windowSize === 0) throw new Error(`${NAME}: state() called before fit()`);
    return {
      name: NAME, version: VERSION, options: { ...this.options }, windowSize: this.windowSize,
      gamma: this.gamma, rho: this.rho, sv: this.sv, alpha: this.alpha,
    };
  }

  static restore(state: unknown): OneClassSvm {
    return restoring(NAME, () => {
      const s = checkState<OneClassSvmState>(state, NAME, VERSION);
      const m = new OneClassSvm(stateObject(NAME, s.options));
      const d = (m.windowSize = stateWindowSize(NAME, s.windowSize));
      m.gamma = stateNumber(NAME, s.gamma, 'gamma', 0);
      m.rho = stateNumber(NAME, s.rho, 'rho');
      m.sv = asU16(s.sv, 'sv');
      m.alpha = asF64(s.alpha, 'alpha');
      checkLength(NAME, m.sv, 'sv', m.alpha.length * d);
      checkValues(NAME, m.alpha, 'alpha');
      return m;
    });
  }
}

export const factory: DetectorFactory<OneClassSvmOptions> = {
  name: NAME,
  version: VERSION,
  description: 'One-class SVM (RBF, nu = 0.01) on normal windows; score = -decision function (above 0: outside the learnt region)',
  create: (options) => new OneClassSvm(options),
  restore: (state) => OneClassSvm.restore(state),
};
