/**
 * Test-only loader and protocol for the reference study (Castanhel et al.,
 * SBSeg 2020) on the hids-docker traces, until the trace readers of src/trace
 * and the windows of src/window exist. Not used by src/.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { datasetPath } from '../../../src/trace/dataset.js';
import { syscallNumber } from '../../../src/trace/syscalls.js';
import type { WindowSet } from '../../../src/window/window-set.js';
import { sklearnCut } from './sklearn.js';
import type { DetectorFactory } from '../../../src/detect/detector.js';

/** Level-4 ("harmless") syscalls of the study's filter. */
export const LEVEL4 = ['stat', 'fstat', 'lstat', 'access', 'pipe', 'setitimer', 'getpid', 'uname', 'getdents', 'getcwd', 'times', 'getuid'];
const level4 = new Set(LEVEL4.map((n) => syscallNumber(n)!));

/** One strace file as syscall numbers; `--- SIGCHLD ... ---` lines become pseudo-syscalls. */
export function readStrace(path: string): number[] {
  const out: number[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.length === 0) continue;
    const name = line.startsWith('---') ? line.split(' ')[1]! : line.slice(0, line.indexOf('('));
    const nr = syscallNumber(name);
    if (nr === undefined) throw new Error(`${path}: unknown syscall '${name}'`);
    out.push(nr);
  }
  return out;
}

/** Files of a folder in numeric order of their trailing number (wordpress_normal_0, _1, ..., _24). */
export function tracesIn(dir: string): string[] {
  const num = (f: string): number => Number(/(\d+)$/.exec(f)?.[1] ?? 0);
  return readdirSync(dir).sort((a, b) => num(a) - num(b)).map((f) => join(dir, f));
}

/** Sliding windows (stride 1, never across files) of one class's traces. */
export function windowsOf(traces: number[][], size: number, filter: boolean): number[][] {
  const rows: number[][] = [];
  for (const t0 of traces) {
    const t = filter ? t0.filter((s) => !level4.has(s)) : t0;
    for (let i = 0; i + size <= t.length; i++) rows.push(t.slice(i, i + size));
  }
  return rows;
}

export function toSet(size: number, parts: Array<{ rows: number[][]; label: 0 | 1 }>): WindowSet {
  const count = parts.reduce((n, p) => n + p.rows.length, 0);
  const data = new Uint16Array(count * size);
  const labels = new Uint8Array(count);
  let i = 0;
  for (const p of parts) {
    for (const r of p.rows) {
      data.set(r, i * size);
      labels[i++] = p.label;
    }
  }
  return { size, count, data, labels };
}

export interface Corpus {
  normal: number[][];
  attack: number[][];
}

/** Stand-in for the paper's data: 25 ISCC normal traces + the SBSeg attack trace. */
export function standIn(): Corpus {
  const root = datasetPath();
  return {
    normal: tracesIn(join(root, 'wordpress/iscc/normal')).map(readStrace),
    attack: [readStrace(join(root, 'wordpress/sbseg/exec/wordpress_exec_1_teste1'))],
  };
}

/** 25 ISCC normal + 25 ISCC attack traces. */
export function iscc(): Corpus {
  const root = datasetPath();
  return {
    normal: tracesIn(join(root, 'wordpress/iscc/normal')).map(readStrace),
    attack: tracesIn(join(root, 'wordpress/iscc/exec')).map(readStrace),
  };
}

/** The ordered split: first half of each class's windows to train, the rest to test. */
export function orderedSplit(c: Corpus, size: number, filter: boolean): { train: WindowSet; test: WindowSet } {
  const n = windowsOf(c.normal, size, filter);
  const a = windowsOf(c.attack, size, filter);
  const nh = Math.floor(n.length / 2);
  const ah = Math.floor(a.length / 2);
  return {
    train: toSet(size, [{ rows: n.slice(0, nh), label: 0 }, { rows: a.slice(0, ah), label: 1 }]),
    test: toSet(size, [{ rows: n.slice(nh), label: 0 }, { rows: a.slice(ah), label: 1 }]),
  };
}

export interface Result {
  f1Attack: number;
  f1Normal: number;
  /** The attack-class F1 of a guesser that alarms on as many test windows at random: what F1 must beat to mean anything. */
  f1Chance: number;
  fitMs: number;
  scoreMs: number;
  supervised: boolean;
}

export function f1(labels: Uint8Array, scores: Float64Array, threshold: number): { f1Attack: number; f1Normal: number; f1Chance: number } {
  let tp = 0, fp = 0, fn = 0, tn = 0;
  for (let i = 0; i < labels.length; i++) {
    const alarm = scores[i]! >= threshold;
    if (labels[i] === 1) alarm ? tp++ : fn++;
    else alarm ? fp++ : tn++;
  }
  const f = (t: number, p: number, n: number): number => (t === 0 ? 0 : (2 * t) / (2 * t + p + n));
  // Alarming on a share q of windows at random: precision = attack share a, recall = q.
  const a = (tp + fn) / labels.length;
  const q = (tp + fp) / labels.length;
  return { f1Attack: f(tp, fp, fn), f1Normal: f(tn, fn, fp), f1Chance: a + q === 0 ? 0 : (2 * a * q) / (a + q) };
}

/** Fit on the training half (normal windows only for one-class models) and score the test half. */
export function evaluate(factory: DetectorFactory, train: WindowSet, test: WindowSet, options: Record<string, unknown> = {}): Result {
  const det = factory.create(options);
  const t0 = performance.now();
  det.fit(train);
  const t1 = performance.now();
  const scores = det.score(test);
  const t2 = performance.now();
  return { ...f1(test.labels!, scores, sklearnCut(det.name)), fitMs: t1 - t0, scoreMs: t2 - t1, supervised: det.supervised };
}
