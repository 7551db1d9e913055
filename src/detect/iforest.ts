import type { Detector, DetectorFactory } from './detector.js';
import type { WindowSet } from '../window/window-set.js';
import { Prng } from './lib/prng.js';
import { scoreDistinct, uniqueWindows } from './lib/unique.js';
import { asF64, asI32, checkInt, checkLength, checkState, checkTrees, checkValues, requireFitted, restoring, stateNumber, stateObject, stateWindowSize, type TaggedState } from './lib/state.js';

/**
 * Isolation Forest (Liu, Ting & Zhou 2008) as scikit-learn's IsolationForest
 * with its defaults: 100 trees, each on 256 training windows drawn without
 * replacement, random feature (constant ones skipped) and uniform random
 * threshold per node, depth limit ceil(log2 256) = 8. Learns from normal
 * windows only.
 *
 * Score = 2^(-E[path length] / c(256)), the anomaly score in (0, 1);
 * scikit-learn's contamination 'auto' flags a window when that score exceeds
 * 0.5 (score_samples < offset_ = -0.5); syswarden calibrates the threshold
 * on held-out normal data instead, as for every detector.
 */
export interface IsolationForestOptions {
  /** Number of trees (n_estimators). */
  nEstimators: number;
  /** Training windows per tree (max_samples), capped at the training size. */
  maxSamples: number;
  seed: number;
}

const DEFAULTS: IsolationForestOptions = { nEstimators: 100, maxSamples: 256, seed: 0 };
const NAME = 'iforest';
const VERSION = 1;

interface IsolationForestState extends TaggedState {
  options: IsolationForestOptions;
  windowSize: number;
  /** c(samples per tree): normalises the mean path length. */
  norm: number;
  feature: Int32Array;
  threshold_: Float64Array;
  left: Int32Array;
  right: Int32Array;
  /** At a leaf: its depth plus c(windows in it). */
  pathLength: Float64Array;
  roots: Int32Array;
}

/** Average path length of an unsuccessful search in a binary search tree of n points. */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + 0.5772156649015329) - (2 * (n - 1)) / n;
}

export class IsolationForest implements Detector {
  readonly name = NAME;
  readonly version = VERSION;
  readonly supervised = false;
  windowSize = 0;
  readonly options: IsolationForestOptions;
  private trees: Omit<IsolationForestState, 'name' | 'version' | 'options' | 'windowSize'> | null = null;

  constructor(options: Partial<IsolationForestOptions> & { seed?: number } = {}) {
    this.options = { ...DEFAULTS, ...options };
    checkInt('nEstimators', this.options.nEstimators, 1, 100_000);
    checkInt('maxSamples', this.options.maxSamples, 2, 1 << 30);
    checkInt('seed', this.options.seed, 0, 0xffffffff);
  }

