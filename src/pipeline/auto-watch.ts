// Auto-watch: every container on the host, from the moment its cgroup is
// made, each scored by the model of its image, or by what it is seen doing
// for a while when no model fits.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { targetContainer, type AlertRecord, type ContainerLearntRecord, type ContainerWatchedRecord } from '../alert/alert.js';
import { containerIdOfCgroupName } from '../capture/cgroup.js';
import type { Collector, TargetInfo } from '../capture/collector.js';
import type { EventBatch } from '../capture/record.js';
import { describeContainer, dockerRecord, imageIdHex, isContainerCgroupName, modelFileNames, runtimeLayout } from '../capture/runtime.js';
import type { ContainerIdentity } from '../capture/targets.js';
import { LiveLearning, type TrainOptions } from '../detect/train.js';
import { SyswardenError } from '../errors.js';
import { writeFileSafely } from '../io/safe-file.js';
import { setLongTimeout } from '../long-timer.js';
import { PipelineModel, type Pipeline } from './pipeline.js';
import { formatShortThreads } from '../detect/short-threads.js';

export interface AutoWatchOptions {
  /** Models named by image id or image name (runtime.ts modelFileNames). */
  modelsDir?: string;
  /** The model of a container none in modelsDir fits (absent: such a container learns, or is not scored). */
  fallback?: PipelineModel;
  /** Seconds of live learning for a container no model fits (0: it is not scored). */
  learnFor?: number;
  /** How live learning fits its model (detector, budget, window...). */
  train?: TrainOptions;
  /** Write each model learnt live to modelsDir as <image id>.model (never over an existing file). */
  saveLearnt?: boolean;
  /** Where each container's records go (the alert stream). */
  report: (record: AlertRecord) => void;
  /** Where problems that stop nothing go (stderr). */
  warn: (message: string) => void;
}

/** Distinct model files kept loaded at once; a busy host has few images. */
const MAX_MODELS = 64;
/** Containers learning at once: each keeps its windows in memory until its model is fitted. */
export const MAX_LEARNING = 16;
/**
 * A learning container's windows are kept until it is fitted: at this many
 * (about 24 MB of windows of 6 calls, far more than a model needs to
 * converge) learning ends early.
 */
export const MAX_LEARN_WINDOWS = 2_000_000;
/** Rounds of learning a container that showed nothing to learn gets before it is left unscored. */
const LEARN_ROUNDS = 3;

/** Check a models directory before anything is attached: it exists and can be listed. */
export function checkModelsDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new SyswardenError('ERR_USAGE', `--models ${dir}: no such directory. Fix: make it and put models named <image id>.model or <image name>.model in it (see 'syswarden train').`);
  }
  if (!st.isDirectory()) throw new SyswardenError('ERR_USAGE', `--models ${dir} is not a directory. Fix: give the directory that holds the models.`);
  try {
    readdirSync(dir);
  } catch (err) {
    throw new SyswardenError('ERR_USAGE', `--models ${dir} cannot be read (${(err as NodeJS.ErrnoException).code}). Fix: run as root or fix its permissions.`);
  }
}

interface Learning {
  target: TargetInfo;
  live: LiveLearning;
  round: number;
  timer: { clear(): void };
}

/**
 * Follows the host's containers for a pipeline attached to `collector`: the
 * kernel adopts each new child cgroup of the runtimes' parents (so nothing
 * a container does from its first exec is missed); containers already
 * running are added at start. Each is described (name, image, Kubernetes
 * labels) and given the model of its image, and a 'container-watched'
 * record says how. Containers that leave are removed by the collector
 * ('target-gone'), their model assignment and learning with them.
 */
export class AutoWatch {
  private readonly models = new Map<string, PipelineModel | Error>();
  /** Models learnt live in this run, by image id: the next container of that image starts scored. */
  private readonly learnt = new Map<string, PipelineModel>();
  private readonly learning = new Map<number, Learning>();
  private readonly onAdopted = (t: TargetInfo, how: { late: boolean }) => this.safely(() => this.place(t, how.late ? 'late' : 'creation'));
  private readonly onAdoptError = (err: Error, path: string) => this.options.warn(`cannot watch new container cgroup ${path}: ${err.message}`);
  // The pipeline drops a removed target's model assignment itself.
  private readonly onGone = (t: TargetInfo) => void this.stopLearning(t.id);
  private readonly onBatch = (b: EventBatch) => {
    for (const l of this.learning.values()) {
      l.live.add(b);
      if (l.live.learner.windows >= MAX_LEARN_WINDOWS) this.safely(() => this.finishLearning(l.target.id));
    }
  };
  private started = false;
  private stopped = false;
  readonly parents: string[] = [];

  constructor(
    private readonly collector: Collector,
    private readonly pipeline: Pipeline,
    private readonly options: AutoWatchOptions,
  ) {}

