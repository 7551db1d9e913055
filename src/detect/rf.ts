import type { Detector, DetectorFactory } from './detector.js';
import type { WindowSet } from '../window/window-set.js';
import { ForestBuilder, type FlatForest } from './lib/cart.js';
import { Prng } from './lib/prng.js';
import { MAX_DISTINCT_PER_CLASS, boundedDistinct } from './lib/bounded-sample.js';
import { scoreDistinct, uniqueWindows, type UniqueWindows } from './lib/unique.js';
import { asF64, asI32, checkInt, checkLength, checkState, checkTrees, checkValues, requireFitted, requireLabels, restoring, stateObject, stateWindowSize, type TaggedState } from './lib/state.js';

/**
 * Random Forest (Breiman 2001) as scikit-learn's RandomForestClassifier with its
 * defaults: 100 fully grown gini trees, sqrt(features) tried per node,
 * bootstrap samples of the training size, score = mean of the trees' leaf
 * attack fractions (predict_proba), alarm at 0.5.
 *
 * Fitting works on distinct windows: a bootstrap draw of n windows becomes a
 * weight per (distinct window, class), which is exactly what the tree sees in
 * scikit-learn too (it turns bootstrap counts into sample weights).
 */
export interface RandomForestOptions {
  /** Number of trees (n_estimators). */
  nEstimators: number;
  /** Features tried per node: 'sqrt', 'log2', 'all' or a count. */
  maxFeatures: 'sqrt' | 'log2' | 'all' | number;
  /** Draw a bootstrap sample per tree (else every tree sees all windows). */
  bootstrap: boolean;
  /** Depth limit, 0 = grow until pure. */
  maxDepth: number;
  seed: number;
}

const DEFAULTS: RandomForestOptions = { nEstimators: 100, maxFeatures: 'sqrt', bootstrap: true, maxDepth: 0, seed: 0 };
const NAME = 'rf';
const VERSION = 1;

export interface RandomForestState extends TaggedState {
  options: RandomForestOptions;
  windowSize: number;
  forest: FlatForest;
}

function validate(o: Partial<RandomForestOptions> & { seed?: number }): RandomForestOptions {
  const opts = { ...DEFAULTS, ...o };
  checkInt('nEstimators', opts.nEstimators, 1, 100_000);
  checkInt('maxDepth', opts.maxDepth, 0, 10_000);
  checkInt('seed', opts.seed, 0, 0xffffffff);
  const mf = opts.maxFeatures;
  if (!(mf === 'sqrt' || mf === 'log2' || mf === 'all' || (typeof mf === 'number' && Number.isInteger(mf) && mf >= 1))) {
    throw new RangeError(`option maxFeatures must be 'sqrt', 'log2', 'all' or a positive integer, got ${String(mf)}`);
  }
  if (typeof opts.bootstrap !== 'boolean') throw new TypeError(`option bootstrap must be a boolean, got ${String(opts.bootstrap)}`);
  return opts;
}

export function featuresPerNode(maxFeatures: RandomForestOptions['maxFeatures'], d: number): number {
  if (maxFeatures === 'all') return d;
  if (maxFeatures === 'sqrt') return Math.max(1, Math.floor(Math.sqrt(d)));
  if (maxFeatures === 'log2') return Math.max(1, Math.floor(Math.log2(d)));
  return Math.min(d, maxFeatures);
}

/** Per input window that is kept (index not -1): 2 * distinct index + label, the unit a bootstrap draws. */
export function windowCodes(uniq: UniqueWindows, labels: Uint8Array): Int32Array {
  const codes = new Int32Array(uniq.index.length);
  let kept = 0;
  for (let i = 0; i < codes.length; i++) {
    const u = uniq.index[i]!;
    if (u >= 0) codes[kept++] = u * 2 + (labels[i] === 1 ? 1 : 0);
  }
  return kept === codes.length ? codes : codes.slice(0, kept);
}

/**
 * The distinct windows and bootstrap codes a tree ensemble learns from: all
 * of them, or, for a class with more than `cap` distinct windows, the
 * weighted sample of MAX_DISTINCT_PER_CLASS's note, with the windows of the
 * rest left out (their counts zeroed, their codes dropped).
 */
export function distinctForTrees(train: WindowSet, labels: Uint8Array, seed: number, cap = MAX_DISTINCT_PER_CLASS): { uniq: UniqueWindows; codes: Int32Array } {
  const uniq = boundedDistinct(uniqueWindows(train), labels, seed, cap);
  return { uniq, codes: windowCodes(uniq, labels) };
}

