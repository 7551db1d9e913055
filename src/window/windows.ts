import { SyswardenError } from '../errors.js';
import type { WindowSet } from './window-set.js';

export const MIN_WINDOW = 2;
export const MAX_WINDOW = 64;

export function checkWindowSize(size: number): number {
  if (!Number.isInteger(size) || size < MIN_WINDOW || size > MAX_WINDOW) {
    throw new SyswardenError('ERR_INVALID_INPUT', `window size ${size} is out of range. Fix: use an integer from ${MIN_WINDOW} to ${MAX_WINDOW} (the study used 3..15).`);
  }
  return size;
}

/**
 * Copies `size` calls from `from[at..]` to `to[into..]`, call by call: a
 * window is a few calls, and a typed-array view per row (subarray + set)
 * costs more than the row.
 */
export function copyRow(from: Uint16Array, at: number, to: Uint16Array, into: number, size: number): void {
  for (let t = 0; t < size; t++) to[into + t] = from[at + t]!;
}

/** Windows of one stream with stride 1: max(0, length - size + 1). */
export function windowCount(length: number, size: number): number {
  return Math.max(0, length - size + 1);
}

/** One thread's calls, with the class and the trace index its windows carry. */
export interface StreamInput {
  readonly calls: Uint16Array;
  /** 0 normal, 1 attack. */
  readonly label?: number;
  /** Recorded in WindowSet.source; defaults to the stream's index in the list. */
  readonly source?: number;
}

/**
 * Sliding windows over each stream separately (stride 1), concatenated in
 * stream order. A window never spans two streams, so neither two threads nor
 * two files are ever joined. Labels are set when every stream has one.
 */
export function windowStreams(streams: readonly StreamInput[], size: number): WindowSet {
  checkWindowSize(size);
  let count = 0;
  for (const s of streams) count += windowCount(s.calls.length, size);
  const data = new Uint16Array(count * size);
  const source = new Int32Array(count);
  const labelled = streams.length > 0 && streams.every((s) => s.label !== undefined);
  const labels = labelled ? new Uint8Array(count) : undefined;
  let w = 0;
  streams.forEach((s, idx) => {
    const n = windowCount(s.calls.length, size);
    const calls = s.calls;
    // Rows overlap by size-1 calls; copying is what makes each row a contiguous, independent key.
    for (let i = 0; i < n; i++) copyRow(calls, i, data, (w + i) * size, size);
    source.fill(s.source ?? idx, w, w + n);
    if (labels) labels.fill(s.label!, w, w + n);
    w += n;
  });
  return labels ? { size, count, data, labels, source } : { size, count, data, source };
}

/** Windows of a single stream. */
export function windowStream(calls: Uint16Array, size: number): WindowSet {
  return windowStreams([{ calls }], size);
}

/** The windows at `indices` (in that order), with their labels and sources. */
export function selectWindows(set: WindowSet, indices: ArrayLike<number>): WindowSet {
  const { size } = set;
  const count = indices.length;
  const data = new Uint16Array(count * size);
  const source = set.source ? new Int32Array(count) : undefined;
  const labels = set.labels ? new Uint8Array(count) : undefined;
  for (let k = 0; k < count; k++) {
    const i = indices[k]!;
    copyRow(set.data, i * size, data, k * size, size);
    if (source) source[k] = set.source![i]!;
    if (labels) labels[k] = set.labels![i]!;
  }
  return { size, count, data, ...(labels ? { labels } : {}), ...(source ? { source } : {}) };
}

/** A contiguous range of windows, sharing memory with `set`. */
export function sliceWindows(set: WindowSet, start: number, end: number): WindowSet {
  const { size } = set;
  return {
    size,
    count: end - start,
    data: set.data.subarray(start * size, end * size),
    ...(set.labels ? { labels: set.labels.subarray(start, end) } : {}),
    ...(set.source ? { source: set.source.subarray(start, end) } : {}),
  };
}

/** Several window sets of one size, one after the other. */
export function concatWindows(sets: readonly WindowSet[]): WindowSet {
  const size = sets[0]?.size ?? MIN_WINDOW;
  if (sets.some((s) => s.size !== size)) throw new SyswardenError('ERR_INVALID_INPUT', 'cannot join window sets of different sizes.');
  const count = sets.reduce((n, s) => n + s.count, 0);
  const data = new Uint16Array(count * size);
  const withLabels = sets.length > 0 && sets.every((s) => s.labels);
  const withSource = sets.length > 0 && sets.every((s) => s.source);
  const labels = withLabels ? new Uint8Array(count) : undefined;
  const source = withSource ? new Int32Array(count) : undefined;
  let w = 0;
  for (const s of sets) {
    data.set(s.data.subarray(0, s.count * size), w * size);
    labels?.set(s.labels!.subarray(0, s.count), w);
    source?.set(s.source!.subarray(0, s.count), w);
    w += s.count;
  }
  return { size, count, data, ...(labels ? { labels } : {}), ...(source ? { source } : {}) };
}
