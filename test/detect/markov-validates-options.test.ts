import { describe, expect, it } from 'vitest';
import { Markov, factory } from '../../src/detect/markov.js';
import { SyswardenError } from '../../src/errors.js';
import { windowStreams } from '../../src/window/windows.js';
import { lcg, normalStream } from './helpers/sequence-toy.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof SyswardenError ? e.code : `not a SyswardenError: ${String(e)}`;
  }
  return undefined;
}

describe('markov options and inputs', () => {
  it('is registered as a one-class detector named markov, version 1', () => {
    const d = factory.create();
    expect([factory.name, factory.version, d.name, d.version, d.supervised, d.windowSize]).toEqual(['markov', 1, 'markov', 1, false, 0]);
    expect(factory.description.length).toBeGreaterThan(10);
  });

  it('refuses a floor outside [2^-40, 0.5], naming it', () => {
    for (const floor of [0, -1, 0.6, Number.NaN, 2 ** -41]) {
      expect(code(() => new Markov({ floor }))).toBe('ERR_INVALID_INPUT');
      expect(() => new Markov({ floor })).toThrow(/floor/);
    }
    expect(new Markov({ floor: 0.5 }).floor).toBe(0.5);
  });

  it('fits windows of 3 to 15 calls and refuses others', () => {
    const calls = normalStream(200, lcg(1));
    for (const size of [2, 16]) expect(code(() => new Markov().fit(windowStreams([{ calls }], size)))).toBe('ERR_INVALID_INPUT');
    for (const size of [3, 15]) expect(code(() => new Markov().fit(windowStreams([{ calls }], size)))).toBeUndefined();
  });

  it('refuses to fit without normal windows, and to score before fit or at another window size', () => {
    const calls = normalStream(200, lcg(1));
    expect(code(() => new Markov().fit(windowStreams([{ calls, label: 1 }], 4)))).toBe('ERR_INVALID_INPUT');
    expect(code(() => new Markov().score(windowStreams([{ calls }], 4)))).toBe('ERR_NOT_FITTED');
    const d = new Markov();
    d.fit(windowStreams([{ calls }], 4));
    expect(code(() => d.score(windowStreams([{ calls }], 5)))).toBe('ERR_INVALID_INPUT');
    expect(code(() => d.score(windowStreams([{ calls }], 4), new Float64Array(3)))).toBe('ERR_INVALID_INPUT');
  });
});
