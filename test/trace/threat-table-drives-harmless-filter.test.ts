import { describe, expect, it } from 'vitest';
import { builtinThreatTablePath, loadThreatTable } from '../../src/trace/threat-levels.js';
import { filterStream, makeFilter } from '../../src/window/filter.js';
import { fixture, nrs } from './helpers.js';

describe('threat table and the harmless filter', () => {
  it('drops exactly the level-4 calls of the table', async () => {
    const table = await loadThreatTable(fixture('threat-table.csv'));
    const filter = makeFilter('harmless', table);
    const calls = Uint16Array.from(nrs('read', 'stat', 'fstat', 'SIGCHLD', 'getpid', 'write'));
    expect([...filterStream(calls, filter).calls]).toEqual(nrs('read', 'SIGCHLD', 'write'));
    expect([...filterStream(calls, makeFilter('none')).calls]).toEqual([...calls]);
  });

  it('keeps the time of exactly each call it keeps', async () => {
    const filter = makeFilter('harmless', await loadThreatTable(fixture('threat-table.csv')));
    const calls = Uint16Array.from(nrs('stat', 'read', 'fstat', 'SIGCHLD', 'getpid', 'write', 'stat'));
    const times = Float64Array.from([10, 20, 30, 40, 50, 60, 70]);
    const kept = filterStream(calls, filter, times);
    expect([...kept.calls]).toEqual(nrs('read', 'SIGCHLD', 'write'));
    expect([...kept.times!]).toEqual([20, 40, 60]);
    expect(filterStream(calls, filter).times).toBeUndefined();
  });

  it('the built-in table lists the 12 harmless calls of the study', async () => {
    const table = await loadThreatTable(builtinThreatTablePath());
    expect(makeFilter('harmless', table).dropped).toBe(12);
    expect(table.levels.get(nrs('getuid')[0]!)).toBe(4);
  });

  it('a CSV without the needed columns is rejected with file and line', async () => {
    await expect(loadThreatTable(fixture('threat-table-bad-header.csv'))).rejects.toThrow(/threat-table-bad-header\.csv:1: header .*lacks/);
  });
});