  /** Adopt from every runtime parent found, then add the containers running now. Returns how many were added. */
  async start(): Promise<number> {
    if (this.started) throw new Error('AutoWatch.start() runs once');
    this.started = true;
    this.collector.on('target-adopted', this.onAdopted);
    this.collector.on('adopt-error', this.onAdoptError);
    this.collector.on('target-gone', this.onGone);
    const layout = runtimeLayout();
    // Adoption first: a container made while the running ones are added is adopted, not missed.
    for (const parent of layout.parents) {
      try {
        this.collector.adoptChildren(parent, isContainerCgroupName);
        this.parents.push(parent);
      } catch (err) {
        this.options.warn(`cannot adopt the containers made under ${parent}: ${(err as Error).message}`);
      }
    }
    if (this.parents.length === 0) {
      throw new SyswardenError(
        'ERR_NO_RUNTIME',
        'found no container runtime cgroups to follow (looked for /docker, system.slice, machine.slice, libpod_parent, kubepods and running containers in the cgroup v2 tree). ' +
          'Fix: start the runtime (dockerd, containerd, CRI-O, Podman) first, or name targets with --target.',
      );
    }
    let added = 0;
    for (const path of layout.containers) {
      if (this.stopped) break;
      let t: TargetInfo;
      try {
        t = await this.collector.addTarget(`cgroup:${path}`);
      } catch {
        continue; // adopted meanwhile, or gone: either way not ours to add
      }
      added++;
      await this.place(t, 'start');
    }
    return added;
  }

  /** Stop following: no more adoption handling, learning ends unfitted. */
  stop(): void {
    this.stopped = true;
    this.collector.off('target-adopted', this.onAdopted);
    this.collector.off('adopt-error', this.onAdoptError);
    this.collector.off('target-gone', this.onGone);
    for (const id of [...this.learning.keys()]) this.stopLearning(id);
  }

  /** Containers learning now. */
  get learningNow(): number {
    return this.learning.size;
  }

  private safely(f: () => unknown): void {
    try {
      const r = f();
      if (r instanceof Promise) r.catch((err: unknown) => this.options.warn(`auto-watch: ${(err as Error).message}`));
    } catch (err) {
      this.options.warn(`auto-watch: ${(err as Error).message}`);
    }
  }

  /**
   * Describe a container target, give it its model, and say so. Docker's
   * record of the container is read from disk, synchronously, so that an
   * adopted container has its model before this thread does anything else.
   */
  private place(t: TargetInfo, since: ContainerWatchedRecord['since']): void | Promise<void> {
    // A running container added by its cgroup path is known by the id its cgroup's name carries.
    const id = t.container?.id ?? containerIdOfCgroupName(basename(t.cgroup.path));
    if (!id) return this.placeDescribed(t, since, undefined);
    const fromDisk = dockerRecord(id);
    if (fromDisk) return this.placeDescribed(t, since, fromDisk);
    return describeContainer(id).then((c) => this.placeDescribed(t, since, c));
  }

  private placeDescribed(t: TargetInfo, since: ContainerWatchedRecord['since'], described: ContainerIdentity | undefined): void {
    if (this.stopped || !this.collector.target(t.id)) return;
    const info = described ? (this.collector.describeTarget(t.id, described) ?? t) : t;
    const identity: ContainerIdentity = info.container ?? { id: '' };
    const chosen = this.modelFor(identity);
    const record: ContainerWatchedRecord = { type: 'container-watched', time: new Date().toISOString(), container: targetContainer(info), since, modelFrom: chosen.from };
    const assigned = chosen.model ? this.assign(info.id, chosen.model) : undefined;
    if (assigned instanceof Error) {
      record.modelFrom = 'none';
      chosen.problem = `${chosen.model!.name} could not be loaded: ${assigned.message}`;
    } else if (chosen.model) {
      record.model = chosen.model.name;
      record.detector = chosen.model.detector;
    } else if ((this.options.learnFor ?? 0) > 0 && this.learning.size < MAX_LEARNING) {
      this.startLearning(info, 1);
      record.modelFrom = 'learning';
      record.learnFor = this.options.learnFor!;
    } else if ((this.options.learnFor ?? 0) > 0) {
      chosen.problem = `${chosen.problem ?? 'no model fits'}; not learnt either: ${MAX_LEARNING} containers are learning already`;
    }
    if (chosen.problem) record.problem = chosen.problem;
    this.options.report(record);
  }

  /** Give a target its model; an error (too many distinct models loaded) is returned, to be said in the target's record. */
  private assign(id: number, model: PipelineModel): Error | undefined {
    try {
      this.pipeline.assignModel(id, model);
      return undefined;
    } catch (err) {
      if (err instanceof SyswardenError) return err;
      throw err;
    }
  }

