import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadPath } from '../../src/capture/addon.js';
import { AGENT_CONSUMER_NICE, Collector, type CollectorStats } from '../../src/capture/collector.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runWorkload, waitFor } from './helpers.js';

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

function startFlood(): { stop: () => Promise<void>; proc: ChildProcess } {
  const p: ChildProcess = spawn(workloadPath(), ['--cgroup', flood.dir, 'getppid', '1000000000000', '2'], { stdio: 'ignore' });
  return {
    proc: p,
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

const noRow = { matched: 0, emitted: 0, kernelDropped: 0 };
function rowOf(s: CollectorStats, spec: string) {
  return s.perSlot?.find((p) => p.spec === spec) ?? noRow;
}

interface Run {
  /** The collector's stats after close. */
  stats: CollectorStats;
  /** The light container's row when the flood had begun to cost: shed (fair share) or dropping (without). */
  lightAtFlood: { matched: number; kernelDropped: number };
}

/**
 * The light container calls (2 s at 20 k/s); once it is seen, the flood
 * starts beside it. The share is judged among the containers making calls,
 * so the flood is shed at the first rebalance that sees both under pressure.
 * `others`: more targets watched, idle.
 */
async function lightBesideFlood(fairShare: boolean, others: ScratchCgroup[] = []): Promise<Run> {
  const c = await Collector.open({ targets: [flood.spec, light.spec, ...others.map((o) => o.spec)], ...SMALL_RING, ...AGENT, fairShare });
  let f: { stop: () => Promise<void> } | undefined;
  let lightAtFlood = noRow;
  try {
    const lightRun = runWorkload(['--cgroup', light.dir, 'rate', '20000', '2']);
    await waitFor(() => rowOf(c.stats(), light.spec).matched > 2000, 'the light container making calls');
    f = startFlood();
    if (fairShare) await waitFor(() => c.stats().fairShare!.episodes >= 1, 'the flood shed');
    else await waitFor(() => rowOf(c.stats(), flood.spec).kernelDropped > 0, 'the ring running full');
    lightAtFlood = { ...rowOf(c.stats(), light.spec) };
    await lightRun;
  } finally {
    await f?.stop();
    await c.close();
  }
  return { stats: c.stats(), lightAtFlood };
}

/** The light container's share lost after the flood had been dealt with. */
function lightLossAfter(r: Run): { matched: number; share: number } {
  const now = slotOf(r.stats, light.spec);
  const matched = now.matched - r.lightAtFlood.matched;
  return { matched, share: (now.kernelDropped - r.lightAtFlood.kernelDropped) / matched };
}

describe('fair share of the ring', () => {
  it('keeps a light container whole beside one that floods the ring; without it the light one is crowded out', async () => {
    const fair = await lightBesideFlood(true);
    const unfair = await lightBesideFlood(false);
    for (const r of [fair, unfair]) {
      for (const spec of [flood.spec, light.spec]) {
        const row = slotOf(r.stats, spec);
        expect(row.matched, `${spec}: matched = emitted + dropped`).toBe(row.emitted + row.kernelDropped);
      }
    }
    expect(slotOf(fair.stats, light.spec).matched).toBeGreaterThan(30000);
    const lostFair = lightLossAfter(fair);
    const lostUnfair = lightLossAfter(unfair);
    expect(lostFair.matched).toBeGreaterThan(10000);
    expect(lostFair.share, 'share of the light container lost once the flood was shed').toBeLessThan(0.01);
    expect(lostUnfair.share, 'share of the light container lost without fair share').toBeGreaterThan(0.5);
    // The flood's loss is counted as such, and the shedding is reported: only the flood was shed.
    expect(slotOf(fair.stats, flood.spec).kernelDropped).toBeGreaterThan(0);
    expect(fair.stats.fairShare!.episodes).toBe(1);
    expect(unfair.stats.fairShare!.episodes).toBe(0);
  });

  it('divides the ring among the containers making calls, not among every one watched: 50 idle ones take no share', async () => {
    // Divided among 52 watched targets, the light container's 400 calls a
    // drain would be over its share (2,700 / 52) and it would be shed too.
    const idle = Array.from({ length: 50 }, (_, i) => createScratchCgroup(`sw-test-idle-${process.pid}-${i}`));
    let r: Run;
    try {
      r = await lightBesideFlood(true, idle);
    } finally {
      for (const o of idle) await o.remove();
    }
    expect(r.stats.fairShare!.episodes, 'only the flood was shed').toBe(1);
    expect(lightLossAfter(r).share, 'share of the light container lost beside 50 idle targets').toBeLessThan(0.01);
    for (const o of idle) expect(r.stats.perSlot?.some((row) => row.spec === o.spec), `idle ${o.spec} counted nothing`).toBe(false);
  });

  it('lets a shed container back in as soon as its flood ends', async () => {
    const c = await Collector.open({ targets: [flood.spec, light.spec], ...SMALL_RING, ...AGENT });
    try {
      const lightRun = runWorkload(['--cgroup', light.dir, 'rate', '20000', '2']);
      await waitFor(() => rowOf(c.stats(), light.spec).matched > 2000, 'the light container making calls');
      const f = startFlood();
      await waitFor(() => c.stats().fairShare!.episodes >= 1, 'the flood shed');
      await f.stop();
      await lightRun;
      // The same container, now calm: what it does is recorded again.
      const before = slotOf(c.stats(), flood.spec);
      await runWorkload(['--cgroup', flood.dir, 'rate', '20000', '1']);
      await waitFor(() => slotOf(c.stats(), flood.spec).matched - before.matched >= 20000, "the calm container's calls counted");
      const after = slotOf(c.stats(), flood.spec);
      const matched = after.matched - before.matched;
      expect((after.kernelDropped - before.kernelDropped) / matched, 'share lost after the flood ended').toBeLessThan(0.05);
      expect(c.stats().fairShare!.shedNow).toBe(0);
    } finally {
      await c.close();
    }
  });

  it('keeps a flood shed while the scheduler pauses it for a few drains: it is not let back in to crowd the others out', async () => {
    const c = await Collector.open({ targets: [flood.spec, light.spec], ...SMALL_RING, ...AGENT });
    let f: ReturnType<typeof startFlood> | undefined;
    try {
      const lightRun = runWorkload(['--cgroup', light.dir, 'rate', '20000', '2']);
      await waitFor(() => rowOf(c.stats(), light.spec).matched > 2000, 'the light container making calls');
      f = startFlood();
      await waitFor(() => c.stats().fairShare!.episodes >= 1, 'the flood shed');
      const lightAtShed = { ...rowOf(c.stats(), light.spec) };
      // What a busy host does to a flood's threads: they stop calling for a
      // few drains, then go on as before.
      f.proc.kill('SIGSTOP');
      const drains = c.stats().drains ?? 0;
      await waitFor(() => (c.stats().drains ?? 0) >= drains + 3, 'three drains with the flood paused');
      f.proc.kill('SIGCONT');
      await lightRun;
      const s = c.stats();
      expect(s.fairShare!.episodes, 'the flood was shed once and stayed shed').toBe(1);
      const now = slotOf(s, light.spec);
      expect((now.kernelDropped - lightAtShed.kernelDropped) / (now.matched - lightAtShed.matched), 'share of the light container lost').toBeLessThan(0.01);
    } finally {
      f?.proc.kill('SIGCONT');
      await f?.stop();
      await c.close();
    }
  });

  it('never sheds a lone container, even among idle watched ones: its loss is the ring running full', async () => {
    const c = await Collector.open({ targets: [flood.spec, light.spec], ...SMALL_RING, ...AGENT });
    const f = startFlood();
    try {
      // Many drains under pressure with the flood alone.
      const drains = c.stats().drains ?? 0;
      await waitFor(() => c.stats().kernel.dropped > 0 && (c.stats().drains ?? 0) >= drains + 20, 'twenty drains of a flooded ring');
    } finally {
      await f.stop();
      await c.close();
    }
    const s = c.stats();
    expect(s.kernel.dropped).toBeGreaterThan(0);
    expect(s.fairShare!.episodes).toBe(0);
  });
});
