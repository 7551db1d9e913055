import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resolveTarget } from '../../src/capture/targets.js';
import { SyswardenError } from '../../src/errors.js';

/** Whether pid 1 sits in the root of the cgroup v2 hierarchy here (containers, some VMs), as `pid:1` then would. */
const pid1InRoot = readFileSync('/proc/1/cgroup', 'utf8').split('\n').includes('0::/');

async function refusal(spec: string): Promise<SyswardenError> {
  try {
    await resolveTarget(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(SyswardenError);
    return e as SyswardenError;
  }
  throw new Error(`${spec} was accepted`);
}

describe('a target that resolves to the cgroup v2 root is refused: it would watch the whole host', () => {
  it.each(['cgroup:/', 'cgroup:.', 'cgroup://', 'cgroup:/./'])('%s', async (spec) => {
    const e = await refusal(spec);
    expect(e.code).toBe('ERR_INVALID_TARGET');
    expect(e.message).toMatch(/resolves to the root of the cgroup v2 hierarchy .*would watch every process on the host.*syswarden record --all/);
  });

  it.skipIf(!pid1InRoot)('pid:1 when init is in the root cgroup', async () => {
    expect((await refusal('pid:1')).message).toMatch(/'pid:1' resolves to the root/);
  });

  it('a real sub-cgroup still resolves', async () => {
    const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(3);
    if (own === '/') return; // this process is in the root itself: nothing below to name here
    const t = await resolveTarget(`cgroup:${own}`);
    expect(t.cgroup.level).toBeGreaterThan(0);
  });
});
