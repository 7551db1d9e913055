import { describe, expect, it } from 'vitest';
import { parseResponseOptions } from '../../src/response/options.js';
import { Responder } from '../../src/response/responder.js';
import { runCli } from '../capture/helpers.js';

describe('the response options', () => {
  it('are off unless --respond is given, with the documented defaults', () => {
    expect(parseResponseOptions({})).toBeUndefined();
    expect(parseResponseOptions({ respond: 'freeze' })).toEqual({ action: 'freeze', freezeForMs: 60_000, limit: 3 });
    expect(parseResponseOptions({ respond: 'freeze', 'freeze-for': '0', 'respond-limit': '5' })).toEqual({ action: 'freeze', freezeForMs: 0, limit: 5 });
    expect(parseResponseOptions({ respond: 'kill' })).toEqual({ action: 'kill', freezeForMs: 60_000, limit: 3 });
  });

  it('refuse what makes no sense, naming the option and the fix', () => {
    expect(() => parseResponseOptions({ respond: 'stop' })).toThrow(/--respond must be one of freeze, kill, got 'stop'/);
    expect(() => parseResponseOptions({ 'freeze-for': '5' })).toThrow(/--freeze-for only applies with --respond/);
    expect(() => parseResponseOptions({ 'respond-limit': '5' })).toThrow(/--respond-limit only applies with --respond/);
    expect(() => parseResponseOptions({ respond: 'kill', 'freeze-for': '5' })).toThrow(/only applies with --respond freeze/);
    expect(() => parseResponseOptions({ respond: 'freeze', 'freeze-for': '-1' })).toThrow(/--freeze-for must be a number of seconds/);
    expect(() => parseResponseOptions({ respond: 'freeze', 'respond-limit': '0' })).toThrow(/--respond-limit must be a whole number from 1/);
  });

  it('the library refuses bad options too', async () => {
    await expect(Responder.create({ action: 'pause' as never, write: () => {} })).rejects.toThrow(/one of freeze, kill/);
    await expect(Responder.create({ action: 'kill', limit: 0, write: () => {} })).rejects.toThrow(/limit must be a whole number >= 1/);
  });

  it('watch refuses them before anything starts, with no stack trace', async () => {
    const r = await runCli(['watch', '--target', 'cgroup:/nowhere', '--model', '/nonexistent', '--respond', 'thaw']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--respond must be one of freeze, kill/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
