#!/usr/bin/env node
// Capture overhead: a tight getppid loop (sw-workload, 2M calls) bare, under
// strace -f, under syswarden watching it, and under syswarden watching some
// other cgroup. Runs are interleaved so drift hits every configuration alike;
// prints the median ns per call with min-max and the ratio to bare.
//   node bench/capture.mjs [--calls N] [--runs N] [--quick] [--json out.json]
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Collector } from '../dist/capture/collector.js';
import { workloadPath } from '../dist/capture/addon.js';
import { createScratchCgroup } from '../dist/capture/scratch-cgroup.js';

const { values } = parseArgs({
  options: { calls: { type: 'string' }, runs: { type: 'string' }, quick: { type: 'boolean' }, json: { type: 'string' } },
});
const calls = Number(values.calls ?? (values.quick ? 200000 : 2000000));
const runs = Number(values.runs ?? (values.quick ? 3 : 5));

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('exit', (code) => {
      const m = /elapsed_ns (\d+)/.exec(out);
      if (code !== 0 || !m) reject(new Error(`${cmd} ${args.join(' ')} failed (${code})`));
      else resolve(Number(m[1]) / calls);
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const watched = createScratchCgroup(`sw-bench-watched-${process.pid}`);
const other = createScratchCgroup(`sw-bench-other-${process.pid}`);
const wl = workloadPath();
const results = { bare: [], strace: [], 'syswarden (watched)': [], 'syswarden (other cgroup)': [] };
const capture = { events: 0, kernelDropped: 0, userDropped: 0 };

async function withCollector(target, body) {
  const c = await Collector.open({ targets: [target] });
  c.on('batch', (b) => (capture.events += b.count));
  try {
    return await body();
  } finally {
    await c.close();
    const s = c.stats();
    capture.kernelDropped += s.kernel.dropped;
    capture.userDropped += s.user.droppedEvents;
  }
}

try {
  for (let r = 0; r < runs; r++) {
    results.bare.push(await run(wl, ['--cgroup', watched.dir, 'getppid', String(calls)]));
    results.strace.push(await run('strace', ['-f', '-o', '/dev/null', wl, '--cgroup', other.dir, 'getppid', String(calls)]));
    results['syswarden (watched)'].push(
      await withCollector(watched.spec, () => run(wl, ['--cgroup', watched.dir, 'getppid', String(calls)])),
    );
    results['syswarden (other cgroup)'].push(
      await withCollector(other.spec, () => run(wl, ['--cgroup', watched.dir, 'getppid', String(calls)])),
    );
    process.stderr.write(`run ${r + 1}/${runs} done\n`);
  }
} finally {
  await watched.remove();
  await other.remove();
}

const bare = median(results.bare);
const rows = Object.entries(results).map(([name, xs]) => ({
  config: name,
  medianNs: median(xs),
  minNs: Math.min(...xs),
  maxNs: Math.max(...xs),
  ratio: median(xs) / bare,
}));
console.log(`getppid loop, ${calls} calls, ${runs} interleaved runs (ns per call)`);
console.log(`${'configuration'.padEnd(26)} ${'median'.padStart(8)} ${'min-max'.padStart(17)} ${'x bare'.padStart(7)}`);
for (const r of rows) {
  console.log(
    `${r.config.padEnd(26)} ${r.medianNs.toFixed(1).padStart(8)} ${`${r.minNs.toFixed(1)}-${r.maxNs.toFixed(1)}`.padStart(17)} ${r.ratio.toFixed(2).padStart(7)}`,
  );
}
console.log(`syswarden delivered ${capture.events} events; dropped ${capture.kernelDropped} in the kernel, ${capture.userDropped} in user space`);
const targets = { 'syswarden (watched)': 2.0, 'syswarden (other cgroup)': 1.5 };
for (const [name, limit] of Object.entries(targets)) {
  const r = rows.find((x) => x.config === name);
  console.log(`target ${name} <= ${limit}x bare: ${r.ratio <= limit ? 'met' : 'MISSED'} (${r.ratio.toFixed(2)}x)`);
}
if (values.json) writeFileSync(values.json, JSON.stringify({ calls, runs, rows, capture }, null, 2));
