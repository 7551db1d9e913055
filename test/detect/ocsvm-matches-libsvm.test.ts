/**
 * The one-class SVM against libsvm itself (`svm-train -s 2 -t 2`, Debian
 * package libsvm-tools): on small seeded problems whose features are what the
 * detector sees (the raw syscall numbers of a window), both must find the same
 * dual optimum. Compared: every test point's side of the boundary (against
 * svm-predict's labels), the number of support vectors, rho, and the decision
 * values, which are computed exactly from the model file libsvm writes (its
 * SVs, coefficients and rho are text).
 *
 * libsvm is required, never skipped: CI installs it through scripts/setup.sh.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OneClassSvm } from '../../src/detect/ocsvm.js';
import { Prng } from '../../src/detect/lib/prng.js';
import type { WindowSet } from '../../src/window/window-set.js';
import { STAND_IN } from '../../src/trace/dataset.js';
import { datasetMissingForTests } from './helpers/dataset.js';
import { orderedSplit, standIn } from './helpers/study.js';

/** libsvm's default stopping tolerance (-e), which is also the detector's default `tol`. */
const TOL = 1e-3;
// Only the check on the study's data needs the dataset; it skips without it, like the other dataset tests.
const missing = datasetMissingForTests([STAND_IN.normal, STAND_IN.attack]);

const dir = mkdtempSync(join(tmpdir(), 'syswarden-libsvm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(tool: string, args: string[]): string {
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`${tool} is not installed: this test compares against libsvm. Fix: apt-get install -y libsvm-tools (scripts/setup.sh installs it).`);
  }
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** libsvm's text format, one window per line: a dummy label, then 1-based index:value. */
function writeProblem(path: string, set: WindowSet): void {
  const lines: string[] = [];
  for (let i = 0; i < set.count; i++) {
    const f: string[] = ['1'];
    for (let j = 0; j < set.size; j++) f.push(`${j + 1}:${set.data[i * set.size + j]!}`);
    lines.push(f.join(' '));
  }
  writeFileSync(path, lines.join('\n') + '\n');
}

interface LibsvmModel {
  gamma: number;
  rho: number;
  coef: number[];
  sv: number[][];
}

function readModel(path: string, d: number): LibsvmModel {
  const lines = readFileSync(path, 'utf8').split('\n');
  const header = new Map<string, string>();
  let k = 0;
  for (; k < lines.length && lines[k] !== 'SV'; k++) {
    const sp = lines[k]!.indexOf(' ');
    header.set(lines[k]!.slice(0, sp), lines[k]!.slice(sp + 1));
  }
  if (header.get('svm_type') !== 'one_class' || header.get('kernel_type') !== 'rbf') throw new Error(`${path} is not a one-class RBF model`);
  const model: LibsvmModel = { gamma: Number(header.get('gamma')), rho: Number(header.get('rho')), coef: [], sv: [] };
  for (const line of lines.slice(k + 1)) {
    if (line.trim() === '') continue;
    const [coef, ...pairs] = line.trim().split(' ');
    // libsvm leaves out features equal to 0 (its sparse format).
    const x = new Array<number>(d).fill(0);
    for (const p of pairs) {
      const [i, v] = p.split(':');
      x[Number(i) - 1] = Number(v);
    }
    model.coef.push(Number(coef));
    model.sv.push(x);
  }
  if (model.sv.length !== Number(header.get('total_sv'))) throw new Error(`${path}: total_sv ${header.get('total_sv')}, read ${model.sv.length}`);
  return model;
}

/** libsvm's decision function Σ coef_i K(sv_i, x) - rho, > 0 inside. */
function libsvmDecision(m: LibsvmModel, x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < m.sv.length; i++) {
    let e2 = 0;
    for (let j = 0; j < x.length; j++) {
      const e = x[j]! - m.sv[i]![j]!;
      e2 += e * e;
    }
    s += m.coef[i]! * Math.exp(-m.gamma * e2);
  }
  return s - m.rho;
}

