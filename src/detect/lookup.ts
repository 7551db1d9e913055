import { SyswardenError } from '../errors.js';
import type { WindowSet } from '../window/window-set.js';
import { checkFitted } from './common.js';
import type { Detector, DetectorFactory } from './detector.js';
import { SequenceStore } from './window-table.js';
import { checkValues, stateObject, stateWindowSize } from './lib/state.js';

export type LookupOptions = Record<string, never>;

const VERSION = 1;

const SEEN_NORMAL = 1;
const SEEN_ATTACK = 2;

interface LookupState {
  windowSize: number;
  /** Distinct training windows, row-major. */
  rows: Uint16Array;
  /** Per row: bit 0 seen in normal training windows, bit 1 seen in attack training windows. */
  seen: Uint8Array;
}

/**
 * A supervised exact-window classifier for labelled splits: every distinct
 * training window is stored with the classes it was seen in. A window is
 * evidence of attack when it occurred in attack training windows and never
 * in normal ones; windows never seen in training, or seen in normal
 * training, are not evidence (on hids-docker many normal test windows are
 * new, so novelty alone is a poor sign). A window scores 1 when it is such
 * evidence, else 0; the decision frame turns that into the share of
 * attack-only windows among a thread's last L windows.
 */
export class Lookup implements Detector {
  readonly name = 'lookup';
  readonly version = VERSION;
  readonly supervised = true;
  windowSize = 0;
  private db = new SequenceStore(1);
  private seen = new Uint8Array(1024);

  constructor(_opts: Partial<LookupOptions> = {}) {}

  private reset(size: number): void {
    this.windowSize = size;
    this.db = new SequenceStore(size, 4096);
    this.seen = new Uint8Array(4096);
  }

  private mark(data: Uint16Array, off: number, bit: number): void {
    const id = this.db.add(data, off);
    if (id >= this.seen.length) {
      const grown = new Uint8Array(this.seen.length * 2);
      grown.set(this.seen);
      this.seen = grown;
    }
    this.seen[id]! |= bit;
  }

  private learn(set: WindowSet): void {
    const { size, data, labels } = set;
    for (let i = 0; i < set.count; i++) this.mark(data, i * size, labels![i] === 1 ? SEEN_ATTACK : SEEN_NORMAL);
  }

  /** 1 for each window seen in attack training windows and never in normal ones, else 0. */
  score(windows: WindowSet, out = new Float64Array(windows.count)): Float64Array {
    checkFitted(this.name, this.windowSize, windows);
    const { size, data } = windows;
    for (let i = 0; i < windows.count; i++) {
      const id = this.db.lookup(data, i * size);
      out[i] = id >= 0 && this.seen[id] === SEEN_ATTACK ? 1 : 0;
    }
    return out;
  }

  fit(train: WindowSet): void {
    const labels = train.labels;
    if (!labels) {
      throw new SyswardenError('ERR_INVALID_INPUT', 'lookup: training windows have no labels. Fix: train on labelled normal and attack windows (the ordered, shuffled or trace split).');
    }
    let attack = 0;
    for (let i = 0; i < train.count; i++) if (labels[i] === 1) attack++;
    if (attack === 0 || attack === train.count) {
      throw new SyswardenError('ERR_INVALID_INPUT', `lookup: needs normal and attack training windows (got ${attack === 0 ? 'no attack' : 'no normal'} windows). Fix: give both classes to fit().`);
    }
    this.reset(train.size);
    this.learn(train);
  }

  maxScore(): number {
    return 1; // an attack-only window
  }

  state(): LookupState {
    return { windowSize: this.windowSize, rows: this.db.toArray(), seen: this.seen.slice(0, this.db.size) };
  }

  static restore(state: unknown): Lookup {
    const s = stateObject('lookup', state) as Partial<Record<keyof LookupState, unknown>>;
    const size = stateWindowSize('lookup', s.windowSize);
    if (!(s.rows instanceof Uint16Array) || !(s.seen instanceof Uint8Array) || s.rows.length !== s.seen.length * size) {
      throw new SyswardenError('ERR_MODEL_STATE', 'lookup: the saved state is incomplete (needs windowSize, rows, seen, one mark per row). Fix: re-train the model.');
    }
    checkValues('lookup', s.seen, 'seen', 1, 3);
    const d = new Lookup();
    d.reset(size);
    for (let i = 0; i < s.seen.length; i++) d.mark(s.rows, i * size, s.seen[i]!);
    return d;
  }
}

export const factory: DetectorFactory<LookupOptions> = {
  name: 'lookup',
  version: VERSION,
  description: 'supervised exact-window lookup: windows seen only in attack training',
  create: (options) => new Lookup(options),
  restore: (state) => Lookup.restore(state),
};
