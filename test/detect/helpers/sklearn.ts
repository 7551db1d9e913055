/**
 * The cut scikit-learn's predict() applies to the scores these detectors
 * give (attack-class probability or vote share: 0.5; nb's and mlp's -log P(normal): log 2; Isolation Forest's
 * anomaly score: 0.5; one-class SVM's negated decision function: 0). Tests
 * that replicate the reference study's window-level figures, or check that
 * a classifier learnt a toy problem the way scikit-learn's would, decide
 * with it. syswarden itself never does: its thresholds are calibrated on
 * held-out normal data (src/detect/calibration.ts).
 */
const CUT: Readonly<Record<string, number>> = { rf: 0.5, nb: Math.LN2, knn: 0.5, mlp: Math.LN2, ada: 0.5, iforest: 0.5, ocsvm: 0 };

export function sklearnCut(detector: string): number {
  const cut = CUT[detector];
  if (cut === undefined) throw new Error(`no scikit-learn decision rule for '${detector}'`);
  return cut;
}