/** scikit-learn's gamma='scale': 1 / (features * variance of every value of every window). */
function scaleGamma(set: WindowSet): number {
  const n = set.count * set.size;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += set.data[i]!;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (set.data[i]! - mean) ** 2;
  return 1 / (set.size * (v / n));
}

function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/**
 * Windows of `d` syscall numbers around three "programs" (cluster centres),
 * as integers in [0, 450]; `copies` > 1 repeats each distinct window 1..copies
 * times in shuffled order, as real traces repeat windows.
 */
function trainingWindows(rng: Prng, d: number, distinct: number, copies: number): WindowSet {
  const centres = [0, 1, 2].map(() => Array.from({ length: d }, () => 40 + rng.int(370)));
  const seen = new Set<string>();
  const rows: number[][] = [];
  while (rows.length < distinct) {
    const c = centres[rng.int(3)]!;
    const x = c.map((v) => Math.max(0, Math.min(450, Math.round(v + 25 * rng.normal()))));
    const key = x.join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    rows.push(x);
  }
  const all = rows.flatMap((x) => Array.from({ length: 1 + rng.int(copies) }, () => x));
  const order = rng.shuffle(Int32Array.from(all, (_, i) => i));
  const data = new Uint16Array(all.length * d);
  order.forEach((o, i) => data.set(all[o]!, i * d));
  return { size: d, count: all.length, data };
}

/** Test windows: half from the training distribution's range of centres, half uniform (mostly outside). */
function testWindows(rng: Prng, train: WindowSet, count: number): WindowSet {
  const d = train.size;
  const data = new Uint16Array(count * d);
  for (let i = 0; i < count; i++) {
    const near = i % 2 === 0;
    const base = rng.int(train.count) * d;
    for (let j = 0; j < d; j++) {
      const v = near ? train.data[base + j]! + 15 * rng.normal() : rng.int(451);
      data[i * d + j] = Math.max(0, Math.min(450, Math.round(v)));
    }
  }
  return { size: d, count, data };
}

/**
 * Windows slid over one synthetic trace (a sparse Markov chain over `calls`
 * syscalls): few distinct windows, each repeated many times, as in real traces.
 */
function traceWindows(rng: Prng, d: number, count: number, calls: number): WindowSet {
  const next = Array.from({ length: calls }, () => [rng.int(calls), rng.int(calls), rng.int(calls)]);
  const trace: number[] = [];
  for (let c = 0; trace.length < count + d - 1;) {
    trace.push(3 * c);
    const r = rng.float();
    c = next[c]![r < 0.8 ? 0 : r < 0.95 ? 1 : 2]!;
  }
  const data = new Uint16Array(count * d);
  for (let i = 0; i < count; i++) for (let j = 0; j < d; j++) data[i * d + j] = trace[i + j]!;
  return { size: d, count, data };
}

/** The windows labelled normal (all when unlabelled): what both one-class learners are given. */
function normalOnly(set: WindowSet): WindowSet {
  if (!set.labels) return set;
  const rows: number[] = [];
  for (let i = 0; i < set.count; i++) if (set.labels[i] === 0) rows.push(i);
  const data = new Uint16Array(rows.length * set.size);
  rows.forEach((r, i) => data.set(set.data.subarray(r * set.size, (r + 1) * set.size), i * set.size));
  return { size: set.size, count: rows.length, data };
}

interface Comparison {
  /** Share of test windows on the same side of the boundary. */
  agreement: number;
  /** Test windows on different sides where either decision value is further than TOL from 0. */
  offBoundaryDisagreements: number;
  /** Test windows libsvm puts inside (+1). */
  inside: number;
  nsv: { ours: number; libsvmDistinct: number; libsvmCopies: number };
  alphaSum: { ours: number; libsvm: number; nuTimesN: number };
  rho: { ours: number; libsvm: number };
  pearson: number;
  maxDiff: number;
}

/**
 * Fit the detector and `svm-train` on the normal windows of `train` with the
 * same nu and gamma, and compare them on `test`. Debian's svm-train keeps -g
 * and -n as float32s (its model file shows the rounded gamma, its alphas sum
 * to the rounded nu times n), so both sides are handed float32 values: the
 * detector's default gamma ('scale') and `nu`, rounded.
 */