  /** The model for a container: by image id, then image name, then learnt in this run, then the fallback; why not, when none. */
  private modelFor(c: ContainerIdentity): { model?: PipelineModel; from: ContainerWatchedRecord['modelFrom']; problem?: string } {
    const dir = this.options.modelsDir;
    let problem: string | undefined;
    if (dir) {
      const hasId = imageIdHex(c.imageId) !== undefined;
      for (const [i, name] of modelFileNames(c).entries()) {
        const path = join(dir, name);
        if (!existsSync(path)) continue;
        const m = this.load(path);
        if (m instanceof Error) {
          problem = `${path}: ${m.message}`;
          continue;
        }
        return { model: m, from: i === 0 && hasId ? 'image-id' : 'image-name', ...(problem ? { problem } : {}) };
      }
    }
    const hex = imageIdHex(c.imageId);
    const learnt = hex ? this.learnt.get(hex) : undefined;
    if (learnt) return { model: learnt, from: 'learnt', ...(problem ? { problem } : {}) };
    if (this.options.fallback) return { model: this.options.fallback, from: 'default', ...(problem ? { problem } : {}) };
    const looked = modelFileNames(c);
    return {
      from: 'none',
      problem: problem ?? `no model in ${dir ?? '(no --models)'} fits image ${c.image ?? c.imageId ?? 'unknown'} (looked for ${looked.length > 0 ? looked.join(', ') : 'nothing: the image is unknown'})`,
    };
  }

  private load(path: string): PipelineModel | Error {
    const cached = this.models.get(path);
    if (cached) return cached;
    let m: PipelineModel | Error;
    try {
      m = PipelineModel.readSync(path);
    } catch (err) {
      m = err instanceof Error ? err : new Error(String(err));
    }
    if (this.models.size >= MAX_MODELS) this.models.delete(this.models.keys().next().value!);
    this.models.set(path, m);
    return m;
  }

  private startLearning(target: TargetInfo, round: number): void {
    const durationMs = this.options.learnFor! * 1000;
    const live = new LiveLearning({ ...(this.options.train ?? {}), durationMs, processEvents: this.collector.attachMode === 'tp_btf', onlyTarget: target.id });
    const timer = setLongTimeout(() => this.safely(() => this.finishLearning(target.id)), durationMs);
    const tick = setInterval(() => live.mark(), Math.min(1000, durationMs));
    tick.unref();
    if (this.learning.size === 0) this.collector.on('batch', this.onBatch);
    this.learning.set(target.id, {
      target,
      live,
      round,
      timer: {
        clear: () => {
          timer.clear();
          clearInterval(tick);
        },
      },
    });
  }

  private stopLearning(id: number): Learning | undefined {
    const l = this.learning.get(id);
    if (!l) return undefined;
    l.timer.clear();
    this.learning.delete(id);
    if (this.learning.size === 0) this.collector.off('batch', this.onBatch);
    return l;
  }

  /** Fit what a container showed while learning, and score it with that from now on. */
  private async finishLearning(id: number): Promise<void> {
    const l = this.stopLearning(id);
    if (!l || this.stopped) return;
    const target = this.collector.target(id) ?? l.target;
    const record: ContainerLearntRecord = { type: 'container-learnt', time: '', container: targetContainer(target), seconds: l.live.seconds, windows: l.live.learner.windows };
    let fitted: ReturnType<LiveLearning['fitModel']> | undefined;
    try {
      fitted = l.live.fitModel({
        targets: [target.spec],
        ...(target.container?.image ? { image: target.container.image } : {}),
        // What `model merge` names a merged model by (see modelFileNames).
        ...(target.container?.imageId ? { imageId: target.container.imageId } : {}),
      });
    } catch (err) {
      if (!(err instanceof SyswardenError)) throw err;
      record.problem = err.message;
    }
    if (!fitted) {
      const again = l.round < LEARN_ROUNDS && this.collector.target(id) !== undefined;
      if (again) this.startLearning(target, l.round + 1);
      record.next = again ? 'learning' : 'unscored';
      this.options.report({ ...record, time: new Date().toISOString() });
      return;
    }
    const name = `learnt:${target.container?.name ?? target.container?.id?.slice(0, 12) ?? target.spec}`;
    const model = new PipelineModel(fitted.bytes, name);
    const hex = imageIdHex(target.container?.imageId);
    if (hex) this.learnt.set(hex, model);
    const failed = this.collector.target(id) ? this.assign(id, model) : undefined;
    if (failed) Object.assign(record, { problem: `the learnt model could not be loaded: ${failed.message}`, next: 'unscored' });
    else Object.assign(record, { model: name, detector: model.detector, threshold: fitted.result.calibration.threshold, next: 'scored' });
    const short = fitted.result.shortThreads;
    if (short) this.options.warn(`${name}: ${formatShortThreads(short, fitted.result.calibration.frame)}`);
    if (this.options.saveLearnt && this.options.modelsDir && hex) {
      const path = join(this.options.modelsDir, `${hex}.model`);
      try {
        await writeFileSafely(path, fitted.bytes, { what: 'learnt model', force: false });
        record.saved = path;
      } catch (err) {
        this.options.warn(`the model learnt for ${name} was not saved: ${(err as Error).message}`);
      }
    }
    this.options.report({ ...record, time: new Date().toISOString() });
  }
}
