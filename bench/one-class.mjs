// A one-class detector (argument: its name, default markov; e.g. hybrid,
// ngram, bosc): scoring speed (windows/s, one core,
// median of 7 runs over >= 1M windows) against a baseline in the same run
// (one pass that only reads every window's calls), fit time on 1M syscalls,
// the msgpack size of the saved state and the heap the fitted model holds.
// Data: the hids-docker dataset ($SYSWARDEN_DATASET or ../shared/datasets/hids-docker);
// without it, a synthetic stream (said so in the output). The 1M-call fit
// also runs on a synthetic "busy container" with far more variety than the
// dataset (200 handlers over 300 calls, 64 threads, optional steps and loops
// chosen per request, so most requests are near-unique call sequences), as
// the size worst case; the model fitted there then scores 100 000 windows of
// new requests of that program once (nothing cached: what live scoring
// meets), in the last column.
// Run after `tsc` (imports ../dist); SYSWARDEN_DIST points elsewhere.
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Packr } from 'msgpackr';

const here = fileURLToPath(new URL('.', import.meta.url));
const dist = resolve(process.env.SYSWARDEN_DIST ?? join(here, '../dist'));
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const { readTrace } = await load('trace/read-trace.js');
const { windowStreams, concatWindows } = await load('window/windows.js');
const { getDetector } = await load('detect/registry.js');
const detector = getDetector(process.argv[2] ?? 'markov');
const { datasetPath, datasetMissing } = await load('trace/dataset.js');

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

const RUNS = 7;
const MIN_WINDOWS = 1_000_000;
const FIT_CALLS = 1_000_000;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function xorshift(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/**
 * A server's request handlers: fixed call sequences from a skewed vocabulary
 * of `vocab` numbers, some steps optional, some looping (read/write loops).
 */
function serverPrograms(rand, handlers, vocab) {
  const pick = () => Math.floor(vocab * rand() ** 2); // small numbers (read, write, poll...) far more often
  return Array.from({ length: handlers }, () =>
    Array.from({ length: 10 + Math.floor(rand() * 60) }, () => ({ call: pick(), optional: rand() < 0.2, loop: rand() < 0.1 })),
  );
}

/** One thread serving requests with `programs`, and now and then a signal pseudo-call (>= 1024) between two calls. */
function serverStream(length, rand, programs) {
  const handlers = programs.length;
  const out = new Uint16Array(length);
  let n = 0;
  while (n < length) {
    const program = programs[Math.floor(handlers * rand() ** 1.5)];
    for (const step of program) {
      if (step.optional && rand() < 0.5) continue;
      const times = step.loop ? 1 + Math.floor(rand() * 6) : 1;
      for (let t = 0; t < times && n < length; t++) out[n++] = step.call;
      if (n < length && rand() < 0.002) out[n++] = 1024 + 17; // SIGCHLD
      if (n >= length) break;
    }
  }
  return out;
}

/** Streams (threads) of a synthetic server running `programs`, `calls` calls in all. */
function synthetic(calls, seed, programs, streams) {
  const rand = xorshift(seed);
  const per = Math.ceil(calls / streams);
  return Array.from({ length: streams }, (_, i) => serverStream(Math.min(per, calls - i * per), rand, programs));
}

const files = (dir) => readdirSync(dir).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).map((f) => join(dir, f));
const traceCalls = async (paths) => Promise.all(paths.map(async (p) => (await readTrace(p)).threads[0].calls));

const missing = datasetMissing(['wordpress/iscc/normal', 'wordpress/iscc/exec']);
let normal;
let attack;
if (missing) {
  console.log(`bench: ${missing}`);
  console.log('bench: using a SYNTHETIC stream instead (25 normal threads of a 40-handler server; "attacks": 25 threads of it with 10 extra handlers)');
  const programs = serverPrograms(xorshift(7), 40, 120);
  normal = synthetic(350_000, 8, programs, 25);
  attack = synthetic(85_000, 9, [...programs, ...serverPrograms(xorshift(10), 10, 160)], 25);
} else {
  console.log(`data: hids-docker at ${datasetPath()} (wordpress/iscc: normal and exec traces)`);
  normal = await traceCalls(files(join(datasetPath(), 'wordpress/iscc/normal')));
  attack = await traceCalls(files(join(datasetPath(), 'wordpress/iscc/exec')));
}

function baseline(set) {
  let acc = 0;
  const { data } = set;
  for (let i = 0; i < data.length; i++) acc = (acc + data[i]) | 0;
  return acc;
}

function rate(count, fn) {
  fn(); // warm-up
  const times = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return count / median(times);
}

