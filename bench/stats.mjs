// What a stats() reading costs with many targets watched (as root): TARGETS
// cgroups (default 500, first argument) are watched, BUSY of them (default
// 10, second argument) run a process making a call every 100 µs, and
// Collector.stats() is read READS times, 1 ms apart (as a busy agent's
// status, metrics and loss checks would), with the addon's own reading
// beside it. Reports median / p90 / p99 in µs, and the rows a reading returns.
// Run after the build (imports ../dist); SYSWARDEN_DIST points elsewhere.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const dist = resolve(process.env.SYSWARDEN_DIST ?? join(here, '../dist'));
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const { Collector } = await load('capture/collector.js');
const { createScratchCgroup } = await load('capture/scratch-cgroup.js');
const { workloadPath } = await load('capture/addon.js');

const TARGETS = Number(process.argv[2] ?? 500);
const BUSY = Math.min(TARGETS, Number(process.argv[3] ?? 10));
const READS = 2000;

function summary(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1);
  return `median ${at(0.5)}  p90 ${at(0.9)}  p99 ${at(0.99)}`;
}

const root = createScratchCgroup(`sw-bench-stats-${process.pid}`);
const kids = Array.from({ length: TARGETS }, (_, i) => root.child(`t${i}`));
const busy = [];
const c = await Collector.open({});
try {
  for (const k of kids) await c.addTarget(k.spec);
  for (let i = 0; i < BUSY; i++) busy.push(spawn(workloadPath(), ['--cgroup', kids[i * Math.floor(TARGETS / BUSY)].dir, 'forever', '100'], { stdio: 'ignore' }));
  // Let every busy target count something before the clock starts.
  const deadline = Date.now() + 10_000;
  while ((c.stats().perSlot?.length ?? 0) < BUSY && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const native = c.native;
  const js = [];
  const raw = [];
  let rows = 0;
  for (let i = 0; i < READS; i++) {
    await new Promise((r) => setTimeout(r, 1));
    // Alternate which goes first, so neither always meets the freshly changed rows.
    const first = i % 2 === 0;
    if (!first) {
      const t = process.hrtime.bigint();
      native.stats();
      raw.push(Number(process.hrtime.bigint() - t) / 1e3);
    }
    const t0 = process.hrtime.bigint();
    const s = c.stats();
    js.push(Number(process.hrtime.bigint() - t0) / 1e3);
    rows = s.perSlot.length;
    if (first) {
      const t = process.hrtime.bigint();
      native.stats();
      raw.push(Number(process.hrtime.bigint() - t) / 1e3);
    }
  }
  console.log(`stats() with ${TARGETS} targets watched, ${BUSY} busy, ${rows} rows per reading, ${READS} readings 1 ms apart (µs):`);
  console.log(`  Collector.stats()      ${summary(js)}`);
  console.log(`  the addon's reading    ${summary(raw)}`);
} finally {
  for (const b of busy) b.kill('SIGKILL');
  await c.close();
  await root.remove();
}
