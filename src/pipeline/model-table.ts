// The pipeline's models: the default one (if any) and those assigned to
// targets, each loaded once however many targets share it (identical bytes
// are one model), under an id never reused. The workers hold the same
// table (protocol.ts WorkerModel); this one decides what goes in it.
import { SyswardenError } from '../errors.js';
import type { PipelineModel } from './pipeline.js';
import type { WorkerModel } from './protocol.js';

/** Distinct models a pipeline holds at once, the default one included: each costs every worker a restored detector. */
export const MAX_MODELS = 32;

/** Executables the table gives an index (exec markers carry it in a u16, under the marker tags). */
export const MAX_PROFILED_EXES = 1 << 15;

export interface ModelEntry {
  readonly id: number;
  readonly model: PipelineModel;
  /** Targets assigned this model. */
  targets: number;
  /** For each of the model's profiles, in its order, its executable's index in the table's list (-1: none, past MAX_PROFILED_EXES). */
  readonly profiles: number[];
}

/** What an assignment changed: the entry added to the table (the workers must load it), the one that left it (they may forget it). */
export interface AssignChange {
  changed: boolean;
  entry: ModelEntry | undefined;
  added: ModelEntry | undefined;
  released: ModelEntry | undefined;
}

export class ModelTable {
  private nextId = 1;
  private readonly byId = new Map<number, ModelEntry>();
  private readonly byHash = new Map<string, ModelEntry>();
  /** Target id -> its own model. */
  private readonly assigned = new Map<number, ModelEntry>();
  readonly default: ModelEntry | undefined;
  /**
   * Every executable some model of the table (or one that was in it) has a
   * profile for, in the order they came: exec markers name an executable by
   * its index here, and each model maps that to its own profile. It only
   * grows, so an index in flight never changes meaning.
   */
  readonly profileExes: string[] = [];
  private readonly profileIndex = new Map<string, number>();

  constructor(defaultModel: PipelineModel | undefined) {
    if (defaultModel) this.default = this.intern(defaultModel).entry;
  }

  /** The models loaded now (the default one included). */
  get size(): number {
    return this.byId.size;
  }

  get assignedCount(): number {
    return this.assigned.size;
  }

  /** Whether some model of the table was trained per executable (exec and fork markers matter). */
  get perExe(): boolean {
    return this.perExeModels > 0;
  }
  private perExeModels = 0;

  /** The executable index of each profiled executable (for the markers of pushed batches). */
  get profileMap(): ReadonlyMap<string, number> {
    return this.profileIndex;
  }

  entries(): IterableIterator<ModelEntry> {
    return this.byId.values();
  }

  /** The target's own model, if it has one. */
  ownOf(target: number): ModelEntry | undefined {
    return this.assigned.get(target);
  }

  /** The model that scores the target: its own, else the default (undefined: none, its events are unscored). */
  modelFor(target: number): ModelEntry | undefined {
    return this.assigned.get(target) ?? this.default;
  }

  /** [target id, model id] pairs, for a worker that starts now. */
  assignedPairs(): number[] {
    const out: number[] = [];
    for (const [t, e] of this.assigned) out.push(t, e.id);
    return out;
  }

  /** Give the target its own model (null: none, it goes back to the default). Throws before changing anything when the table is full. */
  assign(target: number, model: PipelineModel | null): AssignChange {
    const was = this.assigned.get(target);
    let entry: ModelEntry | undefined;
    let added: ModelEntry | undefined;
    if (model !== null) {
      ({ entry, added } = this.intern(model));
      if (entry === was) return { changed: false, entry, added: undefined, released: undefined };
      entry.targets++;
      this.assigned.set(target, entry);
    } else {
      if (!was) return { changed: false, entry: undefined, added: undefined, released: undefined };
      this.assigned.delete(target);
    }
    let released: ModelEntry | undefined;
    if (was && --was.targets === 0 && was !== this.default) {
      this.byId.delete(was.id);
      this.byHash.delete(was.model.contentHash);
      if (was.model.perExe) this.perExeModels--;
      released = was;
    }
    return { changed: true, entry, added, released };
  }

  /** How workers load an entry. */
  workerModel(e: ModelEntry): WorkerModel {
    return { id: e.id, bytes: e.model.bytes, name: e.model.name, profiles: e.profiles };
  }

  private intern(model: PipelineModel): { entry: ModelEntry; added: ModelEntry | undefined } {
    const known = this.byHash.get(model.contentHash);
    if (known) return { entry: known, added: undefined };
    if (this.byId.size >= MAX_MODELS) {
      throw new SyswardenError(
        'ERR_TOO_MANY_MODELS',
        `cannot load model ${model.name}: the pipeline already holds ${MAX_MODELS} distinct models (${[...this.byId.values()]
          .slice(0, 4)
          .map((e) => e.model.name)
          .join(', ')}, ...). Fix: let targets share models (identical model files are loaded once), or unassign the targets whose models are no longer needed.`,
      );
    }
    const profiles = [...model.profileOf.keys()].map((exe) => {
      let u = this.profileIndex.get(exe);
      // Past the bound an executable has no index: its threads are scored by the model's own detector.
      if (u === undefined && this.profileExes.length >= MAX_PROFILED_EXES) return -1;
      if (u === undefined) {
        u = this.profileExes.length;
        this.profileExes.push(exe);
        this.profileIndex.set(exe, u);
      }
      return u;
    });
    const entry: ModelEntry = { id: this.nextId++, model, targets: 0, profiles };
    this.byId.set(entry.id, entry);
    this.byHash.set(model.contentHash, entry);
    if (model.perExe) this.perExeModels++;
    return { entry, added: entry };
  }
}
