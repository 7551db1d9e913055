import { SyswardenError } from '../../errors.js';
import type { Detector } from '../detector.js';

/**
 * The detectors to merge, as instances of `cls`, all of one window size,
 * and each `same` property equal across them: else ERR_MODEL_MISMATCH
 * naming what differs (merge prefixes the files).
 */
export function mergeInputs<T extends Detector>(name: string, detectors: readonly Detector[], cls: abstract new (...a: never[]) => T, same: ReadonlyArray<keyof T & string> = []): T[] {
  if (detectors.length === 0) throw new SyswardenError('ERR_INVALID_INPUT', `${name}: nothing to merge.`);
  const list = detectors.map((d) => {
    if (!(d instanceof cls)) throw new SyswardenError('ERR_MODEL_MISMATCH', `a ${d.name} model cannot be merged with a ${name} model.`);
    return d;
  });
  for (const key of ['windowSize', ...same] as Array<keyof T & string>) {
    const values = [...new Set(list.map((d) => String(d[key])))];
    if (values.length > 1) throw new SyswardenError('ERR_MODEL_MISMATCH', `the ${name} models differ in ${key === 'windowSize' ? 'window size' : key} (${values.join(' and ')}).`);
  }
  return list;
}
