import { SyswardenError } from '../errors.js';
import type { WindowSet } from '../window/window-set.js';
import { checkFitted, normalWindows, optNumber, requireWindows } from './common.js';
import type { Detector, DetectorFactory, LearntTable } from './detector.js';
import { mergeInputs } from './lib/mergeable.js';
import { BagIndex } from './bag-index.js';
import { SequenceStore, WindowTable } from './window-table.js';
import { badState, stateObject, stateWindowSize } from './lib/state.js';

export interface BoscOptions {
  /** Distances of unseen bags remembered before the cache is reset (bounds memory on endless streams). */
  cacheLimit: number;
}

const VERSION = 1;

interface BoscState {
  windowSize: number;
  /** Distinct normal bags, each a window sorted ascending, row-major. */
  bags: Uint16Array;
}

/**
 * Bag of system calls (Abed et al. 2015): a window is reduced to its
 * syscall frequencies (order ignored). A bag is stored as its window sorted,
 * which is the same multiset in O(w) space and hashes like any window. The
 * score is the L1 distance from the window's bag to the nearest normal bag,
 * divided by its maximum 2w, so 0 = a known bag and 1 = nothing in common.
 *
 * Speed: a known bag is one hash lookup; the distance of an unseen bag is
 * found once by an exact search of an index of the normal bags (bag-index.ts:
 * a few posting lists, not a scan of every bag) and then cached by bag key,
 * so the search runs once per distinct unseen bag, not once per window.
 * The model holds the bags of every normal training window.
 */
export class Bosc implements Detector {
  readonly name = 'bosc';
  readonly version = VERSION;
  readonly supervised = false;
  windowSize = 0;
  private readonly cacheLimit: number;
  private bags = new SequenceStore(1);
  private cache = new WindowTable();
  /** Built at the first unseen bag after the bags last changed. */
  private index: BagIndex | undefined;
  private cached = new Float64Array(1024);
  private scratch = new Uint16Array(0);
  /** Windows scored, and normal bags compared by searches made for them (see workPerWindow). */
  private scored = 0;
  private compared = 0;

  constructor(opts: Partial<BoscOptions> = {}) {
    this.cacheLimit = Math.round(optNumber(opts, 'cacheLimit', 1 << 20, 16, 1 << 26));
  }

  private setSize(size: number): void {
    this.windowSize = size;
    this.scratch = new Uint16Array(size);
  }

  /** Copies window i into scratch and sorts it (insertion sort: w <= 64, typically <= 15). */
  private bagOf(data: Uint16Array, off: number): Uint16Array {
    const s = this.scratch;
    const w = s.length;
    for (let i = 0; i < w; i++) {
      const v = data[off + i]!;
      let j = i - 1;
      while (j >= 0 && s[j]! > v) {
        s[j + 1] = s[j]!;
        j--;
      }
      s[j + 1] = v;
    }
    return s;
  }

  private learn(set: WindowSet): void {
    const { size, data } = set;
    for (let i = 0; i < set.count; i++) {
      this.bags.add(this.bagOf(data, i * size), 0);
    }
    this.cache.clear();
    this.index = undefined;
  }

  fit(train: WindowSet): void {
    const normal = normalWindows(train);
    requireWindows(this.name, normal);
    const w = normal.size;
    this.setSize(w);
    this.resetBags(w);
    this.learn(normal);
  }

  private resetBags(size: number): void {
    this.bags = new SequenceStore(size, 4096);
  }

  /** L1 distance / 2w from a sorted bag to the nearest normal bag. */
  private nearest(bag: Uint16Array): number {
    this.index ??= new BagIndex(this.bags.view(), bag.length);
    const before = this.index.compared;
    // L1 between equal-size bags is 2 * (calls missing); normalised by its maximum 2w.
    const missing = this.index.nearestMissing(bag);
    this.compared += this.index.compared - before;
    return missing / bag.length;
  }

  score(windows: WindowSet, out = new Float64Array(windows.count)): Float64Array {
    checkFitted(this.name, this.windowSize, windows);
    const { size, data } = windows;
    this.scored += windows.count;
    for (let i = 0; i < windows.count; i++) {
      const bag = this.bagOf(data, i * size);
      if (this.bags.lookup(bag, 0) >= 0) {
        out[i] = 0;
        continue;
      }
      let id = this.cache.lookup(bag, 0, size);
      if (id < 0) {
        if (this.cache.size >= this.cacheLimit) this.cache.clear();
        id = this.cache.insert(bag, 0, size);
        if (id >= this.cached.length) {
          const next = new Float64Array(this.cached.length * 2);
          next.set(this.cached);
          this.cached = next;
        }
        this.cached[id] = this.nearest(bag);
      }
      out[i] = this.cached[id]!;
    }
    return out;
  }

  /** Normal bags compared per window scored so far: 0 while every bag was known or cached; hundreds where a busy program's windows are mostly new bags. */
  workPerWindow(): number {
    return this.scored === 0 ? 0 : this.compared / this.scored;
  }

  get bagCount(): number {
    return this.bags.size;
  }

  maxScore(): number {
    return 1; // nearest-bag distance over its maximum 2w
  }

  state(): BoscState {
    return { windowSize: this.windowSize, bags: this.bags.toArray() };
  }

  learnt(): LearntTable[] {
    return [{ what: 'bag', width: this.windowSize, rows: this.bags.view() }];
  }

  /** The union of the normal bags. */
  static merge(detectors: readonly Detector[]): Bosc {
    const list = mergeInputs('bosc', detectors, Bosc);
    const d = new Bosc();
    const size = list[0]!.windowSize;
    d.setSize(size);
    d.resetBags(size);
    for (const x of list) d.learn({ size, count: x.bags.size, data: x.bags.view() });
    return d;
  }

  static restore(state: unknown): Bosc {
    const s = stateObject('bosc', state);
    if (!(s.bags instanceof Uint16Array)) {
      throw new SyswardenError('ERR_MODEL_STATE', 'bosc: the saved state is incomplete (needs windowSize, bags). Fix: re-train the model.');
    }
    const size = stateWindowSize('bosc', s.windowSize);
    if (s.bags.length === 0 || s.bags.length % size !== 0) throw badState('bosc', `bags holds ${s.bags.length} calls, not a whole number of ${size}-call bags`);
    const d = new Bosc();
    d.setSize(size);
    d.bags = new SequenceStore(size, s.bags.length / size);
    // Saved bags are already sorted, and sorting is idempotent, so learn() restores them unchanged.
    d.learn({ size, count: s.bags.length / size, data: s.bags });
    return d;
  }
}

export const factory: DetectorFactory<BoscOptions> = {
  name: 'bosc',
  version: VERSION,
  description: 'bag of system calls: distance from a window\'s call frequencies to the nearest normal bag (Abed et al. 2015)',
  create: (options) => new Bosc(options),
  restore: (state) => Bosc.restore(state),
  merge: (detectors) => Bosc.merge(detectors),
};
