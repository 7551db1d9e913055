import { createHash } from 'node:crypto';
import { Packr } from '../msgpack.js';
import { SyswardenError } from '../errors.js';
import { readInputFile, readInputFileSync, writeFileSafely } from '../io/safe-file.js';
import { field, unpackPlain } from '../safe-msgpack.js';
import { FILTER_NAMES, type FilterName } from '../window/filter.js';
import { MAX_WINDOW, MIN_WINDOW } from '../window/windows.js';
import type { Detector } from './detector.js';
import { DETECTOR_NAMES, checkThresholdReachable, detectorFactories } from './registry.js';
import type { BudgetUnit, Calibration } from './calibration.js';
import { MAX_FRAME } from './decision.js';
import { checkHeldOut, type HeldOut } from './held-out.js';
import { buildIdentity, type BuildIdentity } from '../version.js';

export const MODEL_MAGIC = 'syswarden-model';
/**
 * 2: the msgpack body is followed by a seal (MODEL_SEAL_MAGIC, then the
 * SHA-256 of the body), so a flipped bit or an edited copy is refused
 * instead of loading as a different model (a threshold of 0 alarms on
 * everything; a changed normal database hides an attack).
 * 3: the threshold applies to the frame mean of window scores and comes with
 * its calibration (budget, held-out peaks, expected rate); detectors no
 * longer carry a threshold or a frame of their own.
 */
export const MODEL_FORMAT = 3;
const MODEL_SEAL_MAGIC = Buffer.from('SWMD');
const MODEL_SEAL_BYTES = MODEL_SEAL_MAGIC.length + 32;

export interface ModelFile {
  magic: typeof MODEL_MAGIC;
  format: number;
  detector: string;
  detectorVersion: number;
  windowSize: number;
  /** The alarm threshold on a thread's frame mean (the same as calibration.threshold). */
  threshold: number;
  calibration: Calibration;
  filter: FilterName;
  /** ISO 8601. */
  createdAt: string;
  /** Free-form provenance (training files, options). */
  meta: Record<string, unknown>;
  state: unknown;
  /**
   * The executables exec'd in the training data (from the kernel's process
   * events): one not among them exec'd later is a 'new-executable' record.
   * Absent when the training data had no process events (trace files, the
   * tracepoint fallback): no such records then.
   */
  executables?: string[];
  /**
   * `train --per-exe`: a normal profile per executable, the same detector
   * fitted on that executable's windows alone and calibrated on them.
   * Windows of a thread running one of these executables are scored by its
   * profile; the others by the model itself (the container-wide profile).
   */
  profiles?: ModelProfile[];
  /**
   * Normal windows of the calibration parts (a bounded sample, see
   * held-out.ts), from which `model merge` sets a merged model's threshold.
   * Absent in models written before it was kept, and in hand-made ones:
   * they load and watch as ever, but cannot be merged.
   */
  heldOut?: HeldOut;
  /** The build that wrote the model (absent in models written before it was recorded). */
  build?: BuildIdentity;
}

export interface ModelProfile {
  exe: string;
  detectorVersion: number;
  state: unknown;
  calibration: Calibration;
  /** Training windows the profile was fitted on. */
  windows: number;
}

/** A fitted profile, as training hands it to encodeModel. */
export interface FittedProfile {
  exe: string;
  detector: Detector;
  calibration: Calibration;
  windows: number;
}

/** Profiles a model keeps at most. */
export const MAX_MODEL_PROFILES = 256;

/** Executables a model keeps at most, and the longest path (the kernel's events carry 255 bytes). */
export const MAX_MODEL_EXECUTABLES = 1 << 16;
const MAX_EXECUTABLE_CHARS = 4096;

// moreTypes: without it msgpackr 2.x writes a Uint16Array as a byte string of
// the wrong length; with it every typed array round-trips as its own type.
const packr = new Packr({ moreTypes: true, useRecords: false });

export interface ModelExtras {
  filter: FilterName;
  meta?: Record<string, unknown>;
  createdAt?: Date;
  /** See ModelFile.executables. */
  executables?: Iterable<string>;
  /** See ModelFile.profiles. */
  profiles?: readonly FittedProfile[];
  /** See ModelFile.heldOut. */
  heldOut?: HeldOut;
}

