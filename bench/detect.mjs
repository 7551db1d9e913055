// STIDE and BoSC scoring speed (windows/s, one core), medians of 7 runs, against
// a baseline in the same run: one pass that only reads every window's calls;
// then Random Forest prediction on three kinds of input (see the end).
// Run after `tsc` (imports ../dist); SYSWARDEN_DIST points elsewhere.
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const dist = resolve(process.env.SYSWARDEN_DIST ?? join(here, '../dist'));
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const { readTrace } = await load('trace/read-trace.js');
const { windowStreams, concatWindows } = await load('window/windows.js');
const { factory: stide } = await load('detect/stide.js');
const { factory: bosc } = await load('detect/bosc.js');
const { datasetPath, datasetMissing } = await load('trace/dataset.js');

const RUNS = 7;
const normalDir = join(datasetPath(), 'wordpress/iscc/normal');
const attackDir = join(datasetPath(), 'wordpress/iscc/exec');
const missing = datasetMissing(['wordpress/iscc/normal', 'wordpress/iscc/exec']);
if (missing) {
  console.error(`bench: ${missing}`);
  process.exit(1);
}
const files = (dir) => readdirSync(dir).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).map((f) => join(dir, f));
const calls = async (paths) => Promise.all(paths.map(async (p) => (await readTrace(p)).threads[0].calls));
const normal = await calls(files(normalDir));
const attack = await calls(files(attackDir));

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function baseline(set) {
  let acc = 0;
  const { data } = set;
  for (let i = 0; i < data.length; i++) acc = (acc + data[i]) | 0;
  return acc;
}

console.log(`node ${process.version}, ${RUNS} runs each, median windows/s (one core)`);
console.log('window  workload windows   baseline      stide       bosc   stide/base  bosc/base');
for (const w of [3, 7, 15]) {
  const train = windowStreams(normal.slice(0, 12).map((c) => ({ calls: c, label: 0 })), w);
  // Test = the other normal traces and every attack trace, three times over: ~1M windows.
  const once = windowStreams([...normal.slice(12), ...attack].map((c) => ({ calls: c })), w);
  const test = concatWindows([once, once, once]);
  const detectors = [stide.create(), bosc.create()];
  for (const d of detectors) d.fit(train);
  const out = new Float64Array(test.count);
  const rate = (fn) => {
    fn(); // warm-up: JIT and BoSC's distance cache
    const times = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = process.hrtime.bigint();
      fn();
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return test.count / median(times);
  };
  const base = rate(() => baseline(test));
  const [s, b] = detectors.map((d) => rate(() => d.score(test, out)));
  const f = (x) => `${(x / 1e6).toFixed(2)}M`.padStart(10);
  console.log(`${String(w).padEnd(8)}${String(test.count).padStart(16)} ${f(base)} ${f(s)} ${f(b)} ${(s / base).toFixed(3).padStart(12)} ${(b / base).toFixed(3).padStart(10)}`);
}

// Random Forest prediction (100 trees fitted on window 15): the speed target
// is for prediction, and what a forest costs depends on how many windows are
// distinct (scoring scores each distinct window once), so three inputs.
const { factory: rf } = await load('detect/rf.js');
const { uniqueWindows } = await load('detect/lib/unique.js');
{
  const w = 15;
  const half = (xs) => xs.slice(0, Math.floor(xs.length / 2));
  const rest = (xs) => xs.slice(Math.floor(xs.length / 2));
  const train = windowStreams([...half(normal).map((c) => ({ calls: c, label: 0 })), ...half(attack).map((c) => ({ calls: c, label: 1 }))], w);
  const test = windowStreams([...rest(normal), ...rest(attack)].map((c) => ({ calls: c })), w);
  const forest = rf.create();
  const t0 = process.hrtime.bigint();
  forest.fit(train);
  const fitS = Number(process.hrtime.bigint() - t0) / 1e9;
  const distinct = uniqueWindows(test);
  // Random windows over the calls the traces use: no two alike, paths shallow.
  const seen = [...new Set(train.data)];
  let x = 0x2545f491;
  const random = new Uint16Array(200_000 * w);
  for (let i = 0; i < random.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    random[i] = seen[(x >>> 0) % seen.length];
  }
  const rate = (count, fn) => {
    fn();
    const times = [];
    for (let r = 0; r < 5; r++) {
      const s = process.hrtime.bigint();
      fn();
      times.push(Number(process.hrtime.bigint() - s) / 1e9);
    }
    return count / median(times);
  };
  const out = new Float64Array(test.count);
  const rows = [
    [`the test half as it comes (${test.count} windows)`, rate(test.count, () => forest.score(test, out))],
    [`its ${distinct.count} distinct windows only`, rate(distinct.count, () => forest.probaRows(distinct.data, distinct.count))],
    ['200000 random windows', rate(200_000, () => forest.probaRows(random, 200_000))],
  ];
  console.log(`\nRandom Forest prediction, window ${w}, 100 trees (fit ${fitS.toFixed(2)} s on ${train.count} windows), median of 5, target 200K windows/s`);
  for (const [what, r] of rows) console.log(`  ${what.padEnd(48)} ${(r / 1e3).toFixed(0).padStart(8)}K windows/s  ${(r / 2e5).toFixed(2)}x target`);
}