function compare(tag: string, train: WindowSet, test: WindowSet, nu0: number): Comparison {
  const d = train.size;
  const normal = normalOnly(train);
  const nu = Math.fround(nu0);
  const scale = new OneClassSvm({ nu, tol: TOL });
  scale.fit(train);
  expect(Math.abs(scale.state().gamma / scaleGamma(normal) - 1)).toBeLessThan(1e-9);
  const gamma = Math.fround(scale.state().gamma);
  const ours = new OneClassSvm({ nu, tol: TOL, gamma });
  ours.fit(train);
  const state = ours.state();
  const oursDecision = Array.from(ours.score(test), (s) => -s);

  const base = join(dir, tag);
  writeProblem(`${base}.train`, normal);
  writeProblem(`${base}.test`, test);
  run('svm-train', ['-q', '-s', '2', '-t', '2', '-g', gamma.toPrecision(17), '-n', nu.toPrecision(17), '-e', String(TOL), '-b', '0', `${base}.train`, `${base}.model`]);
  run('svm-predict', ['-b', '0', `${base}.test`, `${base}.model`, `${base}.predict`]);
  const predicted = readFileSync(`${base}.predict`, 'utf8').trim().split('\n').map(Number);
  const model = readModel(`${base}.model`, d);
  expect(model.gamma).toBe(gamma);
  expect(predicted).toHaveLength(test.count);

  const theirDecision: number[] = [];
  for (let i = 0; i < test.count; i++) theirDecision.push(libsvmDecision(model, test.data.subarray(i * d, (i + 1) * d)));
  // The model file read back must be the model svm-predict used.
  expect(theirDecision.map((v) => (v > 0 ? 1 : -1))).toEqual(predicted);

  let agree = 0;
  let offBoundary = 0;
  let maxDiff = 0;
  for (let i = 0; i < test.count; i++) {
    if ((oursDecision[i]! > 0 ? 1 : -1) === predicted[i]) agree++;
    else if (Math.abs(oursDecision[i]!) > TOL || Math.abs(theirDecision[i]!) > TOL) offBoundary++;
    maxDiff = Math.max(maxDiff, Math.abs(oursDecision[i]! - theirDecision[i]!));
  }
  const c: Comparison = {
    agreement: agree / test.count,
    offBoundaryDisagreements: offBoundary,
    inside: predicted.filter((p) => p > 0).length,
    // libsvm counts copies, the detector distinct windows.
    nsv: { ours: state.alpha.length, libsvmDistinct: new Set(model.sv.map((x) => x.join(','))).size, libsvmCopies: model.sv.length },
    alphaSum: { ours: state.alpha.reduce((s, a) => s + a, 0), libsvm: model.coef.reduce((s, a) => s + a, 0), nuTimesN: nu * normal.count },
    rho: { ours: state.rho, libsvm: model.rho },
    pearson: pearson(oursDecision, theirDecision),
    maxDiff,
  };
  console.log(JSON.stringify({ tag, trainWindows: normal.count, testWindows: test.count, gamma, ...c }));
  return c;
}

/** What holds on every problem: the same dual optimum up to the solvers' stopping tolerance. */
function expectSameOptimum(c: Comparison): void {
  // Σ alpha = nu·n in both duals.
  expect(c.alphaSum.ours).toBeCloseTo(c.alphaSum.nuTimesN, 6);
  expect(c.alphaSum.libsvm).toBeCloseTo(c.alphaSum.nuTimesN, 6);
  // A window whose alpha is within the stopping tolerance of 0 may be a
  // support vector in one solution and not the other, hence the slack.
  expect(Math.abs(c.nsv.ours - c.nsv.libsvmDistinct)).toBeLessThanOrEqual(Math.max(2, Math.ceil(0.05 * c.nsv.libsvmDistinct)));
  // rho is the mean gradient of the free alphas. Both solvers stop once the
  // largest and smallest gradient a step could still use differ by less than
  // TOL, and every free alpha's gradient lies in that interval, so each rho
  // is within TOL of the optimal one's interval: two TOL-optimal solutions
  // of one problem give rhos at most 2·TOL apart.
  expect(Math.abs(c.rho.ours - c.rho.libsvm)).toBeLessThanOrEqual(2 * TOL);
  // Decision values: the same function. At a free support vector the
  // decision value is its gradient minus rho, each known to TOL, so the two
  // differ by up to 2·TOL there (measured: 0.9·TOL at most).
  expect(c.pearson).toBeGreaterThanOrEqual(0.9999);
  expect(c.maxDiff).toBeLessThanOrEqual(2 * TOL);
  // Where the two disagree on the side, both must be on the boundary.
  expect(c.offBoundaryDisagreements).toBe(0);
}

