/**
 * A seeded, stratified split of whole traces for evaluation. Normal traces are
 * split into a training and a test side; attack traces are split within each
 * kind, so that supervised detectors are tested on kinds they have seen (where
 * a kind has at least two traces) and the report can name the kinds they have
 * not. Membership is decided by the seeded shuffle alone: the input order (file
 * names) only fixes which trace each shuffled position refers to.
 */
import { SyswardenError } from '../errors.js';
import { Prng } from './lib/prng.js';

export interface TraceTag {
  label: 0 | 1;
  /** Attack kind (labels file or the attack file's directory); 'normal' for normal traces. */
  kind: string;
}

export interface SplitFractions {
  /** Share of normal traces to train on (floored, then kept within [1, n - 1]). Default 0.5. */
  normalTrain?: number;
  /** Share of each attack kind given to supervised training (floored, kept within [1, c - 1]). Default 0.5. */
  attackTrain?: number;
}

export interface KindSplit {
  kind: string;
  /** Traces of this kind in attackTrain. */
  train: number;
  /** Traces of this kind in test. */
  test: number;
}

export interface TraceSplit {
  /** Normal traces to learn from (indices into the input, ascending). */
  train: number[];
  /** Normal and attack traces to test on (ascending). */
  test: number[];
  /** Attack traces supervised detectors may learn from (ascending). */
  attackTrain: number[];
  /** Attack kinds, in code-unit order of their names, with their counts on each side. */
  kinds: KindSplit[];
  /** Kinds with a single trace: it is tested, so supervised detectors never saw the kind. */
  unseenKinds: string[];
  /** One short sentence for the report. */
  description: string;
}

const DEFAULT_FRACTION = 0.5;

function checkFraction(name: string, v: number | undefined): number {
  if (v === undefined) return DEFAULT_FRACTION;
  if (typeof v !== 'number' || !(v > 0 && v < 1)) {
    throw new SyswardenError('ERR_INVALID_INPUT', `splitTraces: ${name} must be a fraction strictly between 0 and 1, got ${v}. Fix: use e.g. 0.5.`);
  }
  return v;
}

/** How many of `count` go to the training side: floor(count * fraction), leaving at least one on each side. */
function trainCount(count: number, fraction: number): number {
  return Math.min(count - 1, Math.max(1, Math.floor(count * fraction)));
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The normal traces' indices, and the attack traces' by kind (each in input order); refuses a bad label or a kindless attack. */
function byClass(traces: readonly TraceTag[], caller: string): { normals: number[]; byKind: Map<string, number[]> } {
  const normals: number[] = [];
  const byKind = new Map<string, number[]>();
  for (let i = 0; i < traces.length; i++) {
    const t = traces[i]!;
    if (t.label === 0) {
      normals.push(i);
    } else if (t.label === 1) {
      if (typeof t.kind !== 'string' || t.kind === '') {
        throw new SyswardenError('ERR_INVALID_INPUT', `${caller}: attack trace ${i} has no kind. Fix: name its kind in the labels file or put the file in a directory named for the kind.`);
      }
      let list = byKind.get(t.kind);
      if (!list) byKind.set(t.kind, (list = []));
      list.push(i);
    } else {
      throw new SyswardenError('ERR_INVALID_INPUT', `${caller}: trace ${i} has label ${String(t.label)}. Fix: use 0 for normal and 1 for attack.`);
    }
  }
  return { normals, byKind };
}

/**
 * Split traces for training and testing, deterministically for `seed`.
 * Refuses fewer than 2 normal traces (one to train on, one to test).
 */
export function splitTraces(traces: readonly TraceTag[], seed: number, fractions: SplitFractions = {}): TraceSplit {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new SyswardenError('ERR_INVALID_INPUT', `splitTraces: seed must be an integer in [0, 4294967295], got ${seed}. Fix: pass --seed with a whole number.`);
  }
  const normalFraction = checkFraction('normalTrain', fractions.normalTrain);
  const attackFraction = checkFraction('attackTrain', fractions.attackTrain);

  const { normals, byKind } = byClass(traces, 'splitTraces');
  if (normals.length < 2) {
    throw new SyswardenError('ERR_INVALID_INPUT', `the trace split needs at least 2 normal traces (1 to train on, 1 to test), got ${normals.length}. Fix: give ${2 - normals.length} more normal trace${normals.length === 1 ? '' : 's'}.`);
  }

  const prng = new Prng(seed);
  const train: number[] = [];
  const test: number[] = [];
  const attackTrain: number[] = [];

  prng.shuffle(normals);
  const nTrain = trainCount(normals.length, normalFraction);
  train.push(...normals.slice(0, nTrain));
  test.push(...normals.slice(nTrain));

  // Kinds in name order, not first-appearance order, so the draws each kind gets do not
  // depend on how the files happened to be listed.
  const kinds: KindSplit[] = [];
  const unseenKinds: string[] = [];
  for (const kind of [...byKind.keys()].sort(byCodeUnit)) {
    const members = prng.shuffle(byKind.get(kind)!);
    if (members.length < 2) {
      unseenKinds.push(kind);
      test.push(...members);
      kinds.push({ kind, train: 0, test: members.length });
      continue;
    }
    const k = trainCount(members.length, attackFraction);
    attackTrain.push(...members.slice(0, k));
    test.push(...members.slice(k));
    kinds.push({ kind, train: k, test: members.length - k });
  }

  const ascending = (a: number, b: number) => a - b;
  train.sort(ascending);
  test.sort(ascending);
  attackTrain.sort(ascending);

  const nAttack = traces.length - normals.length;
  const testAttacks = nAttack - attackTrain.length;
  let description = `Trace split (seed ${seed}): train on ${plural(nTrain, 'normal trace')}; test on ${normals.length - nTrain} normal and ${plural(testAttacks, 'attack trace')}`;
  if (nAttack === 0) {
    description += '; no attack traces, so detection cannot be measured.';
  } else {
    const perKind = kinds.map((k) => `${k.kind} ${k.train}/${k.test}`).join(', ');
    description += `; supervised detectors also train on ${plural(attackTrain.length, 'attack trace')} (per kind, train/test: ${perKind})`;
    description += unseenKinds.length
      ? `; ${unseenKinds.length === 1 ? 'kind' : 'kinds'} ${unseenKinds.join(', ')} ${unseenKinds.length === 1 ? 'has' : 'have'} a single trace, tested only, so supervised detectors never saw ${unseenKinds.length === 1 ? 'it' : 'them'}.`
      : '.';
  }
  return { train, test, attackTrain, kinds, unseenKinds, description };
}

