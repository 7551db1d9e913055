/**
 * Threads too short to alarm. The frame decision leaves out each frame's
 * `trim` highest windows (the window size: what one displaced call can
 * touch), so a thread with no more windows than that has a decision score
 * of 0 however unusual every one of its windows is: a thread of fewer than
 * twice the window size's calls can never alarm. Servers that start a
 * thread or a process per request (Python's ThreadingHTTPServer, CGI) make
 * many such threads, and at long windows most of their work is then out of
 * sight. Training measures it and says which window would see them.
 */
import { windowTrim } from './decision.js';
import { MIN_WINDOW } from '../window/windows.js';

/** Share of the calls learnt, in threads too short to alarm, above which training warns. */
export const SHORT_THREAD_WARN = 0.05;

export interface ShortThreads {
  window: number;
  /** Threads (with at least one window) that cannot alarm at `window`, and all threads with a window. */
  threads: number;
  of: number;
  /** Their share of the calls of threads with a window. */
  share: number;
  /** The longest shorter window at which the share is below SHORT_THREAD_WARN, with its share; else the shortest window's share. */
  instead: { window: number; share: number; enough: boolean };
}

/** Calls of streams that cannot alarm at window `v` (a stream of c calls has c - v + 1 windows). */
function blindCalls(calls: readonly number[], v: number, frame: number): { calls: number; threads: number } {
  const most = v + windowTrim(v, frame) - 1;
  let sum = 0;
  let threads = 0;
  for (const c of calls) {
    if (c <= most) {
      sum += c;
      threads++;
    }
  }
  return { calls: sum, threads };
}

/**
 * From the number of windows each training stream made at `window`: the
 * threads that can never alarm, when they hold at least SHORT_THREAD_WARN of
 * the calls (else null).
 */
export function shortThreads(windowsPerStream: Iterable<number>, window: number, frame: number): ShortThreads | null {
  const calls: number[] = [];
  let total = 0;
  for (const n of windowsPerStream) {
    if (n <= 0) continue;
    const c = n + window - 1;
    calls.push(c);
    total += c;
  }
  if (total === 0) return null;
  const blind = blindCalls(calls, window, frame);
  const share = blind.calls / total;
  if (share < SHORT_THREAD_WARN) return null;
  let instead: ShortThreads['instead'] = { window, share, enough: false };
  for (let v = window - 1; v >= MIN_WINDOW; v--) {
    const s = blindCalls(calls, v, frame).calls / total;
    instead = { window: v, share: s, enough: s < SHORT_THREAD_WARN };
    if (instead.enough) break;
  }
  return { window, threads: blind.threads, of: calls.length, share, instead };
}

/** Windows per stream of a set's `source` (each stream's windows in any order). */
export function windowsPerSource(source: ArrayLike<number>): Iterable<number> {
  const count = new Map<number, number>();
  for (let i = 0; i < source.length; i++) count.set(source[i]!, (count.get(source[i]!) ?? 0) + 1);
  return count.values();
}

/** The note `eval` adds to a result whose training threads are often too short to alarm (undefined: they are not). */
export function shortThreadsNote(source: ArrayLike<number> | undefined, window: number, frame: number): string | undefined {
  const s = source ? shortThreads(windowsPerSource(source), window, frame) : null;
  return s ? formatShortThreads(s, frame) : undefined;
}

/** What `train` says about them. */
export function formatShortThreads(s: ShortThreads, frame: number): string {
  const pct = (x: number) => `${(100 * x).toFixed(x < 0.1 ? 1 : 0)} %`;
  const most = s.window + windowTrim(s.window, frame) - 1;
  const head =
    `${s.threads} of ${s.of} threads (${pct(s.share)} of the calls learnt) made ${most} calls or fewer (a thread or process per request?): ` +
    `a thread that short can never alarm at window ${s.window}, because each frame leaves out its ${windowTrim(s.window, frame)} highest windows`;
  const { instead } = s;
  if (instead.enough) return `${head}. Fix: train with --window ${instead.window} or less (there ${pct(instead.share)} of the calls are in such threads)`;
  return instead.window === s.window
    ? `${head}; no shorter window exists`
    : `${head}; even at window ${instead.window}, ${pct(instead.share)} of the calls are in threads too short to alarm. Fix: use window ${instead.window}`;
}
