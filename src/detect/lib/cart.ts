import type { Prng } from './prng.js';

/**
 * CART classification trees (gini, best split over a random feature subset) on
 * distinct windows carrying per-class weights, grown into one flat forest.
 *
 * Matches scikit-learn's DecisionTreeClassifier where it matters for the
 * study: samples with zero weight are left out, features found constant in a
 * node do not count towards `maxFeatures`, the first strictly best split wins,
 * thresholds are midpoints and `x <= threshold` goes left, nodes split until
 * pure (or no feature varies), and a leaf holds the weighted class fractions.
 * Feature values are syscall numbers (< 65536), so a node's split search
 * buckets by value instead of sorting its samples: O(samples + distinct values).
 */
export class ForestBuilder {
  /**
   * Nodes live in fixed-size typed chunks until build() copies them out at
   * their exact count. AdaBoost grows 50 forests of up to ~1M nodes each on
   * large training sets: number[]s grown by push held 8 bytes per int, up to
   * half again in spare capacity, and a second copy while being converted.
   */
  private nodes = 0;
  private readonly chunks: NodeChunk[] = [];
  private readonly roots: number[] = [];

  private readonly acc0 = new Float64Array(65536);
  private readonly acc1 = new Float64Array(65536);
  private readonly seen = new Uint8Array(65536);

  /**
   * Grow one tree on rows `X` (row-major, `d` columns) with class weights
   * `w0` (normal) and `w1` (attack); rows where both are 0 are ignored.
   */
  grow(X: Uint16Array, d: number, w0: Float64Array, w1: Float64Array, maxFeatures: number, maxDepth: number, rng: Prng): void {
    const n = w0.length;
    const idx = new Int32Array(n);
    let m = 0;
    for (let i = 0; i < n; i++) if (w0[i]! > 0 || w1[i]! > 0) idx[m++] = i;
    const features = new Int32Array(d);
    for (let j = 0; j < d; j++) features[j] = j;
    const touched = new Int32Array(Math.max(m, 1));
    const { acc0, acc1, seen } = this;

    const root = this.newNode();
    this.roots.push(root);
    // Explicit stack: (node, start, end, depth).
    const stack: number[] = [root, 0, m, 0];
    while (stack.length > 0) {
      const depth = stack.pop()!;
      const end = stack.pop()!;
      const start = stack.pop()!;
      const node = stack.pop()!;
      let W0 = 0;
      let W1 = 0;
      for (let i = start; i < end; i++) {
        W0 += w0[idx[i]!]!;
        W1 += w1[idx[i]!]!;
      }
      const W = W0 + W1;
      const at = this.chunks[node >>> CHUNK_BITS]!;
      const o = node & CHUNK_MASK;
      at.value[o] = W > 0 ? W1 / W : 0;
      if (W0 <= 0 || W1 <= 0 || end - start < 2 || (maxDepth > 0 && depth >= maxDepth)) continue;

      let bestProxy = -Infinity;
      let bestF = -1;
      let bestThr = 0;
      let visited = 0;
      for (let k = 0; k < d && visited < maxFeatures; k++) {
        const j = k + rng.int(d - k);
        const f = features[j]!;
        features[j] = features[k]!;
        features[k] = f;
        let nt = 0;
        for (let i = start; i < end; i++) {
          const s = idx[i]!;
          const v = X[s * d + f]!;
          if (seen[v] === 0) {
            seen[v] = 1;
            touched[nt++] = v;
          }
          acc0[v]! += w0[s]!;
          acc1[v]! += w1[s]!;
        }
        if (nt > 1) {
          visited++;
          const vals = touched.subarray(0, nt).sort();
          let L0 = 0;
          let L1 = 0;
          for (let t = 0; t < nt - 1; t++) {
            const v = vals[t]!;
            L0 += acc0[v]!;
            L1 += acc1[v]!;
            const R0 = W0 - L0;
            const R1 = W1 - L1;
            const L = L0 + L1;
            const R = R0 + R1;
            if (L <= 0 || R <= 0) continue;
            const proxy = (L0 * L0 + L1 * L1) / L + (R0 * R0 + R1 * R1) / R;
            if (proxy > bestProxy) {
              bestProxy = proxy;
              bestF = f;
              bestThr = (v + vals[t + 1]!) / 2;
            }
          }
        }
        for (let t = 0; t < nt; t++) {
          const v = touched[t]!;
          seen[v] = 0;
          acc0[v] = 0;
          acc1[v] = 0;
        }
      }
      if (bestF < 0) continue;
      // Partition [start, end) so rows with x[f] <= thr come first.
      let i = start;
      let k = end - 1;
      while (i <= k) {
        if (X[idx[i]! * d + bestF]! <= bestThr) i++;
        else {
          const t = idx[i]!;
          idx[i] = idx[k]!;
          idx[k] = t;
          k--;
        }
      }
      const l = this.newNode();
      const r = this.newNode();
      at.feature[o] = bestF;
      at.threshold[o] = bestThr;
      at.left[o] = l;
      at.right[o] = r;
      stack.push(r, i, end, depth + 1, l, start, i, depth + 1);
    }
  }

  private newNode(): number {
    const id = this.nodes++;
    const o = id & CHUNK_MASK;
    if (o === 0) this.chunks.push(newChunk());
    const at = this.chunks[id >>> CHUNK_BITS]!;
    at.feature[o] = -1;
    at.threshold[o] = 0;
    at.left[o] = -1;
    at.right[o] = -1;
    at.value[o] = 0;
    return id;
  }

  /** The trees grown so far, in arrays of exactly their node count; the builder starts afresh. */
  build(): FlatForest {
    const n = this.nodes;
    const forest: FlatForest = {
      feature: new Int32Array(n),
      threshold: new Float64Array(n),
      left: new Int32Array(n),
      right: new Int32Array(n),
      value: new Float64Array(n),
      roots: Int32Array.from(this.roots),
    };
    this.chunks.forEach((c, k) => {
      const from = k << CHUNK_BITS;
      const len = Math.min(CHUNK, n - from);
      forest.feature.set(c.feature.subarray(0, len), from);
      forest.threshold.set(c.threshold.subarray(0, len), from);
      forest.left.set(c.left.subarray(0, len), from);
      forest.right.set(c.right.subarray(0, len), from);
      forest.value.set(c.value.subarray(0, len), from);
    });
    this.nodes = 0;
    this.chunks.length = 0;
    this.roots.length = 0;
    return forest;
  }
}

const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK - 1;

/** CHUNK consecutive nodes, the layout of FlatForest. */
interface NodeChunk {
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  value: Float64Array;
}

function newChunk(): NodeChunk {
  return { feature: new Int32Array(CHUNK), threshold: new Float64Array(CHUNK), left: new Int32Array(CHUNK), right: new Int32Array(CHUNK), value: new Float64Array(CHUNK) };
}

/** Trees as parallel arrays; a node with feature -1 is a leaf. */
export interface FlatForest {
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  value: Float64Array;
  roots: Int32Array;
}
