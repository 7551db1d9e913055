import { SyswardenError } from '../errors.js';
import type { WindowSet } from '../window/window-set.js';
import { checkFitted, normalWindows, requireWindows } from './common.js';
import type { Detector, DetectorFactory, LearntTable } from './detector.js';
import { mergeInputs } from './lib/mergeable.js';
import { SequenceStore } from './window-table.js';
import { badState, stateObject, stateWindowSize } from './lib/state.js';

export type StideOptions = Record<string, never>;

const VERSION = 1;

interface StideState {
  windowSize: number;
  /** Distinct normal windows, row-major. */
  normal: Uint16Array;
}

/**
 * STIDE (Forrest et al. 1996): a window scores 1 when it is not in the
 * database of normal windows, else 0. The decision frame (decision.ts) then
 * turns these into Forrest's locality-frame rate: the share of mismatches
 * among a thread's last L windows.
 */
export class Stide implements Detector {
  readonly name = 'stide';
  readonly version = VERSION;
  readonly supervised = false;
  windowSize = 0;
  private db = new SequenceStore(1);

  constructor(_opts: Partial<StideOptions> = {}) {}

  private learn(set: WindowSet): void {
    const { size, data } = set;
    for (let i = 0; i < set.count; i++) this.db.add(data, i * size);
  }

  fit(train: WindowSet): void {
    const normal = normalWindows(train);
    requireWindows(this.name, normal);
    this.windowSize = normal.size;
    this.resetDatabase(normal.size);
    this.learn(normal);
  }

  private resetDatabase(size: number): void {
    this.db = new SequenceStore(size, 4096);
  }

  /** 1 for each window absent from the normal database, else 0. */
  score(windows: WindowSet, out = new Float64Array(windows.count)): Float64Array {
    checkFitted(this.name, this.windowSize, windows);
    const { size, data } = windows;
    const db = this.db;
    for (let i = 0; i < windows.count; i++) out[i] = db.lookup(data, i * size) < 0 ? 1 : 0;
    return out;
  }

  /** Distinct normal windows in the database. */
  get databaseSize(): number {
    return this.db.size;
  }

  maxScore(): number {
    return 1; // a mismatch
  }

  state(): StideState {
    return { windowSize: this.windowSize, normal: this.db.toArray() };
  }

  learnt(): LearntTable[] {
    return [{ what: 'window', width: this.windowSize, rows: this.db.view() }];
  }

  /** The union of the normal databases. */
  static merge(detectors: readonly Detector[]): Stide {
    const list = mergeInputs('stide', detectors, Stide);
    const d = new Stide();
    d.windowSize = list[0]!.windowSize;
    d.resetDatabase(d.windowSize);
    for (const x of list) d.learn({ size: d.windowSize, count: x.db.size, data: x.db.view() });
    return d;
  }

  static restore(state: unknown): Stide {
    const s = stateObject('stide', state);
    if (!(s.normal instanceof Uint16Array)) {
      throw new SyswardenError('ERR_MODEL_STATE', 'stide: the saved state is incomplete (needs windowSize, normal). Fix: re-train the model.');
    }
    const size = stateWindowSize('stide', s.windowSize);
    const d = new Stide();
    // A length that is not whole windows used to give a fractional count, read past the rows and learn garbage windows.
    if (s.normal.length === 0 || s.normal.length % size !== 0) throw badState('stide', `normal holds ${s.normal.length} calls, not a whole number of ${size}-call windows`);
    d.windowSize = size;
    d.db = new SequenceStore(size, s.normal.length / size);
    d.learn({ size, count: s.normal.length / size, data: s.normal });
    return d;
  }
}

export const factory: DetectorFactory<StideOptions> = {
  name: 'stide',
  version: VERSION,
  description: 'STIDE: windows never seen in normal training (Forrest et al. 1996)',
  create: (options) => new Stide(options),
  restore: (state) => Stide.restore(state),
  merge: (detectors) => Stide.merge(detectors),
};
