/** Where events are lost, in the order they flow: the kernel program, the consumer (ring to scoring), the scoring workers. */
export const LOSS_STAGES = ['kernel', 'consumer', 'scoring'] as const;
export type LossStage = (typeof LOSS_STAGES)[number];

type Losses = Record<LossStage, number>;

/** The label of containers beyond the cap. */
export const OVERFLOW_LABEL = 'other';
/** The label of losses no container can be named for (e.g. batches that arrived after the pipeline closed). */
export const UNATTRIBUTED_LABEL = 'unattributed';
/** Container series kept by default: enough for a host's containers, few enough for a Prometheus server. */
export const DEFAULT_MAX_CONTAINER_SERIES = 50;

/** One reading of a target's losses: kernel and consumer from the collector's perSlot, scoring from the pipeline's droppedBySlot. */
export interface TargetLossReading {
  id: number;
  kernel: number;
  consumer: number;
}

/**
 * Lost events per container label, as counters that only go up, with at
 * most `maxSeries` labels (the first containers that lose anything keep a
 * series for the process's life; later ones add to 'other'). Counts are
 * taken as deltas per target id: a removed target whose row the collector
 * no longer reports keeps what it lost, and two targets with one name
 * share a series. The sum over labels of a stage equals the total given
 * for that stage: what no target accounts for is 'unattributed'.
 */
export class ContainerLosses {
  private readonly byLabel = new Map<string, Losses>();
  /** The last reading per target id, to take deltas (pruned to the ids still reported). */
  private readonly lastRow = new Map<number, { kernel: number; consumer: number }>();
  private readonly lastScoring = new Map<number, number>();
  private named = 0;

  constructor(
    /** How a target id is named. */
    private readonly labelOf: (id: number) => string,
    readonly maxSeries = DEFAULT_MAX_CONTAINER_SERIES,
  ) {
    if (!Number.isInteger(maxSeries) || maxSeries < 1 || maxSeries > 10_000) throw new RangeError(`maxSeries must be a whole number from 1 to 10000, got ${String(maxSeries)}`);
  }

  /**
   * Take a reading: per-target rows (collector), per-target scoring losses
   * (pipeline), and each stage's total, which the labels must add up to.
   */
  update(rows: readonly TargetLossReading[], scoringById: Readonly<Record<number, number>>, totals: Losses): void {
    const seen = new Set<number>();
    for (const r of rows) {
      seen.add(r.id);
      const last = this.lastRow.get(r.id) ?? { kernel: 0, consumer: 0 };
      // A count below the last reading is a new target on a reused id: all of it is new.
      const dk = r.kernel >= last.kernel ? r.kernel - last.kernel : r.kernel;
      const dc = r.consumer >= last.consumer ? r.consumer - last.consumer : r.consumer;
      this.lastRow.set(r.id, { kernel: r.kernel, consumer: r.consumer });
      if (dk > 0) this.add(r.id, 'kernel', dk);
      if (dc > 0) this.add(r.id, 'consumer', dc);
    }
    for (const id of this.lastRow.keys()) if (!seen.has(id)) this.lastRow.delete(id);
    for (const key of Object.keys(scoringById)) {
      const id = Number(key);
      const now = scoringById[id]!;
      const last = this.lastScoring.get(id) ?? 0;
      if (now > last) this.add(id, 'scoring', now - last);
      this.lastScoring.set(id, now);
    }
    // What the named targets do not account for; never taken back (a counter only goes up).
    for (const stage of LOSS_STAGES) {
      let named = 0;
      for (const [label, l] of this.byLabel) if (label !== UNATTRIBUTED_LABEL) named += l[stage];
      const rest = totals[stage] - named;
      const un = this.series(UNATTRIBUTED_LABEL, true);
      if (rest > un[stage]) un[stage] = rest;
    }
  }

  /** Every series: label and its counts per stage. */
  entries(): IterableIterator<[string, Readonly<Losses>]> {
    return this.byLabel.entries();
  }

  /** Container labels given a series of their own so far (not 'other' nor 'unattributed'). */
  get namedSeries(): number {
    return this.named;
  }

  private add(id: number, stage: LossStage, n: number): void {
    this.series(this.labelOf(id), false)[stage] += n;
  }

  private series(label: string, reserved: boolean): Losses {
    let l = this.byLabel.get(label);
    if (l) return l;
    if (!reserved) {
      if (label === OVERFLOW_LABEL || label === UNATTRIBUTED_LABEL || this.named >= this.maxSeries) return this.series(OVERFLOW_LABEL, true);
      this.named++;
    }
    l = { kernel: 0, consumer: 0, scoring: 0 };
    this.byLabel.set(label, l);
    return l;
  }
}