export function encodeModel(detector: Detector, calibration: Calibration, opts: ModelExtras): Buffer {
  const file: ModelFile = {
    magic: MODEL_MAGIC,
    format: MODEL_FORMAT,
    detector: detector.name,
    detectorVersion: detector.version,
    windowSize: detector.windowSize,
    threshold: calibration.threshold,
    calibration,
    filter: opts.filter,
    createdAt: (opts.createdAt ?? new Date()).toISOString(),
    meta: opts.meta ?? {},
    state: detector.state(),
    build: buildIdentity(MODEL_FORMAT),
  };
  if (opts.heldOut !== undefined) {
    if (opts.heldOut.windows.length !== opts.heldOut.source.length * detector.windowSize) throw new RangeError(`the held-out windows are not windows of ${detector.windowSize}`);
    file.heldOut = opts.heldOut;
  }
  if (opts.executables !== undefined) {
    const list = [...new Set(opts.executables)].sort();
    if (list.length > MAX_MODEL_EXECUTABLES) throw new RangeError(`a model keeps at most ${MAX_MODEL_EXECUTABLES} executables, got ${list.length}`);
    file.executables = list;
  }
  if (opts.profiles !== undefined) {
    if (opts.profiles.length > MAX_MODEL_PROFILES) throw new RangeError(`a model keeps at most ${MAX_MODEL_PROFILES} profiles, got ${opts.profiles.length}`);
    file.profiles = opts.profiles.map((p) => {
      if (p.detector.name !== detector.name || p.detector.windowSize !== detector.windowSize) throw new RangeError(`the profile of ${p.exe} is not a ${detector.name} of window ${detector.windowSize}`);
      return { exe: p.exe, detectorVersion: p.detector.version, state: p.detector.state(), calibration: p.calibration, windows: p.windows };
    });
  }
  return sealModel(packr.pack(file));
}

/** A model body (a packed ModelFile) followed by its seal: what a model file holds. */
export function sealModel(body: Uint8Array): Buffer {
  return Buffer.concat([body, MODEL_SEAL_MAGIC, createHash('sha256').update(body).digest()]);
}

/** The packed ModelFile inside a sealed model file (for tools and tests that take one apart). */
export function modelBody(bytes: Uint8Array): Uint8Array {
  const sealed = unseal(bytes);
  if ('problem' in sealed) throw new SyswardenError('ERR_NOT_A_MODEL', `not a sealed syswarden model (its seal is ${sealed.problem === 'absent' ? 'missing' : 'wrong'}).`);
  return sealed.body;
}

/**
 * The body of a sealed model, or why there is none: 'absent' (no seal: an
 * older format, or not a model) or 'mismatch' (the body is not what was sealed).
 */
function unseal(bytes: Uint8Array): { body: Uint8Array } | { problem: 'absent' | 'mismatch' } {
  const n = bytes.length - MODEL_SEAL_BYTES;
  if (n <= 0 || !Buffer.from(bytes.buffer, bytes.byteOffset + n, MODEL_SEAL_MAGIC.length).equals(MODEL_SEAL_MAGIC)) return { problem: 'absent' };
  const body = bytes.subarray(0, n);
  const digest = createHash('sha256').update(body).digest();
  return digest.equals(Buffer.from(bytes.buffer, bytes.byteOffset + n + MODEL_SEAL_MAGIC.length, 32)) ? { body } : { problem: 'mismatch' };
}

/**
 * Writes the model beside its final path and renames it into place (see
 * writeFileSafely): a crash or a full disk leaves either the old model or the
 * new one, never half of one. An existing model is replaced only with `force`.
 */
export async function saveModel(path: string, detector: Detector, calibration: Calibration, opts: ModelExtras & { force?: boolean }): Promise<void> {
  const bytes = encodeModel(detector, calibration, opts);
  await writeFileSafely(path, bytes, { what: 'model', force: opts.force === true });
}

/**
 * The first bytes every model starts with: a map whose first entry is the
 * magic (encodeModel writes it first). A file is recognised by these before
 * anything is decoded, so a message about a foreign file (a link to
 * /etc/shadow, say) never quotes what it holds.
 */
const MODEL_PREFIX = Buffer.concat([packr.pack('magic'), packr.pack(MODEL_MAGIC)]);

function startsLikeModel(bytes: Uint8Array): boolean {
  const t = bytes[0];
  const head = t === undefined ? -1 : t >= 0x80 && t <= 0x8f ? 1 : t === 0xde ? 3 : t === 0xdf ? 5 : -1;
  return head > 0 && bytes.length >= head + MODEL_PREFIX.length && Buffer.from(bytes.buffer, bytes.byteOffset + head, MODEL_PREFIX.length).equals(MODEL_PREFIX);
}

