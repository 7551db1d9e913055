// STIDE and BoSC scoring speed (windows/s, one core), medians of 7 runs, against
// a baseline in the same run: one pass that only reads every window's calls.
// Run after `tsc` (imports ../dist); SYSWARDEN_DIST points elsewhere.
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const dist = resolve(process.env.SYSWARDEN_DIST ?? join(here, '../dist'));
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const { readTrace } = await load('trace/read-trace.js');
const { windowStreams, concatWindows } = await load('window/windows.js');
const { factory: stide } = await load('detect/stide.js');
const { factory: bosc } = await load('detect/bosc.js');
const { datasetPath } = await load('trace/dataset.js');

const RUNS = 7;
const normalDir = join(datasetPath(), 'wordpress/iscc/normal');
const attackDir = join(datasetPath(), 'wordpress/iscc/exec');
if (!existsSync(normalDir)) {
  console.error(`bench: dataset not found at ${datasetPath()}. Set SYSWARDEN_DATASET.`);
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
