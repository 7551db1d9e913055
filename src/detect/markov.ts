import { SyswardenError } from '../errors.js';
import { GrowableInt32 } from '../trace/growable.js';
import type { WindowSet } from '../window/window-set.js';
import { checkFitted, normalWindows, optNumber, requireWindows } from './common.js';
import type { Detector, DetectorFactory, LearntTable } from './detector.js';
import { mergeInputs } from './lib/mergeable.js';
import { SequenceStore, WindowTable } from './window-table.js';
import { asI32, asU16, badState, checkValues, restoring, stateInt, stateNumber, stateObject } from './lib/state.js';

export interface MarkovOptions {
  /**
   * ε, the share of probability mixed in uniformly over all 65536 calls
   * (default 2^-20). It bounds the score at maxScore() = 16 - log2(ε) bits.
   */
  floor: number;
}

const VERSION = 1;

/** Size of the alphabet the final fallback is uniform over: every u16 call number (syscalls and the signal pseudo-calls). */
export const MARKOV_ALPHABET = 65536;
const MARKOV_ALPHABET_BITS = 16;

/**
 * Window sizes the model accepts: the study's range. The model keeps a
 * table per context length, each up to the size of the window table, so
 * longer windows cost memory (and unseen windows lookups) for no gain the
 * study measured.
 */
export const MARKOV_MIN_WINDOW = 3;
export const MARKOV_MAX_WINDOW = 15;

const DEFAULT_FLOOR = 2 ** -20;
const MIN_FLOOR = 2 ** -40;
const MAX_FLOOR = 0.5;

interface MarkovState {
  windowSize: number;
  floor: number;
  /** Distinct normal training windows, row-major. */
  windows: Uint16Array;
  /** How many training windows each of them was (>= 1). */
  counts: Int32Array;
}

/**
 * The sequences of one length L (1 <= L < w) in their two roles: as a gram
 * of order L-1 (the last L calls of a training window) and as a context of
 * order L (the L calls before a training window's last call). The same
 * sequence usually plays both (a stream's context in one window is its gram
 * in the previous one), so one hash serves both.
 *
 * Both roles are kept as bits (see Markov.backOff): an unseen window's
 * probability is a run of escapes ended by one hit, and the run is a
 * difference of two escape chains, so once its two ends are found its
 * length costs nothing.
 */
interface Level {
  table: WindowTable;
  /**
   * Per id, as a context of order L: -log2 of the product of the escape
   * probabilities of it and of each of its suffixes down to the empty
   * context (all seen: a suffix of a seen context is a seen context).
   * At least 1 (an escape is at most 1/2); 0 = never a context.
   */
  escapeBits: Float64Array;
  /**
   * Per id, as a gram of order L-1: -log2 P(hit) minus the escapeBits of
   * its context (its first L-1 calls); NaN = never a gram.
   */
  hitBits: Float64Array;
}

/**
 * A smoothed variable-order Markov model of syscall sequences (PPM with
 * Moffat's escape method C, no exclusion), learnt from normal windows.
 *
 * A window c1..cw scores the surprisal in bits of its last call given the
 * w-1 before it. From order k = w-1 down to 0 (k = calls of context):
 *   - the gram c_{w-k}..c_w was seen: P *= count(gram) / (total(ctx) + distinct(ctx)), stop;
 *   - else the context c_{w-k}..c_{w-1} was seen: P *= distinct(ctx) / (total(ctx) + distinct(ctx)), go on;
 *   - else (context never seen): go on with no factor.
 * After order 0 escapes (the empty context, always seen), P *= 1/65536.
 * total(ctx) = training windows whose last call followed ctx; distinct(ctx)
 * = distinct calls that followed it. Without exclusion the probabilities
 * over the alphabet sum to at most 1 (less where an escape also covers calls
 * seen at a higher order).
 *
 * The score is bounded by mixing in a floor ε (option `floor`, default 2^-20):
 *   score = -log2((1 - ε)·P + ε/65536),
 * so maxScore() = -log2(ε/65536) = 16 - log2(ε) (36 bits by default), the
 * score of a call with P = 0. P is never exactly 0, so unseen calls come
 * within (1-ε)·P·65536/(ε·ln 2) bits of it: after a few confident escapes,
 * within rounding.
 *
 * Training counts, for each normal window, the grams ending at its last
 * call, one per order: its suffixes. Overlapping windows of a stream slide
 * by one call, so each position of a stream is counted once per order (the
 * first w-1 calls of a stream are never a last call). Every lower-order count
 * is thus a sum of full-window counts, which is why the model saves only the
 * distinct windows and their counts, and rebuilds the rest on load.
 *
 * A window seen in training scores with one hash lookup (its score is
 * precomputed); only unseen windows search the back-off chain (a few
 * lookups, see backOff).
 */
