// The frame decision's cost per window (ns, one core), medians of 5 runs:
// decisionScores over 2 M windows of 2000 interleaved streams, window scores
// shaped like the default detector's (a fifth zero, most small, 2 % large),
// at the default frame (40) and the trims a window size of 6 and 15 give,
// beside trim 0 (a running sum only) in the same run. SYSWARDEN_DIST=<dir>
// measures another build (e.g. one made from an earlier commit with
// `npx tsc -p . --outDir <dir>`), so two builds compare in one sitting.
// Run after `tsc` (imports ../dist).
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const dist = resolve(process.env.SYSWARDEN_DIST ?? join(here, '../dist'));
const { decisionScores, DEFAULT_FRAME } = await import(pathToFileURL(join(dist, 'detect/decision.js')).href);

const N = 2_000_000;
const RUNS = 5;
const source = new Int32Array(N);
const scores = new Float64Array(N);
let x = 7;
const rand = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
let s = 0;
for (let i = 0; i < N; i++) {
  if (rand() < 0.01) s = Math.floor(rand() * 2000);
  source[i] = s;
  const r = rand();
  scores[i] = r < 0.2 ? 0 : r < 0.98 ? rand() * 0.3 : 1 + rand() * 5;
}
const set = { size: 6, count: N, data: new Uint16Array(0), source };
const rows = [];
for (const trim of [0, 6, 15]) {
  const times = [];
  let out;
  for (let k = 0; k < RUNS; k++) {
    const t0 = performance.now();
    out = decisionScores(set, scores, DEFAULT_FRAME, trim);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  // A checksum of the decisions, so that two builds can be seen to decide alike.
  let sum = 0;
  for (let i = 0; i < N; i += 997) sum += out[i];
  rows.push({ trim, nsPerWindow: Math.round((times[RUNS >> 1] * 1e6) / N), checksum: sum.toFixed(12) });
}
console.log(`frame decision, ${N} windows, frame ${DEFAULT_FRAME}, medians of ${RUNS} (${dist})`);
for (const r of rows) console.log(`  trim ${String(r.trim).padStart(2)}: ${String(r.nsPerWindow).padStart(5)} ns/window  checksum ${r.checksum}`);
