/**
 * Exact nearest-bag search for BoSC without scanning every normal bag.
 *
 * A bag of w calls (a sorted window) is a set of w "pairs": (call, k) for the
 * k-th copy of that call in the bag, so two bags' common calls (their multiset
 * intersection) are their common pairs. A normal bag that misses at most m of
 * the query's calls shares at least w - m pairs with it, so it holds at least
 * one of any m + 1 of the query's pairs (pigeonhole). The search takes the
 * query's pairs rarest first and, after the (m+1)-th, has seen every normal
 * bag missing at most m calls: once the best bag seen misses at most m, it
 * is the nearest, and the search stops. Most unseen windows of a busy
 * program are one or two calls away from a normal bag and share a rare call
 * with it, so they cost a few short posting lists instead of a scan.
 *
 * Pairs held by more than a sixteenth of the bags (read, write, the calls
 * every request makes) get no posting list: a query that reaches one falls
 * back to the full scan, which is then no slower than always scanning.
 * The index holds at most one bag id per rare pair of each bag (4 bytes).
 */
const MAX_COPIES = 64;

/**
 * Normal bags one search may compare with the query before it settles for
 * the nearest seen so far. A busy program's unseen bag can sit several calls
 * from every normal bag, and proving the nearest then walks several long
 * posting lists (or the whole set): 2.8 ms per search at window 15 on the
 * benchmark's busy container (530 000 bags), 53 ms for a scan of them all. Capped, a search costs at most
 * this many O(w) comparisons, in the same order every time (the score of a
 * bag stays a function of the bag and the model: replay = watch), and the
 * distance it returns is an upper bound of the exact one, never lower.
 */
export const SEARCH_BUDGET = 8192;

export class BagIndex {
  private readonly keyOf = new Map<number, number>();
  /** Per pair: bags holding it. */
  private readonly freq: Int32Array;
  /** Per pair: start of its posting list in `list`, or -1 when it has none (too common). */
  private readonly start: Int32Array;
  private readonly list: Int32Array;
  private readonly stamp: Int32Array;
  private query = 0;
  /** Searches made, and those that fell back to the full scan (a common pair among the ones needed). */
  searches = 0;
  scans = 0;
  /** Searches that reached the budget and returned the nearest bag seen, not one proven nearest. */
  capped = 0;
  /** Normal bags compared with a query, over all searches. */
  compared = 0;
  /** Scratch of one search, per pair of the query: its key, its key's slot (-1: no normal bag holds it); by rarity, the pair and how many bags hold it. */
  private readonly keys: Float64Array;
  private readonly slot: Int32Array;
  private readonly order: Int32Array;
  private readonly rarity: Int32Array;

  constructor(
    private readonly bags: Uint16Array,
    private readonly w: number,
    private readonly budget = SEARCH_BUDGET,
  ) {
    if (w > MAX_COPIES) throw new RangeError(`bag index: windows of ${w} calls exceed ${MAX_COPIES}`);
    const n = bags.length / w;
    const counts: number[] = [];
    const keys = new Float64Array(w);
    for (let b = 0; b < n; b++) {
      pairKeys(bags, b * w, w, keys);
      for (const key of keys) {
        let k = this.keyOf.get(key);
        if (k === undefined) {
          k = counts.length;
          this.keyOf.set(key, k);
          counts.push(0);
        }
        counts[k]!++;
      }
    }
    const limit = Math.max(256, n >> 4);
    this.freq = Int32Array.from(counts);
    this.start = new Int32Array(counts.length + 1);
    let total = 0;
    for (let k = 0; k < counts.length; k++) {
      this.start[k] = counts[k]! <= limit ? total : -1;
      if (counts[k]! <= limit) total += counts[k]!;
    }
    this.list = new Int32Array(total);
    const fill = new Int32Array(counts.length);
    for (let b = 0; b < n; b++) {
      pairKeys(bags, b * w, w, keys);
      for (const key of keys) {
        const k = this.keyOf.get(key)!;
        if (this.start[k]! >= 0) this.list[this.start[k]! + fill[k]!++] = b;
      }
    }
    this.stamp = new Int32Array(n);
    this.keys = new Float64Array(w);
    this.slot = new Int32Array(w);
    this.order = new Int32Array(w);
    this.rarity = new Int32Array(w);
  }

