import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { defaultWorkers, MAX_DEFAULT_WORKERS } from '../../src/pipeline/pipeline.js';

describe('the default number of scoring workers', () => {
  it('is one per core up to a cap, so a host with hundreds of CPUs starts, not throws', () => {
    expect(defaultWorkers(1)).toBe(1);
    expect(defaultWorkers(2)).toBe(2);
    expect(defaultWorkers(MAX_DEFAULT_WORKERS)).toBe(MAX_DEFAULT_WORKERS);
    for (const cores of [64, 128, 256, 257, 1024]) expect(defaultWorkers(cores), `${cores} cores`).toBe(MAX_DEFAULT_WORKERS);
    expect(defaultWorkers(0), 'a count the runtime could not tell').toBe(1);
    expect(defaultWorkers(Number.NaN)).toBe(1);
  });

  it('on this machine is the cores available, capped', () => {
    expect(defaultWorkers()).toBe(Math.min(availableParallelism(), MAX_DEFAULT_WORKERS));
  });
});