export function decodeModel(bytes: Uint8Array, where: string, opts: { expect?: string } = {}): ModelFile {
  if (!startsLikeModel(bytes)) {
    throw new SyswardenError(
      'ERR_NOT_A_MODEL',
      `${where} is not a syswarden model file: ${bytes.length === 0 ? 'it is empty' : 'it does not start with the syswarden model header'}. Fix: give a file written by syswarden (e.g. 'syswarden train --model <file>').`,
    );
  }
  const sealed = unseal(bytes);
  if ('problem' in sealed && sealed.problem === 'mismatch') {
    throw new SyswardenError(
      'ERR_NOT_A_MODEL',
      `${where} is a damaged syswarden model: its contents do not match the checksum it was saved with (a changed byte, or an edited or half-copied file). Fix: copy the model again from where it was trained, or re-train it.`,
    );
  }
  let decoded: unknown;
  try {
    decoded = unpackPlain(packr, 'body' in sealed ? sealed.body : bytes, where);
  } catch (e) {
    if (!(e instanceof SyswardenError)) throw e;
    throw new SyswardenError('ERR_NOT_A_MODEL', `${where} is not a syswarden model file (${e.message}). Fix: give a file written by syswarden (e.g. 'syswarden train --model <file>').`, { cause: e });
  }
  const o = (typeof decoded === 'object' && decoded !== null && !Array.isArray(decoded) && !ArrayBuffer.isView(decoded) ? decoded : {}) as object;
  const get = (k: keyof ModelFile): unknown => field(o, k);
  if (get('magic') !== MODEL_MAGIC) {
    throw new SyswardenError('ERR_NOT_A_MODEL', `${where} is not a syswarden model file. Fix: give a file written by syswarden (e.g. 'syswarden train --model <file>').`);
  }
  if (get('format') !== MODEL_FORMAT) {
    throw new SyswardenError('ERR_MODEL_VERSION', `${where} has model file format ${clip(get('format'))}; this syswarden reads format ${MODEL_FORMAT}. Fix: re-train the model with this version.`);
  }
  if ('problem' in sealed) {
    throw new SyswardenError('ERR_NOT_A_MODEL', `${where} is a damaged syswarden model: the checksum that ends every model file is missing. Fix: copy the model again from where it was trained, or re-train it.`);
  }
  const detector = get('detector');
  if (opts.expect !== undefined && detector !== opts.expect) {
    throw new SyswardenError('ERR_MODEL_DETECTOR', `${where} holds a ${clip(detector)} model, not '${opts.expect}'. Fix: pass the matching --detector or the right model file.`);
  }
  const damaged = (why: string): never => {
    throw new SyswardenError('ERR_NOT_A_MODEL', `${where} is a damaged syswarden model: ${why}. Fix: re-train the model.`);
  };
  if (typeof detector !== 'string' || detector.length === 0 || detector.length > 64) damaged(`detector is ${clip(detector)}, not a detector name`);
  const detectorVersion = get('detectorVersion');
  if (typeof detectorVersion !== 'number' || !Number.isInteger(detectorVersion) || detectorVersion < 0) damaged(`detectorVersion is ${clip(detectorVersion)}, not a whole number`);
  const windowSize = get('windowSize');
  if (typeof windowSize !== 'number' || !Number.isInteger(windowSize) || windowSize < MIN_WINDOW || windowSize > MAX_WINDOW) {
    damaged(`windowSize is ${clip(windowSize)}, not an integer from ${MIN_WINDOW} to ${MAX_WINDOW}`);
  }
  // A NaN or infinite threshold would make `score >= threshold` false for every window: a model that never alarms.
  const threshold = get('threshold');
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) damaged(`threshold is ${clip(threshold)}, not a finite number`);
  const calibration = checkCalibration(get('calibration'), threshold as number, damaged);
  const filter = get('filter');
  if (!(FILTER_NAMES as readonly unknown[]).includes(filter)) damaged(`filter is ${clip(filter)}, not one of ${FILTER_NAMES.join(', ')}`);
  const createdAt = get('createdAt');
  if (typeof createdAt !== 'string' || createdAt.length > 64) damaged(`createdAt is ${clip(createdAt)}, not a date`);
  const meta = get('meta') ?? {};
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta) || ArrayBuffer.isView(meta)) damaged('meta is not a map');
  if (get('state') === undefined) damaged('it has no detector state');
  const executables = get('executables');
  if (
    executables !== undefined &&
    (!Array.isArray(executables) || executables.length > MAX_MODEL_EXECUTABLES || !executables.every((x) => typeof x === 'string' && x.length <= MAX_EXECUTABLE_CHARS))
  ) {
    damaged(`executables is not a list of at most ${MAX_MODEL_EXECUTABLES} paths`);
  }
  const out: ModelFile = {
    magic: MODEL_MAGIC,
    format: MODEL_FORMAT,
    detector: detector as string,
    detectorVersion: detectorVersion as number,
    windowSize: windowSize as number,
    threshold: threshold as number,
    calibration,
    filter: filter as FilterName,
    createdAt: createdAt as string,
    meta: meta as Record<string, unknown>,
    state: get('state'),
  };
  if (executables !== undefined) out.executables = executables as string[];
  const heldOut = get('heldOut');
  if (heldOut !== undefined) out.heldOut = checkHeldOut(heldOut, out.windowSize, damaged);
  const build = get('build');
  if (build !== undefined) out.build = checkBuild(build, damaged);
  const profiles = get('profiles');
  if (profiles !== undefined) {
    if (!Array.isArray(profiles) || profiles.length > MAX_MODEL_PROFILES) damaged(`profiles is not a list of at most ${MAX_MODEL_PROFILES}`);
    out.profiles = (profiles as unknown[]).map((v, i) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) return damaged(`profile ${i} is not a map`);
      const pf = (k: keyof ModelProfile): unknown => field(v, k);
      const exe = pf('exe');
      if (typeof exe !== 'string' || exe.length > MAX_EXECUTABLE_CHARS) damaged(`profile ${i} names no executable`);
      const version = pf('detectorVersion');
      if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) damaged(`profile ${i}'s detectorVersion is ${clip(version)}`);
      const windows = pf('windows');
      if (typeof windows !== 'number' || !Number.isInteger(windows) || windows < 0) damaged(`profile ${i}'s windows is ${clip(windows)}`);
      if (pf('state') === undefined) damaged(`profile ${i} has no detector state`);
      const c = pf('calibration');
      const t = typeof c === 'object' && c !== null ? field(c, 'threshold') : undefined;
      if (typeof t !== 'number' || !Number.isFinite(t)) damaged(`profile ${i}'s threshold is ${clip(t)}, not a finite number`);
      const calibration = checkCalibration(c, t as number, (why) => damaged(`profile ${i}: ${why}`));
      if (calibration.frame !== out.calibration.frame) damaged(`profile ${i}'s frame differs from the model's`);
      return { exe: exe as string, detectorVersion: version as number, state: pf('state'), calibration, windows: windows as number };
    });
  }
  return out;
}

