import type { WindowSet } from '../window/window-set.js';

/**
 * The contract every detector keeps, sequence methods and classifiers alike.
 *
 * Scores are anomaly scores of one window each: higher means less like the
 * normal data (classifiers score the probability or vote share of the attack
 * class). A detector does not decide what alarms: a model is a detector and
 * its calibration (calibration.ts), whose threshold applies to the frame
 * mean of window scores (decision.ts) and is set to meet a false-alarm
 * budget on held-out normal data, the same way for every detector.
 */
export interface Detector {
  /** Registry key, e.g. 'stide', 'rf'. Saved in the model file and checked on load. */
  readonly name: string;
  /** Format version of this detector's saved state; bumped when the state changes shape. */
  readonly version: number;
  /** Window size the detector was fitted on (0 before fit). */
  readonly windowSize: number;
  /**
   * The highest score any window can reach with the fitted state: a bound no
   * window scores above (1 for rates, normalised distances and
   * probabilities; computed from the fitted state otherwise). A threshold
   * above it is a model that can never alarm, which training refuses to save
   * and loading rejects (see checkThresholdReachable() in the registry; NaN
   * counts as no known bound).
   */
  maxScore(): number;
  /** Whether fit() needs attack windows (labels) or learns from normal windows only. */
  readonly supervised: boolean;
  /**
   * Learn from windows. Supervised detectors need `train.labels`; one-class and
   * sequence detectors use only the windows labelled normal (or all, if unlabelled).
   * `parts`: the held-out part (a trace, a stretch of time) of every window,
   * when the caller calibrates on them (calibration.ts); a detector that
   * measures a scale of its own on held-out data (hybrid's units) holds out
   * the same parts, so the scale is measured at the level the threshold is.
   */
  fit(train: WindowSet, parts?: Int32Array): void;
  /**
   * Anomaly score of every window; writes into `out` when given. A window's
   * score depends on that window alone, never on the others in the set: the
   * pipeline remembers the scores of windows it met (lib/score-memo.ts).
   */
  score(windows: WindowSet, out?: Float64Array): Float64Array;
  /** Plain msgpack-able state (typed arrays allowed), without name/version: the model file adds those. */
  state(): unknown;
  /**
   * Options for the held-out models of calibration, when fit() derives a
   * scale from its data (hybrid: each part's unit). Calibration builds its
   * fold models with them, so the held-out peaks it sets the threshold from
   * are on this model's scale, not on each fold model's own.
   */
  calibrationOptions?(): Record<string, unknown>;
  /**
   * Search work per window beyond a table lookup, averaged over the windows
   * scored so far (bosc: normal bags compared in nearest-bag searches), for
   * detectors whose cost depends on how novel the data is. A combination
   * reads it on held-out normal data to leave out a part the data makes too
   * costly (see hybrid.ts).
   */
  workPerWindow?(): number;
  /** What the fitted model has learnt, for `model diff` (one-class sequence detectors). */
  learnt?(): LearntTable[];
  /** One or more lines on what the fitted model is made of, for train and watch to print (hybrid: its parts and their units). */
  summary?(): string;
}

/** How a detector class is registered: build fresh with options, or restore from saved state. */
export interface DetectorFactory<O = Record<string, unknown>> {
  readonly name: string;
  readonly version: number;
  /** One line for --help and docs. */
  readonly description: string;
  create(options?: Partial<O> & { seed?: number }): Detector;
  restore(state: unknown): Detector;
  /**
   * One-class detectors whose normal profile is a union or a sum (of
   * windows, bags, transition counts): a detector that has learnt what all
   * of `detectors` learnt, as if fitted on all their training data
   * (`syswarden model merge`). They must be of this kind, window size and
   * options; a mismatch throws ERR_MODEL_MISMATCH naming it. `options`: what
   * the merged detector cannot take from its inputs (a hybrid's units, which
   * merge measures again). Absent: the detector cannot be merged.
   */
  merge?(detectors: readonly Detector[], options?: Record<string, unknown>): Detector;
}

/**
 * What a fitted detector has learnt, as tables of call sequences (and how
 * often each was seen, where it counts): what `syswarden model diff` compares.
 */
export interface LearntTable {
  /** What a row is, e.g. 'window', 'bag', 'ngram:transition'. */
  what: string;
  /** Calls per row. */
  width: number;
  rows: Uint16Array;
  counts?: Int32Array;
}
