/*
 * Node's timers hold at most 2^31-1 ms (24.8 days): a longer delay is
 * replaced by 1 ms with only a warning, so `--duration 3000000` ended after a
 * millisecond. These chain timers of at most that length, so a duration of
 * months really lasts months.
 */

/** The longest delay one Node timer holds. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `fn` once after `ms` milliseconds (any finite length); clear() cancels it. */
export function setLongTimeout(fn: () => void, ms: number): { clear(): void } {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`a timeout must be a finite number of ms >= 0, got ${ms}`);
  const end = performance.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  const arm = (left: number) => {
    timer = setTimeout(() => {
      // Re-measure on the monotonic clock: a chained timer must not drift by the steps it took.
      const rest = end - performance.now();
      if (rest > 0) arm(rest);
      else {
        timer = undefined;
        fn();
      }
    }, Math.min(Math.max(0, left), MAX_TIMER_MS));
  };
  arm(ms);
  return {
    clear() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** Resolves after `ms` milliseconds (any finite length), or as soon as `signal` aborts. */
export function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      t.clear();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setLongTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