/** A saved calibration, every field checked: a damaged one is refused, never trusted. */
function checkCalibration(v: unknown, threshold: number, damaged: (why: string) => never): Calibration {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) return damaged('it has no calibration (how its threshold was set)');
  const get = (k: keyof Calibration): unknown => field(v, k);
  const num = (k: keyof Calibration, min: number, max: number): number => {
    const x = get(k);
    if (typeof x !== 'number' || !Number.isFinite(x) || x < min || x > max) damaged(`calibration.${k} is ${clip(x)}, not a number from ${min} to ${max}`);
    return x as number;
  };
  const frame = num('frame', 1, MAX_FRAME);
  if (!Number.isInteger(frame)) damaged(`calibration.frame is ${frame}, not a whole number`);
  const trim = num('trim', 0, frame - 1);
  if (!Number.isInteger(trim)) damaged(`calibration.trim is ${trim}, not a whole number`);
  if (get('threshold') !== threshold) damaged('its calibration threshold differs from its threshold');
  const unit = get('unit');
  if (unit !== 'trace' && unit !== 'hour') damaged(`calibration.unit is ${clip(unit)}, not trace or hour`);
  const part = get('part');
  if (part !== 'trace' && part !== 'time' && part !== 'segment') damaged(`calibration.part is ${clip(part)}, not trace, time or segment`);
  const peaks = get('peaks');
  if (!(peaks instanceof Float64Array) || peaks.length === 0 || peaks.length > 1 << 20 || !peaks.every(Number.isFinite)) damaged('calibration.peaks is not a list of finite numbers');
  const rule = get('rule');
  if (typeof rule !== 'string' || rule.length > 1000) damaged('calibration.rule is not a sentence');
  const folds = num('folds', 1, 1 << 20);
  return {
    frame,
    trim,
    threshold,
    budget: num('budget', Number.MIN_VALUE, 3600),
    unit: unit as BudgetUnit,
    part: part as Calibration['part'],
    partHours: num('partHours', 0, 1e6),
    peaks: peaks as Float64Array,
    folds,
    observed: num('observed', 0, 1),
    expected: num('expected', 0, 1e12),
    rule: rule as string,
  };
}

