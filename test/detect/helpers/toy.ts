import type { WindowSet } from '../../../src/window/window-set.js';
import type { DetectorFactory } from '../../../src/detect/detector.js';
import { factory as rf } from '../../../src/detect/rf.js';
import { factory as nb } from '../../../src/detect/nb.js';
import { factory as knn } from '../../../src/detect/knn.js';
import { factory as mlp } from '../../../src/detect/mlp.js';
import { factory as ada } from '../../../src/detect/ada.js';
import { factory as ocsvm } from '../../../src/detect/ocsvm.js';
import { factory as iforest } from '../../../src/detect/iforest.js';

/** The study's seven classifiers, with options that keep toy fits fast. */
export const CLASSIFIERS: Array<{ factory: DetectorFactory; options: Record<string, unknown> }> = [
  { factory: rf as DetectorFactory, options: { nEstimators: 20 } },
  { factory: nb as DetectorFactory, options: {} },
  { factory: knn as DetectorFactory, options: {} },
  { factory: mlp as DetectorFactory, options: { maxIter: 30 } },
  { factory: ada as DetectorFactory, options: { nEstimators: 5, baseTrees: 5 } },
  { factory: ocsvm as DetectorFactory, options: { nu: 0.05 } },
  { factory: iforest as DetectorFactory, options: {} },
];

/** Small deterministic generator for fixtures (independent of the library's PRNG). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/**
 * A toy problem of windows of 5 syscall numbers, repeated like real traces:
 * normal windows are 30 recurring patterns of file-I/O calls (0..12), now and
 * then with one position changed; attack windows carry process calls
 * (56..62: clone, fork, execve...) at most positions.
 */
export function toyWindows(count: number, attackShare: number, seed: number): WindowSet {
  const patterns = lcg(99);
  const size = 5;
  const normal = Array.from({ length: 30 }, () => Array.from({ length: size }, () => Math.floor(patterns() * 13)));
  const rand = lcg(seed);
  const data = new Uint16Array(count * size);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const attack = rand() < attackShare;
    labels[i] = attack ? 1 : 0;
    const base = normal[Math.floor(rand() * normal.length)]!;
    const change = rand() < 0.1 ? Math.floor(rand() * size) : -1;
    for (let j = 0; j < size; j++) {
      let v = j === change ? Math.floor(rand() * 13) : base[j]!;
      if (attack && rand() < 0.8) v = 56 + Math.floor(rand() * 7);
      data[i * size + j] = v;
    }
  }
  return { size, count, data, labels };
}

export function normalOnly(set: WindowSet): WindowSet {
  const keep: number[] = [];
  for (let i = 0; i < set.count; i++) if (set.labels![i] === 0) keep.push(i);
  const data = new Uint16Array(keep.length * set.size);
  keep.forEach((i, k) => data.set(set.data.subarray(i * set.size, (i + 1) * set.size), k * set.size));
  return { size: set.size, count: keep.length, data, labels: new Uint8Array(keep.length) };
}

/** Share of windows whose alarm (score >= threshold) matches the label. */
export function accuracy(set: WindowSet, scores: Float64Array, threshold: number): number {
  let ok = 0;
  for (let i = 0; i < set.count; i++) if ((scores[i]! >= threshold ? 1 : 0) === set.labels![i]) ok++;
  return ok / set.count;
}

/** Area under the ROC curve: chance that an attack window outscores a normal one (ties count half). */
export function auc(set: WindowSet, scores: Float64Array): number {
  const order = Array.from({ length: set.count }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rankSum = 0;
  let nPos = 0;
  for (let k = 0; k < order.length; ) {
    let e = k;
    while (e < order.length && scores[order[e]!] === scores[order[k]!]) e++;
    const mid = (k + e + 1) / 2;
    for (let q = k; q < e; q++) if (set.labels![order[q]!] === 1) {
      rankSum += mid;
      nPos++;
    }
    k = e;
  }
  const nNeg = set.count - nPos;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** Share of attack windows with an alarm. */
export function recall(set: WindowSet, scores: Float64Array, threshold: number): number {
  let hit = 0;
  let pos = 0;
  for (let i = 0; i < set.count; i++) if (set.labels![i] === 1) {
    pos++;
    if (scores[i]! >= threshold) hit++;
  }
  return hit / pos;
}
