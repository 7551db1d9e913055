import type { Detector, DetectorFactory } from './detector.js';
import type { WindowSet } from '../window/window-set.js';
import { RowTable, scoreDistinct, uniqueWindows } from './lib/unique.js';
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
 *
 * The search is exact but rarely exhaustive: a window seen in training at
 * least k times is its own answer (a hash lookup), and otherwise training
 * windows are visited in order of their distance in Euclidean norm from the
 * query's, which bounds their distance from below (|‖a‖ − ‖b‖| ≤ ‖a − b‖), until
 * that bound passes the k-th nearest distance found.
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
  private index: KnnSearch | undefined;

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
    this.index = undefined;
  }

  /** The search structure over the training windows, built on first use (it is not saved). */
  private search(): KnnSearch {
    return (this.index ??= buildSearch(this.data, this.normal, this.attack, this.windowSize));
  }

  private shareRows(rows: Uint16Array, count: number): Float64Array {
    const out = new Float64Array(count);
    const s = this.search();
    const ties = new Ties(this.options.k);
    for (let i = 0; i < count; i++) out[i] = s.share(rows, i * this.windowSize, ties);
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

/**
 * The nearest distinct distances found so far, with their class counts, kept
 * only as far as the first k training windows reach.
 */
class Ties {
  readonly dist: number[] = [];
  readonly normal: number[] = [];
  readonly attack: number[] = [];
  /** The k-th nearest distance so far (every farther window is irrelevant). */
  bound = Infinity;

  constructor(private readonly k: number) {}

  clear(): void {
    this.dist.length = this.normal.length = this.attack.length = 0;
    this.bound = Infinity;
  }

  add(d: number, n0: number, n1: number): void {
    const { dist } = this;
    let p = dist.length;
    while (p > 0 && dist[p - 1]! > d) p--;
    if (p > 0 && dist[p - 1] === d) {
      this.normal[p - 1]! += n0;
      this.attack[p - 1]! += n1;
    } else {
      dist.splice(p, 0, d);
      this.normal.splice(p, 0, n0);
      this.attack.splice(p, 0, n1);
    }
    let filled = 0;
    for (let t = 0; t < dist.length; t++) {
      filled += this.normal[t]! + this.attack[t]!;
      if (filled >= this.k) {
        dist.length = this.normal.length = this.attack.length = t + 1;
        this.bound = dist[t]!;
        return;
      }
    }
  }

  /** Attack share of the k places, the tie group at the k-th place filling its share by class count. */
  share(): number {
    const k = this.k;
    let filled = 0;
    let votes = 0;
    for (let t = 0; filled < k; t++) {
      const n0 = this.normal[t]!;
      const n1 = this.attack[t]!;
      const take = Math.min(k - filled, n0 + n1);
      votes += (take * n1) / (n0 + n1);
      filled += take;
    }
    return votes / k;
  }
}

interface KnnSearch {
  share(rows: Uint16Array, off: number, ties: Ties): number;
}

/** A lower bound a hair above its float rounding: distances are integers, norms are not. */
const SLACK = 1e-6;

function buildSearch(data: Uint16Array, normalIn: Float64Array, attackIn: Float64Array, d: number): KnnSearch {
  // Equal rows (a hand-made model may hold them) merge, so one lookup finds all of a window's count.
  const table = new RowTable(data, d, normalIn.length);
  const keep: number[] = [];
  const merged = new Int32Array(normalIn.length);
  for (let u = 0; u < normalIn.length; u++) {
    const r = table.find(data, u * d, u);
    merged[u] = r < 0 ? keep.push(u) - 1 : merged[r]!;
  }
  const U = keep.length;
  const normal = new Float64Array(U);
  const attack = new Float64Array(U);
  for (let u = 0; u < normalIn.length; u++) {
    normal[merged[u]!]! += normalIn[u]!;
    attack[merged[u]!]! += attackIn[u]!;
  }
  const norm = new Float64Array(U);
  for (let v = 0; v < U; v++) {
    const off = keep[v]! * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += data[off + j]! * data[off + j]!;
    norm[v] = Math.sqrt(s);
  }
  const order = Int32Array.from({ length: U }, (_, v) => v).sort((a, b) => norm[a]! - norm[b]!);
  // Rows, norms and counts in norm order, so the walk reads memory forwards and backwards.
  const rowsBy = new Uint16Array(U * d);
  const normBy = new Float64Array(U);
  const normalBy = new Float64Array(U);
  const attackBy = new Float64Array(U);
  for (let i = 0; i < U; i++) {
    const v = order[i]!;
    rowsBy.set(data.subarray(keep[v]! * d, keep[v]! * d + d), i * d);
    normBy[i] = norm[v]!;
    normalBy[i] = normal[v]!;
    attackBy[i] = attack[v]!;
  }
  // A query equal to a training window: the table finds its row, which leads to its place in norm order.
  const placeOf = new Int32Array(U);
  for (let i = 0; i < U; i++) placeOf[order[i]!] = i;

  const visit = (rows: Uint16Array, off: number, i: number, ties: Ties): void => {
    let s = 0;
    const io = i * d;
    for (let j = 0; j < d; j++) {
      const e = rows[off + j]! - rowsBy[io + j]!;
      s += e * e;
    }
    if (s <= ties.bound) ties.add(s, normalBy[i]!, attackBy[i]!);
  };

  return {
    share(rows, off, ties) {
      ties.clear();
      const row = table.find(rows, off);
      const same = row < 0 ? -1 : placeOf[merged[row]!]!;
      if (same >= 0) ties.add(0, normalBy[same]!, attackBy[same]!);
      if (ties.bound > 0) {
        let q = 0;
        for (let j = 0; j < d; j++) q += rows[off + j]! * rows[off + j]!;
        const nq = Math.sqrt(q);
        // First row whose norm is at least the query's; walk outwards from there.
        let lo = 0;
        let hi = U;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (normBy[mid]! < nq) lo = mid + 1;
          else hi = mid;
        }
        let down = lo - 1;
        let up = lo;
        for (;;) {
          const gapDown = down >= 0 ? nq - normBy[down]! : Infinity;
          const gapUp = up < U ? normBy[up]! - nq : Infinity;
          const goUp = gapUp <= gapDown;
          const gap = goUp ? gapUp : gapDown;
          if (gap === Infinity || gap * gap > ties.bound * (1 + SLACK) + SLACK) break;
          const i = goUp ? up++ : down--;
          if (i !== same) visit(rows, off, i, ties);
        }
      }
      return ties.share();
    },
  };
}

export const factory: DetectorFactory<KnnOptions> = {
  name: NAME,
  version: VERSION,
  description: 'k-nearest neighbours (k = 3, Euclidean) over distinct training windows; score = attack share of the neighbours',
  create: (options) => new Knn(options),
  restore: (state) => Knn.restore(state),
};
