/**
 * The benchmark verdicts: a target is met or missed only on a figure that
 * rests on samples; a figure measured on nothing (0 alerts, no runs, a load
 * that never reached the target) is 'not measured', with the reason.
 */
import { describe, expect, it } from 'vitest';
import type { CapacityPoint } from '../../src/bench/capacity.js';
import type { LatencyResult } from '../../src/bench/latency.js';
import type { Cell, ConfigName } from '../../src/bench/suite.js';
import { summarize } from '../../src/bench/measure.js';
import { TARGETS, formatJudgement, judge, judgeCapacity, judgeLatency, judgeTargets } from '../../src/bench/targets.js';

/** A suite cell as runSuite makes it: the median of the runs over the bare median. */
function cell(workload: string, config: ConfigName, runs: number[], bareRuns = runs): Cell {
  const result = summarize(runs);
  return { workload, config, label: config, unit: 'ns/call', lowerIsBetter: true, result, ratio: result.median / summarize(bareRuns).median };
}

const latency = (o: Partial<LatencyResult>): LatencyResult => ({ targetPerSec: 1e6, eventsPerSec: 1e6, alerts: 100, p50Ms: 1, p99Ms: 5, maxMs: 9, lost: 0, ...o });
const point = (mode: CapacityPoint['mode'], offeredPerSec: number, lost: number): CapacityPoint => ({
  mode, threads: 1, run: 0, offeredPerSec, deliveredPerSec: offeredPerSec, lost, lossFraction: lost / offeredPerSec,
});

describe('judge', () => {
  it('says not measured for zero samples, whatever the value', () => {
    expect(judge({ value: 0, samples: 0 }, 50, true)).toBe('not measured');
    expect(judge({ value: 100, samples: 0 }, 50, false)).toBe('not measured');
  });

  it('says not measured for a value that is not a number', () => {
    expect(judge({ value: NaN, samples: 3 }, 50, true)).toBe('not measured');
  });

  it('says met or missed against an upper limit, the limit itself met', () => {
    expect(judge({ value: 49, samples: 1 }, 50, true)).toBe('met');
    expect(judge({ value: 50, samples: 1 }, 50, true)).toBe('met');
    expect(judge({ value: 51, samples: 1 }, 50, true)).toBe('missed');
  });

  it('says met or missed against a lower limit', () => {
    expect(judge({ value: 0.95, samples: 5 }, 0.9, false)).toBe('met');
    expect(judge({ value: 0.9, samples: 5 }, 0.9, false)).toBe('met');
    expect(judge({ value: 0.7, samples: 5 }, 0.9, false)).toBe('missed');
  });
});

describe('the latency target', () => {
  it('is not measured on 0 alerts, though the p99 reads 0 ms', () => {
    const j = judgeLatency([latency({ alerts: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 })], 1e6, 50);
    expect(j).toEqual({ verdict: 'not measured', detail: '0 alerts in the latency run' });
  });

  it('is met or missed on the p99 of real alerts', () => {
    expect(judgeLatency([latency({ p99Ms: 5.3, alerts: 169 })], 1e6, 50).verdict).toBe('met');
    expect(judgeLatency([latency({ p99Ms: 60 })], 1e6, 50).verdict).toBe('missed');
  });

  it('says so when there were fewer alerts than intruders, or events were lost', () => {
    const j = judgeLatency([latency({ intruders: 19, alerts: 5, lost: 300 })], 1e6, 50);
    expect(j.verdict).toBe('met');
    expect(j.detail).toBe('p99 5.0 ms over 5 alerts; fewer alerts than the 19 intruders; 300 events lost, so some alerts may be missing');
  });

  it('is not measured when the run did not reach the target rate, or did not run at it', () => {
    expect(judgeLatency([latency({ eventsPerSec: 4e5 })], 1e6, 50).verdict).toBe('not measured');
    expect(judgeLatency([latency({ targetPerSec: 20_000 })], 1e6, 50).verdict).toBe('not measured');
  });
});

describe('the capacity target', () => {
  it('is met when a run offered the limit or more and lost nothing', () => {
    expect(judgeCapacity([point('capture', 3e6, 0), point('capture', 5.6e6, 0)], 'capture', 5e6).verdict).toBe('met');
  });

  it('is missed when a run below the limit lost events', () => {
    const j = judgeCapacity([point('pipeline', 1e6, 0), point('pipeline', 1.5e6, 20)], 'pipeline', 2e6);
    expect(j.verdict).toBe('missed');
    expect(j.detail).toMatch(/lost 20 events at 1\.50 M\/s/);
  });

  it('is not measured when the load never reached the limit and nothing was lost', () => {
    const j = judgeCapacity([point('capture', 2.96e6, 0), point('capture', 2.85e6, 0)], 'capture', 5e6);
    expect(j.verdict).toBe('not measured');
    expect(j.detail).toMatch(/offered at most 2\.96 M\/s/);
  });

  it('is not measured when losses start only above the limit and no loss-free run reached it', () => {
    expect(judgeCapacity([point('capture', 4e6, 0), point('capture', 6e6, 10)], 'capture', 5e6).verdict).toBe('not measured');
  });

  it('is not measured without runs of that mode', () => {
    expect(judgeCapacity([point('capture', 6e6, 0)], 'pipeline', 2e6).verdict).toBe('not measured');
  });
});

describe('the ratio targets', () => {
  const bareRuns = [100, 110, 120];
  it('compare the medians against bare: met, missed', () => {
    const cells = [cell('getppid', 'bare', bareRuns), cell('getppid', 'capture', [150, 160, 170], bareRuns), cell('getppid', 'other', [200, 210, 220], bareRuns)];
    const byText = new Map(judgeTargets({ cells }).map((j) => [j.target.text, j]));
    expect(byText.get('getppid: capture <= 2.0x bare')!.verdict).toBe('met');
    expect(byText.get('getppid: unwatched process <= 1.5x bare')!.verdict).toBe('missed');
    expect(byText.get('getppid: full pipeline <= 2.5x bare')!.verdict).toBe('not measured');
  });

  it('say how many interleaved rounds, paired with bare, were within the limit', () => {
    const cells = [cell('getppid', 'bare', [900, 90]), cell('getppid', 'capture', [210, 230], [900, 90])];
    const j = judgeTargets({ cells }).find((x) => x.target.text.startsWith('getppid: capture'))!;
    expect(j.verdict).toBe('met');
    expect(j.detail).toMatch(/1 of 2 rounds within the limit \(x0\.23, x2\.56\)/);
  });
});

describe('judgeTargets', () => {
  it('gives every target a line, each saying met, missed or not measured', () => {
    const lines = judgeTargets({}).map(formatJudgement);
    expect(lines).toHaveLength(TARGETS.length);
    for (const l of lines) expect(l).toMatch(/^not measured /);
  });
});
