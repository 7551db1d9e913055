import type { Detector, DetectorFactory } from './detector.js';
import type { WindowSet } from '../window/window-set.js';
import { scoreDistinct, uniqueWindows } from './lib/unique.js';
import { asF64, asU16, badState, checkInt, checkLength, checkState, checkValues, requireFitted, requireLabels, restoring, stateObject, stateWindowSize, type TaggedState } from './lib/state.js';

/**
 * k-nearest neighbours (scikit-learn's KNeighborsClassifier, k = 3, uniform
 * weights, Euclidean distance on the raw syscall numbers): score = share of
 * the k nearest training windows that are attacks.
 *
 * The search is exact over distinct training windows with their per-class
 * counts. Distances between windows of integers tie constantly (and duplicates
 * always tie at 0), and scikit-learn then keeps whichever tied points its tree
 * meets first, an order that carries no meaning. Here the tie group that
 * straddles the k-th place fills the remaining places in proportion to its
 * class counts: the expected vote share under an arbitrary tie order.
 */
export interface KnnOptions {
  /** Number of neighbours (n_neighbors). */
  k: number;
}

const DEFAULTS: KnnOptions = { k: 3 };
const NAME = 'knn';
const VERSION = 1;

interface KnnState extends TaggedState {
  options: KnnOptions;
  windowSize: number;
  /** Distinct training windows, row-major. */
  data: Uint16Array;
  normal: Float64Array;
  attack: Float64Array;
}

export class Knn implements Detector {
  readonly name = NAME;
  readonly version = VERSION;
  readonly supervised = true;
  windowSize = 0;
  readonly options: KnnOptions;
  private data: Uint16Array = new Uint16Array(0);
  private normal: Float64Array = new Float64Array(0);
  private attack: Float64Array = new Float64Array(0);

  constructor(options: Partial<KnnOptions> & { seed?: number } = {}) {
    const { seed: _seed, ...rest } = options;
    this.options = { ...DEFAULTS, ...rest };
    checkInt('k', this.options.k, 1, 1_000_000);
  }

  fit(train: WindowSet): void {
    requireLabels(NAME, train);
    const u = uniqueWindows(train);
    if (train.count < this.options.k) throw new RangeError(`${NAME}: k = ${this.options.k} needs at least that many training windows, got ${train.count}`);
    this.data = u.data;
    this.normal = u.normal;
    this.attack = u.attack;
    this.windowSize = u.size;
  }

  private shareRows(rows: Uint16Array, count: number): Float64Array {
    const d = this.windowSize;
    const { data, normal, attack } = this;
    const U = normal.length;
    const k = this.options.k;
    const dist = new Float64Array(U);
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const off = i * d;
      for (let u = 0; u < U; u++) {
        let s = 0;
        const uo = u * d;
        for (let j = 0; j < d; j++) {
          const e = rows[off + j]! - data[uo + j]!;
          s += e * e;
        }
        dist[u] = s;
      }
      // Walk the distinct distances upwards until k places are filled.
      let filled = 0;
      let votes = 0;
      let floor = -1;
      while (filled < k) {
        let next = Infinity;
        for (let u = 0; u < U; u++) {
          const v = dist[u]!;
          if (v > floor && v < next) next = v;
        }
        let n0 = 0;
        let n1 = 0;
        for (let u = 0; u < U; u++) {
          if (dist[u] === next) {
            n0 += normal[u]!;
            n1 += attack[u]!;
          }
        }
        const take = Math.min(k - filled, n0 + n1);
        votes += (take * n1) / (n0 + n1);
        filled += take;
        floor = next;
      }
      out[i] = votes / k;
    }
    return out;
  }

  score(windows: WindowSet, out?: Float64Array): Float64Array {
    requireFitted(NAME, this.windowSize, windows);
    return scoreDistinct(windows, out, (rows, count) => this.shareRows(rows, count));
  }

  maxScore(): number {
    return 1; // attack share of the neighbours
  }

  state(): KnnState {
    if (this.windowSize === 0) throw new Error(`${NAME}: state() called before fit()`);
    return {
      name: NAME, version: VERSION, options: { ...this.options }, windowSize: this.windowSize,
      data: this.data, normal: this.normal, attack: this.attack,
    };
  }

  static restore(state: unknown): Knn {
    return restoring(NAME, () => {
      const s = checkState<KnnState>(state, NAME, VERSION);
      const m = new Knn(stateObject(NAME, s.options));
      const d = (m.windowSize = stateWindowSize(NAME, s.windowSize));
      m.data = asU16(s.data, 'data');
      m.normal = asF64(s.normal, 'normal');
      m.attack = asF64(s.attack, 'attack');
      const U = m.normal.length;
      checkLength(NAME, m.attack, 'attack', U);
      checkLength(NAME, m.data, 'data', U * d);
      checkValues(NAME, m.normal, 'normal', 0);
      checkValues(NAME, m.attack, 'attack', 0);
      // The neighbour search fills k places from tie groups of these counts: a window
      // counted zero times makes a 0/0 vote, and fewer than k in all never fills (it looped forever).
      let total = 0;
      for (let u = 0; u < U; u++) {
        const c = m.normal[u]! + m.attack[u]!;
        if (!(c > 0)) throw badState(NAME, `distinct window ${u} is counted ${c} times`);
        total += c;
      }
      if (!(total >= m.options.k)) throw badState(NAME, `it holds ${total} training windows, fewer than k = ${m.options.k}`);
      return m;
    });
  }
}

export const factory: DetectorFactory<KnnOptions> = {
  name: NAME,
  version: VERSION,
  description: 'k-nearest neighbours (k = 3, Euclidean) over distinct training windows; score = attack share of the neighbours',
  create: (options) => new Knn(options),
  restore: (state) => Knn.restore(state),
};