export class RandomForest implements Detector {
  readonly name = NAME;
  readonly version = VERSION;
  readonly supervised = true;
  windowSize = 0;
  readonly options: RandomForestOptions;
  private forest: FlatForest | null = null;
  /**
   * The forest as 4 ints per node (feature or -1, threshold, left, right) for
   * prediction: one array walked in order is about twice as fast as five.
   * Windows hold integers, so `x <= t.5` is `x <= t` and thresholds fit an int.
   */
  private packed: Int32Array = new Int32Array(0);
  /** 1 where the node is a leaf. */
  private leaf: Uint8Array = new Uint8Array(0);

  constructor(options: Partial<RandomForestOptions> & { seed?: number } = {}) {
    this.options = validate(options);
  }

  fit(train: WindowSet): void {
    const labels = requireLabels(NAME, train);
    const { uniq, codes } = distinctForTrees(train, labels, this.options.seed);
    this.fitDistinct(uniq, codes);
  }

  /**
   * Fit on distinct windows. `codes` lists every training window as
   * 2 * distinct index + label (what a bootstrap draws); `weights`, when given,
   * multiplies each (distinct, class) pair's draws (AdaBoost's sample weights).
   */
  fitDistinct(uniq: UniqueWindows, codes: Int32Array, weights?: { normal: Float64Array; attack: Float64Array }, seed?: number): void {
    const d = uniq.size;
    const U = uniq.count;
    const n = codes.length;
    if (n === 0) throw new RangeError(`${NAME}: cannot fit on an empty window set`);
    const rng = new Prng(seed ?? this.options.seed);
    const mtry = featuresPerNode(this.options.maxFeatures, d);
    const builder = new ForestBuilder();
    const cnt = new Float64Array(2 * U);
    const w0 = new Float64Array(U);
    const w1 = new Float64Array(U);
    for (let t = 0; t < this.options.nEstimators; t++) {
      const treeRng = rng.fork();
      if (this.options.bootstrap) {
        cnt.fill(0);
        for (let k = 0; k < n; k++) cnt[codes[treeRng.int(n)]!]! += 1;
        for (let u = 0; u < U; u++) {
          w0[u] = cnt[2 * u]!;
          w1[u] = cnt[2 * u + 1]!;
        }
      } else {
        w0.set(uniq.normal);
        w1.set(uniq.attack);
      }
      if (weights) {
        for (let u = 0; u < U; u++) {
          w0[u]! *= weights.normal[u]!;
          w1[u]! *= weights.attack[u]!;
        }
      }
      builder.grow(uniq.data, d, w0, w1, mtry, this.options.maxDepth, treeRng);
    }
    this.setForest(builder.build());
    this.windowSize = d;
  }

  private setForest(forest: FlatForest): void {
    const n = forest.feature.length;
    const packed = new Int32Array(4 * n);
    const leaf = new Uint8Array(n);
    for (let k = 0; k < n; k++) {
      if (forest.feature[k]! < 0) {
        // A leaf steps to itself: rows walked in lockstep wait there for the others.
        leaf[k] = 1;
        packed[4 * k + 2] = k;
        packed[4 * k + 3] = k;
        continue;
      }
      packed[4 * k] = forest.feature[k]!;
      // Calls are u16: clamping keeps every comparison's outcome and keeps
      // `threshold - call` inside an int.
      packed[4 * k + 1] = Math.max(-1, Math.min(0xffff, Math.floor(forest.threshold[k]!)));
      packed[4 * k + 2] = forest.left[k]!;
      packed[4 * k + 3] = forest.right[k]!;
    }
    this.forest = forest;
    this.packed = packed;
    this.leaf = leaf;
  }

