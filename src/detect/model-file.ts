import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Packr } from 'msgpackr';
import { SyswardenError } from '../errors.js';
import { field, unpackPlain } from '../safe-msgpack.js';
import { FILTER_NAMES, type FilterName } from '../window/filter.js';
import { MAX_WINDOW, MIN_WINDOW } from '../window/windows.js';
import type { Detector } from './detector.js';
import { getDetector } from './registry.js';

export const MODEL_MAGIC = 'syswarden-model';
export const MODEL_FORMAT = 1;

export interface ModelFile {
  magic: typeof MODEL_MAGIC;
  format: number;
  detector: string;
  detectorVersion: number;
  windowSize: number;
  threshold: number;
  filter: FilterName;
  /** ISO 8601. */
  createdAt: string;
  /** Free-form provenance (training files, options). */
  meta: Record<string, unknown>;
  state: unknown;
}

// moreTypes: without it msgpackr 2.x writes a Uint16Array as a byte string of
// the wrong length; with it every typed array round-trips as its own type.
const packr = new Packr({ moreTypes: true, useRecords: false });

export function encodeModel(detector: Detector, opts: { filter: FilterName; meta?: Record<string, unknown>; createdAt?: Date }): Buffer {
  const file: ModelFile = {
    magic: MODEL_MAGIC,
    format: MODEL_FORMAT,
    detector: detector.name,
    detectorVersion: detector.version,
    windowSize: detector.windowSize,
    threshold: detector.threshold,
    filter: opts.filter,
    createdAt: (opts.createdAt ?? new Date()).toISOString(),
    meta: opts.meta ?? {},
    state: detector.state(),
  };
  return packr.pack(file);
}

/**
 * Writes the model beside its final path and renames it into place: a crash
 * or a full disk leaves either the old model or the new one, never half of one.
 */
export async function saveModel(path: string, detector: Detector, opts: { filter: FilterName; meta?: Record<string, unknown> }): Promise<void> {
  const bytes = encodeModel(detector, opts);
  // The directory may be shared (/tmp): 128 random bits make the temporary name
  // unguessable, and O_EXCL|O_NOFOLLOW make a file or link planted there anyway
  // fail the save instead of being written through. rename() then replaces
  // whatever sits at `path`, a symlink included, without following it.
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(16).toString('hex')}.tmp`);
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
  let fh;
  try {
    fh = await open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    await fh.writeFile(bytes);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw new SyswardenError('ERR_MODEL_WRITE', `cannot write model ${path}: ${(e as Error).message}. Fix: check that the directory exists and is writable.`, { cause: e });
  }
}

export function decodeModel(bytes: Uint8Array, where: string, opts: { expect?: string } = {}): ModelFile {
  let decoded: unknown;
  try {
    decoded = unpackPlain(packr, bytes, where);
  } catch (e) {
    if (!(e instanceof SyswardenError)) throw e;
    throw new SyswardenError('ERR_NOT_A_MODEL', `${where} is not a syswarden model file (${e.message}). Fix: give a file written by syswarden (e.g. 'syswarden train --out <model>').`, { cause: e });
  }
  const o = (typeof decoded === 'object' && decoded !== null && !Array.isArray(decoded) && !ArrayBuffer.isView(decoded) ? decoded : {}) as object;
  const get = (k: keyof ModelFile): unknown => field(o, k);
  if (get('magic') !== MODEL_MAGIC) {
    throw new SyswardenError('ERR_NOT_A_MODEL', `${where} is not a syswarden model file. Fix: give a file written by syswarden (e.g. 'syswarden train --out <model>').`);
  }
  if (get('format') !== MODEL_FORMAT) {
    throw new SyswardenError('ERR_MODEL_VERSION', `${where} has model file format ${clip(get('format'))}; this syswarden reads format ${MODEL_FORMAT}. Fix: re-train the model with this version.`);
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
  const filter = get('filter');
  if (!(FILTER_NAMES as readonly unknown[]).includes(filter)) damaged(`filter is ${clip(filter)}, not one of ${FILTER_NAMES.join(', ')}`);
  const createdAt = get('createdAt');
  if (typeof createdAt !== 'string' || createdAt.length > 64) damaged(`createdAt is ${clip(createdAt)}, not a date`);
  const meta = get('meta') ?? {};
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta) || ArrayBuffer.isView(meta)) damaged('meta is not a map');
  if (get('state') === undefined) damaged('it has no detector state');
  return {
    magic: MODEL_MAGIC,
    format: MODEL_FORMAT,
    detector: detector as string,
    detectorVersion: detectorVersion as number,
    windowSize: windowSize as number,
    threshold: threshold as number,
    filter: filter as FilterName,
    createdAt: createdAt as string,
    meta: meta as Record<string, unknown>,
    state: get('state'),
  };
}

/** A decoded value, short enough for a message. */
function clip(v: unknown): string {
  const s = typeof v === 'string' ? `'${v}'` : ArrayBuffer.isView(v) ? 'bytes' : typeof v === 'object' && v !== null ? 'a map' : String(v);
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}

/** A model file's bytes, with an error that says what to do when it cannot be read. */
export async function readModelBytes(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new SyswardenError(
      'ERR_MODEL_READ',
      `cannot read model ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}. Fix: check the path, or train one with 'syswarden train'.`,
      { cause: e },
    );
  }
}

/** Restores a detector from bytes, checking its name (when expected) and its state version. */
export function modelFromBytes(bytes: Uint8Array, where: string, opts: { expect?: string } = {}): { detector: Detector; file: ModelFile } {
  const file = decodeModel(bytes, where, opts);
  const factory = getDetector(file.detector);
  if (file.detectorVersion !== factory.version) {
    throw new SyswardenError(
      'ERR_MODEL_VERSION',
      `${where} holds a ${file.detector} model of version ${file.detectorVersion}; this syswarden's ${file.detector} is version ${factory.version}. Fix: re-train the model with this version.`,
    );
  }
  const detector = factory.restore(file.state);
  // The worker windows by the file's size and the detector scores by its own: they must agree.
  if (detector.windowSize !== file.windowSize) {
    throw new SyswardenError('ERR_MODEL_STATE', `${where} declares windows of ${file.windowSize} calls but its ${file.detector} state was fitted on ${detector.windowSize}. Fix: re-train the model.`);
  }
  detector.threshold = file.threshold;
  return { detector, file };
}

export async function loadModel(path: string, opts: { expect?: string } = {}): Promise<{ detector: Detector; file: ModelFile }> {
  return modelFromBytes(await readModelBytes(path), path, opts);
}
