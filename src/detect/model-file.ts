import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Packr } from 'msgpackr';
import { SyswardenError } from '../errors.js';
import type { FilterName } from '../window/filter.js';
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
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fh;
  try {
    fh = await open(tmp, 'wx');
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
  let file: Partial<ModelFile> | undefined;
  try {
    file = packr.unpack(bytes) as Partial<ModelFile>;
  } catch {
    file = undefined;
  }
  if (!file || typeof file !== 'object' || file.magic !== MODEL_MAGIC) {
    throw new SyswardenError('ERR_NOT_A_MODEL', `${where} is not a syswarden model file. Fix: give a file written by syswarden (e.g. 'syswarden train --out <model>').`);
  }
  if (file.format !== MODEL_FORMAT) {
    throw new SyswardenError('ERR_MODEL_VERSION', `${where} has model file format ${String(file.format)}; this syswarden reads format ${MODEL_FORMAT}. Fix: re-train the model with this version.`);
  }
  if (opts.expect !== undefined && file.detector !== opts.expect) {
    throw new SyswardenError('ERR_MODEL_DETECTOR', `${where} holds a '${String(file.detector)}' model, not '${opts.expect}'. Fix: pass the matching --detector or the right model file.`);
  }
  if (typeof file.detector !== 'string' || typeof file.detectorVersion !== 'number' || typeof file.windowSize !== 'number' || typeof file.threshold !== 'number') {
    throw new SyswardenError('ERR_NOT_A_MODEL', `${where} is a damaged syswarden model (missing header fields). Fix: re-train the model.`);
  }
  return file as ModelFile;
}

export async function readModelFile(path: string, opts: { expect?: string } = {}): Promise<ModelFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new SyswardenError('ERR_MODEL_READ', `cannot read model ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}. Fix: check the path.`, { cause: e });
  }
  return decodeModel(bytes, path, opts);
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
  detector.threshold = file.threshold;
  return { detector, file };
}

export async function loadModel(path: string, opts: { expect?: string } = {}): Promise<{ detector: Detector; file: ModelFile }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new SyswardenError('ERR_MODEL_READ', `cannot read model ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}. Fix: check the path.`, { cause: e });
  }
  return modelFromBytes(bytes, path, opts);
}