  fit(train: WindowSet): void {
    const u = uniqueWindows(train, train.labels ? 'normal' : undefined);
    // Draws pick training windows, so keep each normal window's distinct index.
    const pool: number[] = [];
    for (let i = 0; i < train.count; i++) if (u.index[i]! >= 0) pool.push(u.index[i]!);
    const n = pool.length;
    if (n < 2) throw new RangeError(`${NAME}: needs at least 2 normal training windows, got ${n}`);
    const psi = Math.min(this.options.maxSamples, n);
    const maxDepth = Math.ceil(Math.log2(Math.max(psi, 2)));
    const d = u.size;
    const X = u.data;
    const rng = new Prng(this.options.seed);
    const feature: number[] = [];
    const thr: number[] = [];
    const left: number[] = [];
    const right: number[] = [];
    const path: number[] = [];
    const roots: number[] = [];
    const newNode = (): number => {
      feature.push(-1);
      thr.push(0);
      left.push(-1);
      right.push(-1);
      path.push(0);
      return feature.length - 1;
    };
    const mult = new Float64Array(u.count);
    const features = new Int32Array(d);
    for (let t = 0; t < this.options.nEstimators; t++) {
      const tr = rng.fork();
      // psi distinct training windows, as distinct rows with multiplicities.
      const picked = new Set<number>();
      while (picked.size < psi) picked.add(tr.int(n));
      const rows: number[] = [];
      for (const i of picked) {
        const r = pool[i]!;
        if (mult[r] === 0) rows.push(r);
        mult[r]! += 1;
      }
      const idx = Int32Array.from(rows);
      const w = Float64Array.from(rows, (r) => mult[r]!);
      for (const r of rows) mult[r] = 0;
      for (let j = 0; j < d; j++) features[j] = j;
      const root = newNode();
      roots.push(root);
      const stack: number[] = [root, 0, idx.length, 0];
      while (stack.length > 0) {
        const depth = stack.pop()!;
        const end = stack.pop()!;
        const start = stack.pop()!;
        const node = stack.pop()!;
        let size = 0;
        for (let i = start; i < end; i++) size += w[i]!;
        path[node] = depth + averagePathLength(size);
        if (size < 2 || depth >= maxDepth) continue;
        // Random non-constant feature: constant ones are skipped, as in the random splitter.
        let f = -1;
        let lo = 0;
        let hi = 0;
        for (let k = 0; k < d; k++) {
          const j = k + tr.int(d - k);
          const c = features[j]!;
          features[j] = features[k]!;
          features[k] = c;
          let mn = Infinity;
          let mx = -Infinity;
          for (let i = start; i < end; i++) {
            const v = X[idx[i]! * d + c]!;
            if (v < mn) mn = v;
            if (v > mx) mx = v;
          }
          if (mx > mn) {
            f = c;
            lo = mn;
            hi = mx;
            break;
          }
        }
        if (f < 0) continue;
        let th = lo + tr.float() * (hi - lo);
        if (th >= hi) th = lo;
        let i = start;
        let k = end - 1;
        while (i <= k) {
          if (X[idx[i]! * d + f]! <= th) i++;
          else {
            const a = idx[i]!;
            idx[i] = idx[k]!;
            idx[k] = a;
            const b = w[i]!;
            w[i] = w[k]!;
            w[k] = b;
            k--;
          }
        }
        const l = newNode();
        const r = newNode();
        feature[node] = f;
        thr[node] = th;
        left[node] = l;
        right[node] = r;
        stack.push(r, i, end, depth + 1, l, start, i, depth + 1);
      }
    }
    this.trees = {
      norm: averagePathLength(psi),
      feature: Int32Array.from(feature),
      threshold_: Float64Array.from(thr),
      left: Int32Array.from(left),
      right: Int32Array.from(right),
      pathLength: Float64Array.from(path),
      roots: Int32Array.from(roots),
    };
    this.windowSize = d;
  }

  private anomalyRows(rows: Uint16Array, count: number): Float64Array {
    const { feature, threshold_, left, right, pathLength, roots, norm } = this.trees!;
    const d = this.windowSize;
    const out = new Float64Array(count);
    const T = roots.length;
    for (let i = 0; i < count; i++) {
      const off = i * d;
      let s = 0;
      for (let t = 0; t < T; t++) {
        let node = roots[t]!;
        while (feature[node]! >= 0) node = rows[off + feature[node]!]! <= threshold_[node]! ? left[node]! : right[node]!;
        s += pathLength[node]!;
      }
      out[i] = Math.pow(2, -s / T / norm);
    }
    return out;
  }

  score(windows: WindowSet, out?: Float64Array): Float64Array {
    requireFitted(NAME, this.windowSize, windows);
    return scoreDistinct(windows, out, (rows, count) => this.anomalyRows(rows, count));
  }

  maxScore(): number {
    return 1; // 2^-(mean path length / c(n)), path length >= 0
  }

  state(): IsolationForestState {
    if (!this.trees) throw new Error(`${NAME}: state() called before fit()`);
    return { name: NAME, version: VERSION, options: { ...this.options }, windowSize: this.windowSize, ...this.trees };
  }

  static restore(state: unknown): IsolationForest {
    return restoring(NAME, () => {
      const s = checkState<IsolationForestState>(state, NAME, VERSION);
      const m = new IsolationForest(stateObject(NAME, s.options));
      m.windowSize = stateWindowSize(NAME, s.windowSize);
      const trees = {
        norm: stateNumber(NAME, s.norm, 'norm', Number.MIN_VALUE),
        feature: asI32(s.feature, 'feature'),
        threshold_: asF64(s.threshold_, 'threshold_'),
        left: asI32(s.left, 'left'),
        right: asI32(s.right, 'right'),
        pathLength: asF64(s.pathLength, 'pathLength'),
        roots: asI32(s.roots, 'roots'),
      };
      checkTrees(NAME, m.windowSize, { ...trees, thresholds: trees.threshold_ });
      checkLength(NAME, trees.pathLength, 'pathLength', trees.feature.length);
      checkValues(NAME, trees.pathLength, 'pathLength', 0);
      m.trees = trees;
      return m;
    });
  }
}

export const factory: DetectorFactory<IsolationForestOptions> = {
  name: NAME,
  version: VERSION,
  description: 'Isolation Forest on normal windows (100 trees of 256 windows); score = anomaly score, alarm above 0.5',
  create: (options) => new IsolationForest(options),
  restore: (state) => IsolationForest.restore(state),
};
