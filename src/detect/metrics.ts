/** Counts of a binary decision with attack (label 1) as the positive class. */
export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface Metrics {
  /** Attack-class precision, recall and F1. */
  precision: number;
  recall: number;
  f1: number;
  /** F1 of the normal class (normal as positive): what the study reported for the one-class models. */
  normalF1: number;
  accuracy: number;
  confusion: Confusion;
}

export function confusion(scores: Float64Array, labels: Uint8Array, threshold: number): Confusion {
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < scores.length; i++) {
    const alarm = scores[i]! >= threshold;
    if (labels[i] === 1) {
      if (alarm) c.tp++;
      else c.fn++;
    } else if (alarm) c.fp++;
    else c.tn++;
  }
  return c;
}

/** Adds `c`'s counts to `into` (confusions of parts of one test set). */
export function addConfusion(into: Confusion, c: Confusion): void {
  into.tp += c.tp;
  into.fp += c.fp;
  into.tn += c.tn;
  into.fn += c.fn;
}

/** 0 where the ratio is 0/0, as scikit-learn reports with zero_division=0. */
function ratio(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

function f1Of(tp: number, fp: number, fn: number): number {
  return ratio(2 * tp, 2 * tp + fp + fn);
}

export function metricsOf(c: Confusion): Metrics {
  const total = c.tp + c.fp + c.tn + c.fn;
  return {
    precision: ratio(c.tp, c.tp + c.fp),
    recall: ratio(c.tp, c.tp + c.fn),
    f1: f1Of(c.tp, c.fp, c.fn),
    normalF1: f1Of(c.tn, c.fn, c.fp),
    accuracy: ratio(c.tp + c.tn, total),
    confusion: c,
  };
}

export function evaluateScores(scores: Float64Array, labels: Uint8Array, threshold: number): Metrics {
  return metricsOf(confusion(scores, labels, threshold));
}
