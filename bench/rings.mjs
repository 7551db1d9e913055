// One shared ring against a ring per group of CPUs (as root). THREADS
// threads (default: one per CPU, first argument) each make CALLS getppid
// calls (default 500 000, second argument) in a watched cgroup; the runs
// alternate bare, one shared ring, and a ring per CPUS_PER_RING CPUs
// (default 1, third argument), RUNS times (default 7). Reports the median
// time per call per thread and its ratio to bare, side by side, and the
// consumer's CPU time per run. Threads on several CPUs reserve records at
// once: with one ring they queue on its lock.
// Run after the build (imports ../dist); SYSWARDEN_DIST points elsewhere.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const dist = resolve(process.env.SYSWARDEN_DIST ?? join(here, '../dist'));
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const { AGENT_CONSUMER_NICE, Collector } = await load('capture/collector.js');
const { createScratchCgroup } = await load('capture/scratch-cgroup.js');
const { workloadPath } = await load('capture/addon.js');

const THREADS = Number(process.argv[2] ?? availableParallelism());
const CALLS = Number(process.argv[3] ?? 500_000);
const PER_RING = Number(process.argv[4] ?? 1);
const RUNS = Number(process.argv[5] ?? 7);

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const cg = createScratchCgroup(`sw-bench-rings-${process.pid}`);
const modes = { bare: undefined, shared: 0, [`${PER_RING} CPU per ring`]: PER_RING };
const perCall = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
const cpu = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
let lost = 0;
try {
  for (let r = 0; r < RUNS; r++) {
    for (const [mode, cpusPerRing] of Object.entries(modes)) {
      const c = cpusPerRing === undefined ? undefined : await Collector.open({ targets: [cg.spec], consumerNice: AGENT_CONSUMER_NICE, cpusPerRing });
      const c0 = cpuMs();
      const out = spawnSync(workloadPath(), ['--cgroup', cg.dir, 'getppid', String(CALLS), String(THREADS)], { encoding: 'utf8' });
      if (out.status !== 0) throw new Error(`sw-workload failed: ${out.stderr}`);
      if (c) {
        await c.close();
        const s = c.stats();
        lost += s.kernel.dropped + s.user.droppedEvents;
        cpu[mode].push(cpuMs() - c0);
      }
      perCall[mode].push(Number(/elapsed_ns (\d+)/.exec(out.stdout)[1]) / CALLS);
    }
  }
} finally {
  await cg.remove();
}
const bare = median(perCall.bare);
console.log(`getppid, ${THREADS} threads x ${CALLS} calls, ${RUNS} runs interleaved (median ns per call per thread, ratio to bare, syswarden CPU ms per run):`);
for (const mode of Object.keys(modes)) {
  const m = median(perCall[mode]);
  const extra = cpu[mode].length ? `  cpu ${median(cpu[mode]).toFixed(0)} ms` : '';
  console.log(`  ${mode.padEnd(16)} ${m.toFixed(0).padStart(6)} ns  x${(m / bare).toFixed(2)}${extra}`);
}
console.log(`events lost: ${lost}`);