  /** Calls of `bag` (sorted, w long, not itself a normal bag) that the nearest normal bag lacks: 1..w. */
  nearestMissing(bag: Uint16Array): number {
    const w = this.w;
    this.searches++;
    // The query's pairs, rarest first (a pair no normal bag holds sorts first
    // and costs nothing); ties keep the bag's order. An insertion sort in
    // place: w is small, and a search runs once per unseen bag.
    const { slot, rarity, order, keys } = this;
    pairKeys(bag, 0, w, keys);
    for (let i = 0; i < w; i++) {
      const k = this.keyOf.get(keys[i]!);
      slot[i] = k ?? -1;
      const f = k === undefined ? 0 : this.freq[k]!;
      let j = i;
      while (j > 0 && rarity[j - 1]! > f) {
        rarity[j] = rarity[j - 1]!;
        order[j] = order[j - 1]!;
        j--;
      }
      rarity[j] = f;
      order[j] = i;
    }
    if (++this.query === 0x7fffffff) {
      this.stamp.fill(0);
      this.query = 1;
    }
    const q = this.query;
    let best = w;
    let left = this.budget;
    for (let m = 0; m < w; m++) {
      const k = slot[order[m]!]!;
      if (k >= 0) {
        const s = this.start[k]!;
        if (s < 0) {
          this.scans++;
          const found = scanMissing(this.bags, w, bag, best, left);
          this.compared += Math.min(this.bags.length / w, left);
          if (found > 1 && this.bags.length / w > left) this.capped++;
          return found;
        }
        const end = s + this.freq[k]!;
        for (let j = s; j < end; j++) {
          const b = this.list[j]!;
          if (this.stamp[b] === q) continue;
          this.stamp[b] = q;
          if (left-- === 0) {
            this.capped++;
            return best;
          }
          this.compared++;
          const missing = missingFrom(bag, this.bags, b * w, w);
          if (missing < best) {
            best = missing;
            if (best === 1) return 1; // the least an unseen bag can miss: nothing nearer to find
          }
        }
      }
      // Every normal bag missing at most m calls has now been seen.
      if (best <= m) return best;
    }
    return best;
  }
}

/** Writes the pair keys (call * 64 + its copy number) of the sorted bag at `off` into `keys`. */
function pairKeys(bags: Uint16Array, off: number, w: number, keys: Float64Array): void {
  let copy = 0;
  for (let i = 0; i < w; i++) {
    const v = bags[off + i]!;
    copy = i > 0 && bags[off + i - 1] === v ? copy + 1 : 0;
    keys[i] = v * MAX_COPIES + copy;
  }
}

/** Calls of `bag` that the sorted bag at `off` lacks (w minus their multiset intersection). */
function missingFrom(bag: Uint16Array, bags: Uint16Array, off: number, w: number): number {
  let i = 0;
  let j = 0;
  let common = 0;
  while (i < w && j < w) {
    const x = bag[i]!;
    const y = bags[off + j]!;
    if (x === y) {
      common++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return w - common;
}

/** The nearest of the first `limit` bags by scanning them (stops early at one call missing, the least an unseen bag can miss). */
export function scanMissing(bags: Uint16Array, w: number, bag: Uint16Array, best = w, limit = Infinity): number {
  const n = Math.min(bags.length / w, limit);
  for (let b = 0; b < n && best > 1; b++) {
    const missing = missingFrom(bag, bags, b * w, w);
    if (missing < best) best = missing;
  }
  return best;
}