export class Markov implements Detector {
  readonly name = 'markov';
  readonly version = VERSION;
  readonly supervised = false;
  windowSize = 0;
  readonly floor: number;
  private readonly maxBits: number;
  /** Distinct training windows (row-major, in id order) and their counts. */
  private rows: Uint16Array = new Uint16Array(0);
  private counts: Int32Array = new Int32Array(0);
  /** Full windows by id, and the score of each (a top-order hit). */
  private top = new WindowTable(16);
  private topScore = new Float64Array(0);
  /** levels[L] for context/gram length L = 1 .. w-1 (levels[0] unused). */
  private levels: Level[] = [];
  /** -log2 of the escape probability of the empty context (order 0). */
  private escape0Bits = 0;

  constructor(opts: Partial<MarkovOptions> = {}) {
    this.floor = optNumber(opts, 'floor', DEFAULT_FLOOR, MIN_FLOOR, MAX_FLOOR);
    this.maxBits = -Math.log2(this.floor / MARKOV_ALPHABET);
  }

  /** Exact upper bound of every score: the surprisal of a call with P = 0 after the floor is mixed in. */
  maxScore(): number {
    return this.maxBits;
  }

  fit(train: WindowSet): void {
    const normal = normalWindows(train);
    requireWindows(this.name, normal);
    const w = checkMarkovWindow(normal.size);
    const { data, count } = normal;
    const store = new SequenceStore(w, Math.min(count, 1 << 16));
    const counts = new GrowableInt32(Math.min(count, 1 << 16));
    for (let i = 0; i < count; i++) {
      const id = store.add(data, i * w);
      if (id === counts.length) counts.push(1);
      else counts.reserve(counts.length)[id]!++;
    }
    this.build(w, store.toArray(), counts.toArray());
  }

  /**
   * Everything scoring needs, from the distinct windows and their counts:
   * the one path for fit() and restore(), so a loaded model is the fitted
   * one bit for bit. Throws badState on a repeated window (a damaged state;
   * fit never makes one).
   */
  private build(w: number, rows: Uint16Array, counts: Int32Array): void {
    const n = counts.length;
    const top = new WindowTable(n);
    for (let j = 0; j < n; j++) {
      if (top.insert(rows, j * w, w) !== j) throw badState(this.name, `window ${j} repeats an earlier window`);
    }
    let total0 = 0;
    for (let j = 0; j < n; j++) total0 += counts[j]!;

    // Level by level, L = 1 .. w: the grams of length L and (below w) the
    // contexts of length L. A gram's context is a context of level L-1, so
    // level L-1's escapes, and level L's hits, are known once level L has
    // counted the distinct grams that follow each of those contexts.
    // Counts are sums of full-window counts, exact in doubles.
    const levels: Level[] = [];
    let escape0Bits = 0;
    let topScore = new Float64Array(0);
    const gramId = new Int32Array(n);
    let prevCtxId = new Int32Array(n); // each window's context at level L-1 (level 0: the empty context, id 0)
    let ctxId = new Int32Array(n);
    let prevTotal = Float64Array.of(total0);
    let prevDistinct = new Float64Array(1);
    let prevSuffix = new Int32Array(1); // level L-1 context -> its suffix context at level L-2
    let chainBits: Float64Array = new Float64Array(1); // escapeBits of level L-2, then (once computed) of level L-1
    for (let L = 1; L <= w; L++) {
      const table = L === w ? top : new WindowTable(1024);
      const hasCtx = L < w;
      for (let j = 0; j < n; j++) {
        const row = j * w;
        gramId[j] = L === w ? j : table.insert(rows, row + w - L, L);
        if (hasCtx) ctxId[j] = table.insert(rows, row + w - 1 - L, L);
      }
      const size = table.size;
      const gramCount = new Float64Array(size);
      const gramCtx = new Int32Array(size);
      const total = new Float64Array(hasCtx ? size : 0);
      const distinct = new Float64Array(hasCtx ? size : 0);
      const suffix = new Int32Array(hasCtx ? size : 0);
      for (let j = 0; j < n; j++) {
        const g = gramId[j]!;
        const c = prevCtxId[j]!;
        const k = counts[j]!;
        if (gramCount[g] === 0) {
          prevDistinct[c]!++;
          gramCtx[g] = c;
        }
        gramCount[g]! += k;
        if (hasCtx) {
          total[ctxId[j]!]! += k;
          suffix[ctxId[j]!] = c; // the window's order L-1 context is the suffix of its order L one
        }
      }

      // Level L-1's contexts are complete: their escape chains.
      if (L === 1) {
        escape0Bits = -Math.log2(prevDistinct[0]! / (total0 + prevDistinct[0]!));
        chainBits = Float64Array.of(escape0Bits);
      } else {
        const bits = levels[L - 1]!.escapeBits;
        for (let c = 0; c < bits.length; c++) {
          const d = prevDistinct[c]!;
          if (d > 0) bits[c] = chainBits[prevSuffix[c]!]! - Math.log2(d / (prevTotal[c]! + d));
        }
        chainBits = bits;
      }

      if (hasCtx) {
        const hitBits = new Float64Array(size).fill(Number.NaN);
        for (let g = 0; g < size; g++) {
          if (gramCount[g] === 0) continue;
          const c = gramCtx[g]!;
          hitBits[g] = -Math.log2(gramCount[g]! / (prevTotal[c]! + prevDistinct[c]!)) - chainBits[c]!;
        }
        levels[L] = { table, escapeBits: new Float64Array(size), hitBits };
        prevTotal = total;
        prevDistinct = distinct;
        prevSuffix = suffix;
        [prevCtxId, ctxId] = [ctxId, prevCtxId];
      } else {
        topScore = new Float64Array(n);
        for (let j = 0; j < n; j++) {
          const c = gramCtx[j]!;
          topScore[j] = this.surprisal(gramCount[j]! / (prevTotal[c]! + prevDistinct[c]!));
        }
      }
    }
    this.windowSize = w;
    this.rows = rows;
    this.counts = counts;
    this.top = top;
    this.topScore = topScore;
    this.levels = levels;
    this.escape0Bits = escape0Bits;
  }

