import { Prng } from './prng.js';
import type { UniqueWindows } from './unique.js';
import { copyRow } from '../../window/windows.js';

/**
 * Most distinct windows of one class a model whose cost grows faster than
 * the distinct windows it learns from takes in: the tree ensembles (a fully
 * grown tree holds up to two nodes per distinct window it draws, and a
 * forest keeps every tree) and the one-class SVM (a kernel row per distinct
 * window, and SMO steps that read whole rows). On 6 000 short traces of a
 * synthetic program (350 000 distinct windows of 6 calls, ADFA-LD's size)
 * `eval` with a random forest passed 1.3 GB, with AdaBoost's 500 trees 8 GB
 * after 10 minutes, and the SVM had not finished after 15. Above this many,
 * a class's distinct windows are sampled (seeded, in proportion to how
 * often each occurs, so the common ones stay) and the windows of the others
 * are left out. The reference study's training halves hold at most 5 400
 * distinct windows of a class (window 15): there nothing is left out.
 */
export const MAX_DISTINCT_PER_CLASS = 1 << 13;

/**
 * Which of the windows counted in `counts` (the ones counted above 0) a
 * model keeps: all of them if there are at most `cap`, else `cap` drawn
 * without replacement with chances in proportion to each count (Efraimidis
 * and Spirakis' keys). Undefined when every one is kept.
 */
export function weightedSample(counts: Float64Array, cap: number, rng: Prng): Uint8Array | undefined {
  let present = 0;
  for (const c of counts) if (c > 0) present++;
  if (present <= cap) return undefined;
  // Key ln(r) / count: the cap largest keys are a weighted sample without replacement.
  const keys: Array<{ u: number; key: number }> = [];
  for (let u = 0; u < counts.length; u++) {
    if (!(counts[u]! > 0)) continue;
    let r = rng.float();
    while (r === 0) r = rng.float();
    keys.push({ u, key: Math.log(r) / counts[u]! });
  }
  keys.sort((a, b) => b.key - a.key || a.u - b.u);
  const kept = new Uint8Array(counts.length);
  for (let i = 0; i < cap; i++) kept[keys[i]!.u] = 1;
  return kept;
}

/**
 * `uniq` with each class bounded to `cap` distinct windows (weightedSample,
 * normal then attack, from one generator seeded with `seed`): the windows a
 * class leaves out lose that class's count, a window no class keeps goes,
 * and the inputs of a left-out (window, class) get index -1. `labels` gives
 * each input's class (absent: all normal). `uniq` itself when nothing is
 * left out.
 */
export function boundedDistinct(uniq: UniqueWindows, labels: Uint8Array | undefined, seed: number, cap = MAX_DISTINCT_PER_CLASS): UniqueWindows {
  const rng = new Prng(seed);
  const sampled = [uniq.normal, uniq.attack].map((c) => weightedSample(c, cap, rng));
  if (!sampled[0] && !sampled[1]) return uniq;
  const keep = [uniq.normal, uniq.attack].map((c, k) => sampled[k] ?? c.map((v) => (v > 0 ? 1 : 0)));
  // Compact: the distinct windows some class keeps, in their order.
  const newIndex = new Int32Array(uniq.count).fill(-1);
  let n = 0;
  for (let u = 0; u < uniq.count; u++) if (keep[0]![u] || keep[1]![u]) newIndex[u] = n++;
  const size = uniq.size;
  const data = new Uint16Array(n * size);
  const normal = new Float64Array(n);
  const attack = new Float64Array(n);
  for (let u = 0; u < uniq.count; u++) {
    const v = newIndex[u]!;
    if (v < 0) continue;
    copyRow(uniq.data, u * size, data, v * size, size);
    if (keep[0]![u]) normal[v] = uniq.normal[u]!;
    if (keep[1]![u]) attack[v] = uniq.attack[u]!;
  }
  const index = uniq.index.map((u, i) => (u >= 0 && keep[labels?.[i] === 1 ? 1 : 0]![u] ? newIndex[u]! : -1));
  return { size, count: n, data, normal, attack, index };
}
