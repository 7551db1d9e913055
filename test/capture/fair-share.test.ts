import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import { AGENT_CONSUMER_NICE, Collector, type CollectorStats } from '../../src/capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runWorkload, sleep } from './helpers.js';

// Configured as syswarden's own commands run it: the consumer thread ahead of the flood.
const AGENT = { consumerNice: AGENT_CONSUMER_NICE };

// A 64 KiB ring drained every 20 ms takes about 2,700 records per drain,
// some 140 thousand a second: two threads of getppid flood it many times
// over, and 20 thousand calls a second fit with room to spare.
const SMALL_RING = { ringBytes: 65536, pollMs: 20 };

let flood: ScratchCgroup;
let light: ScratchCgroup;
beforeAll(() => {
  flood = createScratchCgroup(`sw-test-flood-${process.pid}`);
  light = createScratchCgroup(`sw-test-light-${process.pid}`);
});
afterAll(async () => {
  await flood.remove();
  await light.remove();
});

function startFlood(): { stop: () => Promise<void> } {
  const p: ChildProcess = spawn(workloadPath(), ['--cgroup', flood.dir, 'getppid', '1000000000000', '2'], { stdio: 'ignore' });
  return {
    stop: async () => {
      p.kill('SIGKILL');
      await new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once('exit', r)));
    },
  };
}

function slotOf(s: CollectorStats, spec: string) {
  const row = s.perSlot?.find((p) => p.spec === spec);
  if (!row) throw new Error(`no counters for ${spec}`);
  return row;
}

/** Light's calls (1 s at 20 k/s) while the flood runs; the collector's stats after. */
async function lightBesideFlood(fairShare: boolean): Promise<CollectorStats> {
  const c = await Collector.open({ targets: [flood.spec, light.spec], ...SMALL_RING, ...AGENT, fairShare });
  const f = startFlood();
  try {
    await sleep(200);
    await runWorkload(['--cgroup', light.dir, 'rate', '20000', '1']);
  } finally {
    await f.stop();
    await c.close();
  }
  return c.stats();
}

describe('fair share of the ring', () => {
  it('keeps a light container whole beside one that floods the ring; without it the light one is crowded out', async () => {
    const fair = await lightBesideFlood(true);
    const unfair = await lightBesideFlood(false);
    for (const s of [fair, unfair]) {
      for (const spec of [flood.spec, light.spec]) {
        const r = slotOf(s, spec);
        expect(r.matched, `${spec}: matched = emitted + dropped`).toBe(r.emitted + r.kernelDropped);
      }
    }
    const lightFair = slotOf(fair, light.spec);
    const lightUnfair = slotOf(unfair, light.spec);
    expect(lightFair.matched).toBeGreaterThan(15000);
    expect(lightFair.kernelDropped / lightFair.matched, 'share of the light container lost with fair share').toBeLessThan(0.01);
    expect(lightUnfair.kernelDropped / lightUnfair.matched, 'share of the light container lost without it').toBeGreaterThan(0.5);
    // The flood's loss is counted as such, and the shedding is reported.
    expect(slotOf(fair, flood.spec).kernelDropped).toBeGreaterThan(0);
    expect(fair.fairShare!.episodes).toBeGreaterThanOrEqual(1);
    expect(unfair.fairShare!.episodes).toBe(0);
  });

  it('lets a shed container back in as soon as its flood ends', async () => {
    const c = await Collector.open({ targets: [flood.spec, light.spec], ...SMALL_RING, ...AGENT });
    try {
      const f = startFlood();
      await sleep(300);
      await f.stop();
      expect(c.stats().fairShare!.episodes, 'the flood was shed').toBeGreaterThanOrEqual(1);
      // The same container, now calm: what it does is recorded again.
      const before = slotOf(c.stats(), flood.spec);
      await runWorkload(['--cgroup', flood.dir, 'rate', '20000', '1']);
      await sleep(100);
      const after = slotOf(c.stats(), flood.spec);
      const matched = after.matched - before.matched;
      expect(matched).toBeGreaterThan(15000);
      expect((after.kernelDropped - before.kernelDropped) / matched, 'share lost after the flood ended').toBeLessThan(0.05);
      expect(c.stats().fairShare!.shedNow).toBe(0);
    } finally {
      await c.close();
    }
  });

  it('never sheds a lone container: its loss is the ring running full', async () => {
    const c = await Collector.open({ targets: [flood.spec], ...SMALL_RING, ...AGENT });
    const f = startFlood();
    await sleep(300);
    await f.stop();
    await c.close();
    const s = c.stats();
    expect(s.kernel.dropped).toBeGreaterThan(0);
    expect(s.fairShare!.episodes).toBe(0);
  });
});