  /**
   * P(attack) of `count` rows (row-major, fitted size): mean leaf attack
   * fraction. Tree by tree, so one tree's nodes stay in cache across all
   * rows; eight rows walk a tree in lockstep, so the CPU overlaps eight chains
   * of dependent loads instead of waiting on one. A step takes the left
   * child (+2) when call <= threshold and the right (+3) otherwise, by
   * arithmetic rather than a branch the CPU would mispredict half the time.
   */
  probaRows(rows: Uint16Array, count: number): Float64Array {
    const { roots, value } = this.forest!;
    const P = this.packed;
    const L = this.leaf;
    const d = this.windowSize;
    const T = roots.length;
    const out = new Float64Array(count);
    const quads = count - (count % 8);
    for (let t = 0; t < T; t++) {
      const root = roots[t]!;
      for (let i = 0; i < quads; i += 8) {
        const o0 = i * d, o1 = o0 + d, o2 = o1 + d, o3 = o2 + d, o4 = o3 + d, o5 = o4 + d, o6 = o5 + d, o7 = o6 + d;
        let a = root, b = root, c = root, e = root, f = root, g = root, h = root, k = root;
        while ((L[a]! & L[b]! & L[c]! & L[e]! & L[f]! & L[g]! & L[h]! & L[k]!) === 0) {
          a = P[4 * a + 2 + ((P[4 * a + 1]! - rows[o0 + P[4 * a]!]!) >>> 31)]!;
          b = P[4 * b + 2 + ((P[4 * b + 1]! - rows[o1 + P[4 * b]!]!) >>> 31)]!;
          c = P[4 * c + 2 + ((P[4 * c + 1]! - rows[o2 + P[4 * c]!]!) >>> 31)]!;
          e = P[4 * e + 2 + ((P[4 * e + 1]! - rows[o3 + P[4 * e]!]!) >>> 31)]!;
          f = P[4 * f + 2 + ((P[4 * f + 1]! - rows[o4 + P[4 * f]!]!) >>> 31)]!;
          g = P[4 * g + 2 + ((P[4 * g + 1]! - rows[o5 + P[4 * g]!]!) >>> 31)]!;
          h = P[4 * h + 2 + ((P[4 * h + 1]! - rows[o6 + P[4 * h]!]!) >>> 31)]!;
          k = P[4 * k + 2 + ((P[4 * k + 1]! - rows[o7 + P[4 * k]!]!) >>> 31)]!;
        }
        out[i]! += value[a]!; out[i + 1]! += value[b]!; out[i + 2]! += value[c]!; out[i + 3]! += value[e]!;
        out[i + 4]! += value[f]!; out[i + 5]! += value[g]!; out[i + 6]! += value[h]!; out[i + 7]! += value[k]!;
      }
      for (let i = quads; i < count; i++) {
        const o = i * d;
        let a = root;
        while (L[a] === 0) a = P[4 * a + 2 + ((P[4 * a + 1]! - rows[o + P[4 * a]!]!) >>> 31)]!;
        out[i]! += value[a]!;
      }
    }
    for (let i = 0; i < count; i++) out[i]! /= T;
    return out;
  }

  score(windows: WindowSet, out?: Float64Array): Float64Array {
    requireFitted(NAME, this.windowSize, windows);
    return scoreDistinct(windows, out, (rows, count) => this.probaRows(rows, count));
  }

  maxScore(): number {
    return 1; // P(attack): the mean of leaf attack fractions, each in [0, 1]
  }

  state(): RandomForestState {
    if (!this.forest) throw new Error(`${NAME}: state() called before fit()`);
    return { name: NAME, version: VERSION, options: { ...this.options }, windowSize: this.windowSize, forest: this.forest };
  }

  static restore(state: unknown): RandomForest {
    return restoring(NAME, () => {
      const s = checkState<RandomForestState>(state, NAME, VERSION);
      const rf = new RandomForest(stateObject(NAME, s.options));
      const f = stateObject(NAME, s.forest);
      const windowSize = stateWindowSize(NAME, s.windowSize);
      const forest: FlatForest = {
        feature: asI32(f.feature, 'forest.feature'),
        threshold: asF64(f.threshold, 'forest.threshold'),
        left: asI32(f.left, 'forest.left'),
        right: asI32(f.right, 'forest.right'),
        value: asF64(f.value, 'forest.value'),
        roots: asI32(f.roots, 'forest.roots'),
      };
      checkTrees(NAME, windowSize, { ...forest, thresholds: forest.threshold });
      checkLength(NAME, forest.value, 'forest.value', forest.feature.length);
      checkValues(NAME, forest.value, 'forest.value', 0, 1);
      rf.setForest(forest);
      rf.windowSize = windowSize;
      return rf;
    });
  }
}

export const factory: DetectorFactory<RandomForestOptions> = {
  name: NAME,
  version: VERSION,
  description: 'Random Forest on window positions (100 gini trees, sqrt features, bootstrap); score = P(attack)',
  create: (options) => new RandomForest(options),
  restore: (state) => RandomForest.restore(state),
};
