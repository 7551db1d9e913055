import { SyswardenError } from '../errors.js';
import { twoNumbers } from './common.js';
import type { Detector, DetectorFactory } from './detector.js';
import { factory as markov } from './markov.js';
import { factory as stide } from './stide.js';
import { factory as bosc } from './bosc.js';
import { factory as ngram } from './ngram.js';
import { factory as lookup } from './lookup.js';
import { factory as hybrid } from './hybrid.js';
import { factory as rf } from './rf.js';
import { factory as nb } from './nb.js';
import { factory as knn } from './knn.js';
import { factory as mlp } from './mlp.js';
import { factory as ada } from './ada.js';
import { factory as ocsvm } from './ocsvm.js';
import { factory as iforest } from './iforest.js';

/** The default first, then the other sequence methods, then the study's classifiers in its table order. */
const FACTORIES: readonly DetectorFactory[] = [hybrid, markov, stide, bosc, ngram, lookup, rf, nb, knn, mlp, ada, ocsvm, iforest] as DetectorFactory[];

const byName = new Map(FACTORIES.map((f) => [f.name, f]));

/** The detector train and the demo use unless told otherwise. */
export const DEFAULT_DETECTOR = 'hybrid';

/** Every registered detector name, in report order. */
export const DETECTOR_NAMES: readonly string[] = FACTORIES.map((f) => f.name);


export function detectorFactories(): readonly DetectorFactory[] {
  return FACTORIES;
}

export function getDetector(name: string): DetectorFactory {
  const f = byName.get(name);
  if (!f) {
    throw new SyswardenError('ERR_UNKNOWN_DETECTOR', `unknown detector '${name}'. Fix: use one of ${DETECTOR_NAMES.join(', ')}, or 'all'.`);
  }
  return f;
}

/**
 * Parses a detector list: comma-separated names, 'all' for every detector,
 * repeated names kept once, in report order.
 */
export function parseDetectorList(spec: string | readonly string[]): DetectorFactory[] {
  const names = (typeof spec === 'string' ? [spec] : spec)
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new SyswardenError('ERR_INVALID_INPUT', `no detector given. Fix: pass --detector with one of ${DETECTOR_NAMES.join(', ')}, or 'all'.`);
  const wanted = new Set<string>();
  for (const n of names) {
    if (n === 'all') DETECTOR_NAMES.forEach((d) => wanted.add(d));
    else wanted.add(getDetector(n).name);
  }
  return FACTORIES.filter((f) => wanted.has(f.name));
}

/** The highest score any window can reach (Infinity when the detector's bound is NaN: no bound known). */
export function highestScore(d: Detector): number {
  const max = d.maxScore();
  return Number.isNaN(max) ? Infinity : max;
}

/**
 * Refuses a model that can never alarm: its threshold is above every score
 * a window (hence a frame mean of windows) can reach; a window alarms when
 * score >= threshold. `where` names the model file being loaded. Strict:
 * the bound is exact (a test checks that no window scores above it), and a
 * threshold a hair above it can never be reached either.
 */
export function checkThresholdReachable(d: Detector, threshold: number, where: string): void {
  const max = highestScore(d);
  if (!(threshold > max)) return;
  const [t, m] = twoNumbers(threshold, max);
  throw new SyswardenError(
    'ERR_UNREACHABLE_THRESHOLD',
    `${where} holds a ${d.name} model whose threshold ${t} is above the highest score ${m} any window can reach, so it could never alarm. ` +
      `Fix: re-train it on more normal data, with a larger --false-alarms budget, or with another --detector.`,
  );
}