/** A saved build identity (see version.ts): strings of hex, a commit, a version. */
function checkBuild(v: unknown, damaged: (why: string) => never): BuildIdentity {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) return damaged('build is not a map');
  const str = (k: keyof BuildIdentity, nullable: boolean): string | null => {
    const x = field(v, k);
    if (nullable && x === null) return null;
    if (typeof x !== 'string' || x.length === 0 || x.length > 100) return damaged(`build.${k} is ${clip(x)}`);
    return x;
  };
  const modelFormat = field(v, 'modelFormat');
  if (typeof modelFormat !== 'number' || !Number.isInteger(modelFormat)) damaged(`build.modelFormat is ${clip(modelFormat)}`);
  return { version: str('version', false)!, commit: str('commit', true), bpf: str('bpf', true), syscalls: str('syscalls', false)!, modelFormat: modelFormat as number };
}

/**
 * A decoded value, short enough for a message. Only files that start with the
 * model header get this far, so what it quotes was written as a model.
 */
function clip(v: unknown): string {
  const s = typeof v === 'string' ? `'${v}'` : ArrayBuffer.isView(v) ? 'bytes' : typeof v === 'object' && v !== null ? 'a map' : String(v);
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}

/**
 * Largest model file read: generous for a detector's state (windows, trees,
 * weights), yet bounded, so a huge foreign file is refused before it fills
 * memory (a device like /dev/zero is refused as not a regular file).
 */
export const MAX_MODEL_BYTES = 1 << 30;

/** A model file's bytes: a regular file of at most MAX_MODEL_BYTES (see readInputFile). */
export async function readModelBytes(path: string): Promise<Buffer> {
  return readInputFile(path, { what: 'model', maxBytes: MAX_MODEL_BYTES });
}

/** readModelBytes on the calling thread (the same checks). */
export function readModelBytesSync(path: string): Buffer {
  return readInputFileSync(path, { what: 'model', maxBytes: MAX_MODEL_BYTES });
}

/** Restores a detector from bytes, checking its name (when expected) and its state version. */
/** A profile of a per-executable model, restored. */
export interface RestoredProfile {
  exe: string;
  detector: Detector;
  calibration: Calibration;
}

export function modelFromBytes(bytes: Uint8Array, where: string, opts: { expect?: string } = {}): { detector: Detector; file: ModelFile; profiles: RestoredProfile[] } {
  const file = decodeModel(bytes, where, opts);
  const factory = detectorFactories().find((f) => f.name === file.detector);
  if (!factory) {
    throw new SyswardenError(
      'ERR_UNKNOWN_DETECTOR',
      `${where} holds a model of detector '${file.detector}', which this syswarden does not have (it has ${DETECTOR_NAMES.join(', ')}). Fix: re-train the model with this version, or use the syswarden that wrote it.`,
    );
  }
  const restore = (state: unknown, version: number, threshold: number, profileOf?: string): Detector => {
    const whose = profileOf === undefined ? undefined : `profile of ${profileOf}`;
    if (version !== factory.version) {
      throw new SyswardenError(
        'ERR_MODEL_VERSION',
        `${where} holds a ${file.detector} ${whose ?? 'model'} of version ${version}; this syswarden's ${file.detector} is version ${factory.version}. Fix: re-train the model with this version.`,
      );
    }
    let detector: Detector;
    try {
      detector = factory.restore(state);
    } catch (e) {
      // The detector speaks of its state; the user needs to know which file holds it.
      if (e instanceof SyswardenError && e.code === 'ERR_MODEL_STATE') throw new SyswardenError(e.code, `cannot load model ${where}: ${e.message}`, { cause: e });
      throw e;
    }
    // The worker windows by the file's size and the detector scores by its own: they must agree.
    if (detector.windowSize !== file.windowSize) {
      throw new SyswardenError('ERR_MODEL_STATE', `${where} declares windows of ${file.windowSize} calls but its ${file.detector} ${whose ?? 'state'} was fitted on ${detector.windowSize}. Fix: re-train the model.`);
    }
    checkThresholdReachable(detector, threshold, where);
    return detector;
  };
  const detector = restore(file.state, file.detectorVersion, file.threshold);
  const profiles = (file.profiles ?? []).map((p) => ({ exe: p.exe, calibration: p.calibration, detector: restore(p.state, p.detectorVersion, p.calibration.threshold, p.exe) }));
  return { detector, file, profiles };
}

export async function loadModel(path: string, opts: { expect?: string } = {}): Promise<{ detector: Detector; file: ModelFile }> {
  return modelFromBytes(await readModelBytes(path), path, opts);
}