const packr = new Packr({ moreTypes: true, useRecords: false });
const M = (x) => `${(x / 1e6).toFixed(2)}M`.padStart(9);

console.log(`\nnode ${process.version}; scoring: ${RUNS} runs each, median windows/s (one core)`);
console.log('train = the first 12 normal traces; test = the other normal traces and every attack trace, repeated to >= 1M windows');
const col = detector.name.padStart(10);
console.log(`window  test windows  unseen   baseline ${col} ${`${detector.name}/base`.padStart(12)}`);
for (const w of [3, 7, 15]) {
  const train = windowStreams(normal.slice(0, 12).map((c) => ({ calls: c, label: 0 })), w);
  const once = windowStreams([...normal.slice(12), ...attack].map((c) => ({ calls: c })), w);
  const test = concatWindows(Array.from({ length: Math.ceil(MIN_WINDOWS / once.count) }, () => once));
  const d = detector.create();
  d.fit(train);
  const out = new Float64Array(test.count);
  // Share of test windows never seen in training: those walk the back-off chain.
  const unseen = countUnseen(train, once);
  const base = rate(test.count, () => baseline(test));
  const m = rate(test.count, () => d.score(test, out));
  console.log(`${String(w).padEnd(8)}${String(test.count).padStart(12)} ${(unseen * 100).toFixed(1).padStart(6)}% ${M(base)} ${M(m).padStart(10)} ${(m / base).toFixed(3).padStart(12)}`);
}

/** Share of `test` windows absent from `train`. */
function countUnseen(train, test) {
  const seen = new Set();
  const key = (set, i) => set.data.subarray(i * set.size, (i + 1) * set.size).join(',');
  for (let i = 0; i < train.count; i++) seen.add(key(train, i));
  let n = 0;
  for (let i = 0; i < test.count; i++) if (!seen.has(key(test, i))) n++;
  return n / test.count;
}

/** Bytes the fitted model keeps alive (heap + array buffers, after a full GC). */
function retained(make) {
  gc();
  gc();
  const before = process.memoryUsage();
  const kept = make();
  gc();
  gc();
  const after = process.memoryUsage();
  const bytes = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers);
  return { kept, bytes };
}

console.log(`\nfit on ${FIT_CALLS / 1e6}M syscalls (median of 3 fits), saved state (msgpack) and model heap`);
const cycled = []; // the dataset's normal traces, cycled, as separate streams
for (let n = 0, i = 0; n < FIT_CALLS; i++) {
  const c = normal[i % normal.length].subarray(0, FIT_CALLS - n);
  cycled.push(c);
  n += c.length;
}
const busyPrograms = serverPrograms(xorshift(12), 200, 300);
const workloads = [
  [missing ? 'synthetic normal, cycled' : 'dataset normal traces, cycled', cycled, null],
  ['synthetic busy container, worst case (near-unique requests)', synthetic(FIT_CALLS, 11, busyPrograms, 64), synthetic(100_000, 99, busyPrograms, 4)],
];
console.log('workload                                                        window  distinct   fit s   state bytes    model heap  new windows/s');
for (const [what, streams, fresh] of workloads) {
  for (const w of [3, 7, 15]) {
    const train = windowStreams(streams.map((c) => ({ calls: c, label: 0 })), w);
    const times = [];
    for (let r = 0; r < 3; r++) {
      const d = detector.create();
      const t0 = process.hrtime.bigint();
      d.fit(train);
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    const { kept: d, bytes } = retained(() => {
      const m = detector.create();
      m.fit(train);
      return m;
    });
    const stateBytes = packr.pack(d.state()).length;
    // New requests of the same busy program, scored once by a model loaded
    // from the fitted one's state (nothing cached yet, as a model read from
    // its file meets live traffic): the median of RUNS such models.
    let freshRate = '-';
    if (fresh) {
      const test = windowStreams(fresh.map((c) => ({ calls: c })), w);
      const saved = d.state();
      const rates = [];
      for (let r = 0; r < RUNS; r++) {
        const loaded = detector.restore(saved);
        const t0 = process.hrtime.bigint();
        loaded.score(test);
        rates.push(test.count / (Number(process.hrtime.bigint() - t0) / 1e9));
      }
      const r = median(rates);
      freshRate = r >= 1e5 ? M(r).trim() : `${(r / 1e3).toFixed(1)}K`;
    }
    console.log(
      `${what.padEnd(64)}${String(w).padStart(6)}${String(d.distinctWindows ?? '-').padStart(10)}${median(times).toFixed(3).padStart(8)}${String(stateBytes).padStart(14)}${String(bytes).padStart(14)}${freshRate.padStart(15)}`,
    );
  }
}