  /** The score of a call with probability p: -log2((1-ε)p + ε/V), never above maxScore() even by rounding. */
  private surprisal(p: number): number {
    const bits = -Math.log2((1 - this.floor) * p + this.floor / MARKOV_ALPHABET);
    return bits < this.maxBits ? bits : this.maxBits;
  }

  /** Surprisal of the last call of every window, each window on its own; writes into `out` when given. */
  score(windows: WindowSet, out = new Float64Array(windows.count)): Float64Array {
    checkFitted(this.name, this.windowSize, windows);
    if (out.length < windows.count) throw new SyswardenError('ERR_INVALID_INPUT', `markov: out holds ${out.length} scores, fewer than the ${windows.count} windows. Fix: pass an array of at least windows.count.`);
    const { data, count } = windows;
    const w = this.windowSize;
    const top = this.top;
    const topScore = this.topScore;
    for (let i = 0, off = 0; i < count; i++, off += w) {
      const id = top.lookup(data, off, w);
      out[i] = id >= 0 ? topScore[id]! : this.backOff(data, off);
    }
    return out;
  }

  /**
   * The score of a window absent from training. Seen contexts and seen
   * grams are both closed under suffixes, so along the orders w-1 .. 0 the
   * walk of the model meets: unseen contexts (no factor) down to the
   * highest seen context order K, then escapes down to the highest seen
   * gram order H (< w-1 here), which hits. Both are searched for, and the
   * escapes between them are a difference of escape chains:
   *   -log2 P = escapeBits(ctx_K) + hitBits(gram_H), or escapeBits(ctx_K) + 16 when the call was never seen (H = -1).
   * K is bisected; H gallops down from K, then bisects (most novel windows
   * hit at K or just below it). A dozen lookups at most, at w = 15.
   */
  private backOff(data: Uint16Array, off: number): number {
    const w = this.windowSize;
    const last = off + w - 1;
    // K in [lo, hi]; order 0 (the empty context) is always seen.
    let lo = 0;
    let hi = w - 1;
    let ctxBits = this.escape0Bits;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      const bits = this.contextBits(data, last, mid);
      if (bits === 0) hi = mid - 1;
      else {
        lo = mid;
        ctxBits = bits;
      }
    }
    // H in [gLo, gHi]; -1 stands for a call never seen. (bits === bits: not NaN, a seen gram.)
    let gLo = -1;
    let gHi = lo < w - 2 ? lo : w - 2;
    let hitBits = MARKOV_ALPHABET_BITS;
    for (let step = 1, probe = gHi; probe > gLo; probe -= step, step *= 2) {
      const bits = this.gramBits(data, last, probe);
      if (bits === bits) {
        gLo = probe;
        hitBits = bits;
        break;
      }
      gHi = probe - 1;
    }
    while (gLo < gHi) {
      const mid = (gLo + gHi + 1) >> 1;
      const bits = this.gramBits(data, last, mid);
      if (bits === bits) {
        gLo = mid;
        hitBits = bits;
      } else gHi = mid - 1;
    }
    return this.surprisal(2 ** -(ctxBits + hitBits));
  }

  /** escapeBits of the order-k context data[last-k, last), 1 <= k < w; 0 when never seen. */
  private contextBits(data: Uint16Array, last: number, k: number): number {
    const level = this.levels[k]!;
    const id = level.table.lookup(data, last - k, k);
    return id >= 0 ? level.escapeBits[id]! : 0;
  }

  /** hitBits of the order-h gram data[last-h, last], 0 <= h < w-1; NaN when never seen. */
  private gramBits(data: Uint16Array, last: number, h: number): number {
    const level = this.levels[h + 1]!;
    const id = level.table.lookup(data, last - h, h + 1);
    return id >= 0 ? level.hitBits[id]! : Number.NaN;
  }

  /** Distinct normal windows the model learnt. */
  get distinctWindows(): number {
    return this.counts.length;
  }

  state(): MarkovState {
    return { windowSize: this.windowSize, floor: this.floor, windows: this.rows.slice(), counts: this.counts.slice() };
  }

  /** Models fitted to be merged with this one (merge's fold models) need its floor. */
  calibrationOptions(): Record<string, unknown> {
    return { floor: this.floor };
  }

  learnt(): LearntTable[] {
    return [{ what: 'window', width: this.windowSize, rows: this.rows, counts: this.counts }];
  }

  /** The inputs' distinct windows, their counts summed (at most 2^31 - 1 each): the model of all their windows. */
  static merge(detectors: readonly Detector[]): Markov {
    const list = mergeInputs('markov', detectors, Markov, ['floor']);
    const w = list[0]!.windowSize;
    const store = new SequenceStore(w, list.reduce((n, x) => n + x.counts.length, 0));
    const counts = new GrowableInt32();
    for (const x of list) {
      for (let j = 0; j < x.counts.length; j++) {
        const id = store.add(x.rows, j * w);
        if (id === counts.length) counts.push(0);
        const c = counts.reserve(counts.length);
        c[id] = Math.min(0x7fffffff, c[id]! + x.counts[j]!);
      }
    }
    const d = new Markov({ floor: list[0]!.floor });
    d.build(w, store.toArray(), counts.toArray());
    return d;
  }

  static restore(state: unknown): Markov {
    return restoring('markov', () => {
      const s = stateObject('markov', state);
      const w = stateInt('markov', s.windowSize, 'windowSize', MARKOV_MIN_WINDOW, MARKOV_MAX_WINDOW);
      const floor = stateNumber('markov', s.floor, 'floor', MIN_FLOOR, MAX_FLOOR);
      if (s.windows === undefined || s.counts === undefined) throw badState('markov', 'it lacks windows or counts');
      const rows = asU16(s.windows, 'windows');
      const counts = asI32(s.counts, 'counts');
      if (counts.length === 0) throw badState('markov', 'it holds no window');
      if (rows.length !== counts.length * w) throw badState('markov', `windows holds ${rows.length} calls, not ${counts.length} windows of ${w}`);
      checkValues('markov', counts, 'counts', 1, 0x7fffffff);
      const d = new Markov({ floor });
      d.build(w, rows, counts);
      return d;
    });
  }
}

function checkMarkovWindow(size: number): number {
  if (!(Number.isInteger(size) && size >= MARKOV_MIN_WINDOW && size <= MARKOV_MAX_WINDOW)) {
    throw new SyswardenError('ERR_INVALID_INPUT', `markov: window size ${size} is out of range. Fix: use a window of ${MARKOV_MIN_WINDOW} to ${MARKOV_MAX_WINDOW} calls.`);
  }
  return size;
}

/** Registration entry; `satisfies` keeps create() and restore() typed as Markov. */
export const factory = {
  name: 'markov',
  version: VERSION,
  description: 'variable-order Markov model (PPM-C back-off): surprisal in bits of each window\'s last call given the calls before it',
  create: (options?: Partial<MarkovOptions> & { seed?: number }) => new Markov(options),
  restore: (state: unknown) => Markov.restore(state),
  merge: (detectors: readonly Detector[]) => Markov.merge(detectors),
} satisfies DetectorFactory<MarkovOptions>;