export interface TraceSample {
  /** Indices of the traces kept (ascending). */
  keep: number[];
  /** One short sentence for the report. */
  description: string;
}

/**
 * A seeded sample of at most `limit` normal and `limit` attack traces, for a
 * dataset too large to evaluate whole (eval holds every call it reads and every window it trains on).
 * The attack sample is shared among the kinds in proportion to their traces
 * (largest remainders, kinds in name order), every kind keeping at least one
 * while there are no more kinds than `limit`: a kind is never lost to chance.
 */
export function sampleTraces(traces: readonly TraceTag[], limit: number, seed: number): TraceSample {
  if (!Number.isInteger(limit) || limit < 2) {
    throw new SyswardenError('ERR_INVALID_INPUT', `sampleTraces: the sample must be a whole number of traces, at least 2, got ${limit}. Fix: pass --sample with e.g. 200.`);
  }
  // A stream of its own: the split that follows draws from Prng(seed) on the sampled traces.
  const prng = new Prng((seed ^ 0x9e3779b9) >>> 0);
  const { normals, byKind } = byClass(traces, 'sampleTraces');
  const keep = prng.shuffle(normals).slice(0, limit);
  const kinds = [...byKind.keys()].sort(byCodeUnit);
  const attacks = kinds.reduce((n, k) => n + byKind.get(k)!.length, 0);
  const share = new Map<string, number>();
  if (attacks <= limit) {
    for (const k of kinds) share.set(k, byKind.get(k)!.length);
  } else {
    // Every kind its floor share, at least one while there is room; the rest to the largest remainders.
    const floor = kinds.length <= limit ? 1 : 0;
    let left = limit;
    const exact = kinds.map((k) => (byKind.get(k)!.length * limit) / attacks);
    kinds.forEach((k, i) => {
      const n = Math.max(floor, Math.floor(exact[i]!));
      share.set(k, n);
      left -= n;
    });
    const byRemainder = kinds.map((k, i) => ({ k, r: exact[i]! - Math.floor(exact[i]!) })).sort((a, b) => b.r - a.r || byCodeUnit(a.k, b.k));
    for (let j = 0; left > 0 && j < byRemainder.length; j++) {
      const { k } = byRemainder[j]!;
      if (share.get(k)! < byKind.get(k)!.length) {
        share.set(k, share.get(k)! + 1);
        left--;
      }
    }
    // Kinds that kept one each may overshoot a small limit: take back from the largest shares.
    while (left < 0) {
      const largest = kinds.reduce((a, b) => (share.get(b)! > share.get(a)! ? b : a));
      share.set(largest, share.get(largest)! - 1);
      left++;
    }
  }
  let kept = 0;
  for (const k of kinds) {
    const take = share.get(k)!;
    keep.push(...prng.shuffle(byKind.get(k)!).slice(0, take));
    kept += take;
  }
  keep.sort((a, b) => a - b);
  const lost = kinds.filter((k) => share.get(k) === 0);
  const description =
    `Sample (seed ${seed}): ${Math.min(limit, normals.length)} of ${plural(normals.length, 'normal trace')} and ${kept} of ${plural(attacks, 'attack trace')}` +
    (lost.length ? `; ${lost.length === 1 ? 'kind' : 'kinds'} ${lost.join(', ')} left out (more kinds than --sample)` : '') +
    '.';
  return { keep, description };
}
