// One model as a scoring worker holds it: its detectors, its windows and its
// frame decision. A worker holds one per model of the pipeline's table
// (model-table.ts); every thread's windows live in the scorer of the model
// its target had when the thread made its calls, and in no other.
import { FrameDecision, windowTrim } from '../detect/decision.js';
import type { Detector } from '../detect/detector.js';
import { ScoreMemo } from '../detect/lib/score-memo.js';
import { modelFromBytes, type RestoredProfile } from '../detect/model-file.js';
import { makeFilter } from '../window/filter.js';
import { IncrementalWindower } from '../window/incremental.js';
import type { WorkerModel } from './protocol.js';

export class Scorer {
  readonly id: number;
  readonly name: string;
  /** The model's detector name, as alerts carry it. */
  readonly detectorName: string;
  readonly size: number;
  /** Per-executable models: profile p scores with detectors[p + 1] against thresholds[p + 1]; -1 is the model's own. */
  readonly detectors: Detector[];
  /** Each detector behind the scores of the windows it met last: what the worker scores with. */
  readonly memos: ScoreMemo[];
  readonly thresholds: number[];
  readonly threshold: number;
  readonly profiles: RestoredProfile[];
  /** Trained per executable: an exec starts a thread's windows afresh. */
  readonly perExe: boolean;
  readonly windower: IncrementalWindower;
  /** Window scores, then each thread's frame mean: the one decision eval and replay make too. */
  readonly decision: FrameDecision;
  /**
   * Calls a thread needs before it can alarm: window size + trim. The frame
   * leaves out its trim highest windows, so a thread that ends with fewer
   * could never alarm (see detect/short-threads.ts).
   */
  readonly judgeable: number;
  /** Targets of the worker's table that name this model. */
  targets = 0;
  /** No unit after the one that said so names this model: it goes once no target names it. */
  released = false;
  /** The pipeline's executable index (exec markers) -> this model's profile; absent: none of its profiles. */
  private readonly local: Map<number, number>;

  constructor(m: WorkerModel) {
    const { detector, file, profiles } = modelFromBytes(m.bytes, m.name);
    this.id = m.id;
    this.name = m.name;
    this.detectorName = detector.name;
    this.size = file.windowSize;
    this.threshold = file.threshold;
    this.profiles = profiles;
    this.detectors = [detector, ...profiles.map((p) => p.detector)];
    this.memos = this.detectors.map((d) => new ScoreMemo(d));
    this.thresholds = [file.threshold, ...profiles.map((p) => p.calibration.threshold)];
    this.perExe = file.profiles !== undefined;
    this.windower = new IncrementalWindower(this.size, { filter: makeFilter(file.filter) });
    this.decision = new FrameDecision(file.calibration.frame, file.calibration.trim);
    this.judgeable = this.size + file.calibration.trim;
    this.local = new Map(m.profiles.slice(0, profiles.length).map((u, p) => [u, p]));
  }

  /** This model's profile for the pipeline's executable index `u` (-1: the model's own). */
  profileOf(u: number): number {
    return u < 0 ? -1 : (this.local.get(u) ?? -1);
  }

  /** Forget a thread's windows and frame. Returns whether the thread had calls but too few to be judged (meaningful when its calls ended). */
  forget(tid: number): boolean {
    const short = this.forgetCalls(tid);
    this.decision.forget(tid);
    return short;
  }

  /** Forget a thread's call history only (its frame stays until its last windows are scored); returns as forget() does. */
  forgetCalls(tid: number): boolean {
    const calls = this.windower.forget(tid);
    return calls > 0 && calls < this.judgeable;
  }
}
