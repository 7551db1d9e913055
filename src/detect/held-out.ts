import { field } from '../safe-msgpack.js';
import type { WindowSet } from '../window/window-set.js';
import { selectWindows } from '../window/windows.js';

/**
 * Normal material a model keeps so that its threshold can be set again
 * later, by a model that scores differently (`syswarden model merge`): the
 * calibration parts' windows, a bounded deterministic sample of them. A
 * fleet ships models, not recordings, so what merge recalibrates on must
 * travel inside the model.
 *
 * Per part, its windows are kept whole up to the part's share of
 * HELD_OUT_MAX_WINDOWS; a longer part keeps runs of HELD_OUT_RUN consecutive
 * windows (whole frames of a stream, as the decision takes them): the run
 * where the part peaked under its calibration fold model first (what set
 * the threshold), then runs spread evenly over the part.
 */
export interface HeldOut {
  /** Windows of the model's size, row-major. */
  windows: Uint16Array;
  /** The stream (thread) of each window, numbered from 0: the decision frame is per stream. */
  source: Int32Array;
  /** The calibration part of each window, numbered from 0 (parts in the order of the model's peaks' parts). */
  part: Int32Array;
  /** Training windows of each part before sampling (so that a reader knows how much was kept). */
  partWindows: Int32Array;
}

/**
 * Most held-out windows a model keeps: at windows of 6 calls about 4.5 MB
 * with their stream and part numbers, at 15 calls 9 MB; far under the model
 * size a busy container's normal database reaches, and bounded whatever the
 * training length.
 */
export const HELD_OUT_MAX_WINDOWS = 1 << 18;
/** Most windows one part keeps (a few minutes of a busy thread's frames). */
export const HELD_OUT_PART_WINDOWS = 1 << 14;
/** Consecutive windows of a part kept together: four default decision frames. */
export const HELD_OUT_RUN = 160;

/**
 * The sample of `normal` to keep, given each window's part and, per part,
 * the window index at which it peaked (or undefined).
 */
export function sampleHeldOut(normal: WindowSet, partOf: Int32Array, peakAt: ReadonlyMap<number, number>): HeldOut {
  const byPart = new Map<number, number[]>();
  for (let i = 0; i < normal.count; i++) {
    const p = partOf[i]!;
    let list = byPart.get(p);
    if (!list) byPart.set(p, (list = []));
    list.push(i);
  }
  const parts = [...byPart.keys()].sort((a, b) => a - b);
  const cap = Math.max(HELD_OUT_RUN, Math.min(HELD_OUT_PART_WINDOWS, Math.floor(HELD_OUT_MAX_WINDOWS / Math.max(1, parts.length))));
  const keep: number[] = [];
  const partNo: number[] = [];
  const partWindows = new Int32Array(parts.length);
  parts.forEach((p, k) => {
    const idx = byPart.get(p)!;
    partWindows[k] = idx.length;
    for (const i of runsOf(idx, cap, peakAt.get(p))) {
      keep.push(i);
      partNo.push(k);
    }
  });
  const chosen = selectWindows(normal, keep);
  const streams = new Map<number, number>();
  const source = new Int32Array(chosen.count);
  for (let k = 0; k < chosen.count; k++) {
    const s = chosen.source?.[k] ?? 0;
    let id = streams.get(s);
    if (id === undefined) streams.set(s, (id = streams.size));
    source[k] = id;
  }
  return { windows: chosen.data, source, part: Int32Array.from(partNo), partWindows };
}