const POINT_SETS = [
  { d: 2, distinct: 300, copies: 1, nu: 0.1, seed: 1 },
  { d: 5, distinct: 400, copies: 1, nu: 0.05, seed: 2 },
  { d: 8, distinct: 300, copies: 1, nu: 0.2, seed: 3 },
  // The detector's default nu, with repeated windows: syswarden solves over
  // distinct windows with bound = copies, libsvm over every copy with bound 1.
  { d: 4, distinct: 200, copies: 4, nu: 0.01, seed: 4 },
  { d: 6, distinct: 150, copies: 3, nu: 0.1, seed: 5 },
];

describe('the one-class SVM finds the same solution as libsvm (svm-train -s 2 -t 2)', () => {
  for (const c of POINT_SETS) {
    it(`${c.d} features, ${c.distinct} distinct windows${c.copies > 1 ? ` repeated up to ${c.copies} times` : ''}, nu ${c.nu}`, () => {
      const rng = new Prng(c.seed);
      const train = trainingWindows(rng, c.d, c.distinct, c.copies);
      const test = testWindows(rng, train, 400);
      const r = compare(`points-${c.seed}`, train, test, c.nu);
      expectSameOptimum(r);
      // Same side of the boundary for at least 99% of the test windows, and
      // both sides occur, so the agreement means something.
      expect(r.agreement).toBeGreaterThanOrEqual(0.99);
      expect(r.inside).toBeGreaterThan(test.count / 10);
      expect(r.inside).toBeLessThan(test.count - test.count / 10);
    });
  }

  // Sliding windows repeat: the commonest ones become free support vectors,
  // whose decision value is 0 at the optimum and within TOL of it at either
  // solver's stop. Which side such a window lands on is the solver's
  // rounding, so one of them repeated 400 times in the test set can move the
  // agreement by 20% (this seed: 27,9,27, decision -4e-4 here, +2e-4 in
  // libsvm). What must hold is the optimum, and agreement off the boundary.
  it('windows of a repetitive trace: same optimum, disagreeing only on the boundary', () => {
    const train = traceWindows(new Prng(5), 3, 3000, 12);
    const test = traceWindows(new Prng(105), 3, 2000, 12);
    const r = compare('trace', train, test, 0.01);
    expectSameOptimum(r);
  });
});

describe.skipIf(missing !== undefined)('on the study\'s data (window 3, level-4 filter, ordered split), the one-class SVM matches libsvm', () => {
  it('same optimum; disagreeing only on the boundary', () => {
    const { train, test } = orderedSplit(standIn(), 3, true);
    const r = compare('study-w3', train, test, 0.01);
    expectSameOptimum(r);
    // The commonest normal window here, 0,0,0 (read, read, read: 6,328
    // normal test windows), is a free support vector, so on the boundary.
    // Started as libsvm starts (the first nu·n training windows at their
    // bound) the detector puts it inside, as libsvm does; started from the
    // first distinct windows it put it just outside (decision -4e-5 vs
    // +3e-4) and flagged 7% of the normal test windows: agreement 91.5%,
    // attack F1 0.005 against libsvm's 0.025. (On other window sizes the
    // paths part later and 3-4% of test windows, all on the boundary, land
    // on different sides; the checks above hold there too.)
    expect(r.agreement).toBeGreaterThanOrEqual(0.99);
  });
});
