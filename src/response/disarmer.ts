/**
 * The disarmer: at most `limit` response actions per container in any
 * `windowMs`. An incident beyond that disarms the container (onDisarm, once);
 * it stays disarmed, whatever happens, until it has had no incident for
 * `windowMs` (onRearm, with the incidents that got no action). A detector
 * gone wrong, or an attacker who makes a container alarm on purpose, can
 * therefore cost at most `limit` actions a minute, then nothing.
 */
export interface DisarmerOptions {
  limit: number;
  windowMs: number;
  onDisarm: (key: string, actions: number) => void;
  onRearm: (key: string, suppressed: number) => void;
}

interface State {
  /** When the last actions were taken (performance.now()), oldest first, at most `limit`. */
  times: number[];
  disarmed: boolean;
  suppressed: number;
  timer?: NodeJS.Timeout;
}

export class Disarmer {
  private readonly states = new Map<string, State>();

  constructor(private readonly options: DisarmerOptions) {}

  /** True while `key` is disarmed. */
  disarmed(key: string): boolean {
    return this.states.get(key)?.disarmed === true;
  }

  /** An incident for a disarmed `key`: no action, and the quiet time starts again. */
  suppress(key: string): void {
    const s = this.states.get(key);
    if (!s?.disarmed) return;
    s.suppressed++;
    this.armTimer(key, s);
  }

  /** An action is about to be taken for `key`: true (and counted) if it may be, false (and disarmed) if the limit is reached. */
  take(key: string): boolean {
    const now = performance.now();
    let s = this.states.get(key);
    if (!s) {
      s = { times: [], disarmed: false, suppressed: 0 };
      this.states.set(key, s);
    }
    if (s.disarmed) {
      this.suppress(key);
      return false;
    }
    while (s.times.length > 0 && now - s.times[0]! >= this.options.windowMs) s.times.shift();
    if (s.times.length >= this.options.limit) {
      s.disarmed = true;
      s.suppressed = 1;
      this.armTimer(key, s);
      this.options.onDisarm(key, s.times.length);
      return false;
    }
    s.times.push(now);
    return true;
  }

  /** Forget a container (it is gone). */
  forget(key: string): void {
    const s = this.states.get(key);
    if (s?.timer) clearTimeout(s.timer);
    this.states.delete(key);
  }

  close(): void {
    for (const s of this.states.values()) if (s.timer) clearTimeout(s.timer);
    this.states.clear();
  }

  private armTimer(key: string, s: State): void {
    if (s.timer) clearTimeout(s.timer);
    s.timer = setTimeout(() => {
      s.timer = undefined;
      const suppressed = s.suppressed;
      // Re-armed with a clean slate: the actions before it are older than the window anyway.
      this.states.delete(key);
      this.options.onRearm(key, suppressed);
    }, this.options.windowMs);
    s.timer.unref();
  }
}