/** Indices of `idx` to keep, ascending: all of them when they fit in `cap`, else runs (see HeldOut). */
function runsOf(idx: readonly number[], cap: number, peak: number | undefined): number[] {
  const n = idx.length;
  if (n <= cap) return [...idx];
  const run = Math.min(HELD_OUT_RUN, cap);
  const starts: number[] = [];
  if (peak !== undefined) {
    const at = idx.indexOf(peak);
    if (at >= 0) starts.push(Math.max(0, at - run + 1));
  }
  const spread = Math.floor(cap / run) - starts.length;
  for (let j = 0; j < spread; j++) starts.push(spread === 1 ? 0 : Math.floor((j * (n - run)) / (spread - 1)));
  const take = new Uint8Array(n);
  for (const s of starts) take.fill(1, s, Math.min(n, s + run));
  const out: number[] = [];
  for (let i = 0; i < n && out.length < cap; i++) if (take[i]) out.push(idx[i]!);
  return out;
}

/** Number of parts a held-out sample holds. */
export function heldOutParts(h: HeldOut): number {
  return h.partWindows.length;
}

/** The sample's windows as a window set of `size` (their stream in `source`). */
export function heldOutWindows(h: HeldOut, size: number): WindowSet {
  return { size, count: h.source.length, data: h.windows, source: h.source };
}

/**
 * Several models' samples as one, parts and streams renumbered so that no
 * two inputs share one, within the same bounds (a part keeps a leading
 * share of its windows when the total is over HELD_OUT_MAX_WINDOWS).
 */
export function joinHeldOut(list: readonly HeldOut[], size: number): HeldOut {
  const total = list.reduce((n, h) => n + h.source.length, 0);
  const parts = list.reduce((n, h) => n + heldOutParts(h), 0);
  const perPart = total <= HELD_OUT_MAX_WINDOWS ? Infinity : Math.max(HELD_OUT_RUN, Math.floor(HELD_OUT_MAX_WINDOWS / Math.max(1, parts)));
  const windows: number[] = [];
  const source: number[] = [];
  const part: number[] = [];
  const partWindows: number[] = [];
  let partBase = 0;
  let streamBase = 0;
  for (const h of list) {
    const taken = new Map<number, number>();
    let streams = 0;
    for (let i = 0; i < h.source.length; i++) {
      const p = h.part[i]!;
      const n = taken.get(p) ?? 0;
      if (n >= perPart) continue;
      taken.set(p, n + 1);
      for (let j = 0; j < size; j++) windows.push(h.windows[i * size + j]!);
      source.push(streamBase + h.source[i]!);
      part.push(partBase + p);
      streams = Math.max(streams, h.source[i]! + 1);
    }
    partWindows.push(...h.partWindows);
    partBase += heldOutParts(h);
    streamBase += streams;
  }
  return { windows: Uint16Array.from(windows), source: Int32Array.from(source), part: Int32Array.from(part), partWindows: Int32Array.from(partWindows) };
}

/** A saved sample, every field checked; `damaged` throws. */
export function checkHeldOut(v: unknown, size: number, damaged: (why: string) => never): HeldOut {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) return damaged('heldOut is not a map');
  const windows = field(v, 'windows');
  const source = field(v, 'source');
  const part = field(v, 'part');
  const partWindows = field(v, 'partWindows');
  if (!(windows instanceof Uint16Array) || !(source instanceof Int32Array) || !(part instanceof Int32Array) || !(partWindows instanceof Int32Array)) {
    return damaged('heldOut lacks its windows, streams or parts');
  }
  const n = source.length;
  if (n === 0 || n > HELD_OUT_MAX_WINDOWS || windows.length !== n * size || part.length !== n) damaged(`heldOut holds ${windows.length} calls for ${n} windows of ${size}`);
  const parts = partWindows.length;
  if (parts === 0 || parts > 1 << 20) damaged(`heldOut has ${parts} parts`);
  for (let i = 0; i < n; i++) {
    if (source[i]! < 0 || source[i]! >= n) damaged('heldOut names a stream out of range');
    if (part[i]! < 0 || part[i]! >= parts) damaged('heldOut names a part out of range');
  }
  if (!partWindows.every((x) => x >= 0)) damaged('heldOut counts negative windows');
  return { windows, source, part, partWindows };
}
