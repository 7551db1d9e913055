import type { WindowSet } from '../window/window-set.js';

/**
 * The contract every detector keeps, sequence methods and classifiers alike.
 *
 * Scores are anomaly scores: higher means less like the normal data, and a
 * window is an alarm when `score >= threshold`. Classifiers score the
 * probability (or vote share) of the attack class with threshold 0.5;
 * one-class models and sequence methods score a distance or mismatch and set
 * their threshold from training data only (never from test data).
 */
export interface Detector {
  /** Registry key, e.g. 'stide', 'rf'. Saved in the model file and checked on load. */
  readonly name: string;
  /** Format version of this detector's saved state; bumped when the state changes shape. */
  readonly version: number;
  /** Window size the detector was fitted on (0 before fit). */
  readonly windowSize: number;
  /** Alarm threshold on the score. */
  threshold: number;
  /**
   * How `threshold` was set, in one sentence for reports (e.g. "above the
   * highest score of held-back normal windows"). Optional: when absent, the
   * eval reports the threshold value alone.
   */
  readonly thresholdRule?: string;
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
   */
  fit(train: WindowSet): void;
  /** Anomaly score of every window; writes into `out` when given. */
  score(windows: WindowSet, out?: Float64Array): Float64Array;
  /**
   * For detectors whose score of a window depends on the windows before it in
   * the same stream (STIDE's locality frame): a scorer that keeps that state
   * per source across calls, for live scoring batch after batch. Detectors
   * that score each window on its own leave this out.
   */
  streamScorer?(): StreamScorer;
  /** Plain msgpack-able state (typed arrays allowed), without name/version: the model file adds those. */
  state(): unknown;
}

/** How a detector class is registered: build fresh with options, or restore from saved state. */
export interface DetectorFactory<O = Record<string, unknown>> {
  readonly name: string;
  readonly version: number;
  /** One line for --help and docs. */
  readonly description: string;
  create(options?: Partial<O> & { seed?: number }): Detector;
  restore(state: unknown): Detector;
}

/** Scores windows arriving in batches, keeping per-stream state between batches. */
export interface StreamScorer {
  /** Scores in window order; windows of one source must arrive in stream order. */
  score(windows: WindowSet, out?: Float64Array): Float64Array;
  /** Drop the state of a source (an exited thread). */
  forget(source: number): void;
}

/** A detector's stream scorer, or a stateless one around score() when it needs none. */
export function streamScorerOf(detector: Detector): StreamScorer {
  if (typeof detector.streamScorer === 'function') return detector.streamScorer();
  return { score: (w, out) => detector.score(w, out), forget: () => {} };
}
