#!/usr/bin/env node
// Where a watched syscall's time goes: samples the getppid loop with `perf`
// (kernel and user space) in three configurations, groups the symbols into
// stages, and turns the shares into nanoseconds per call with the per-call
// time measured in the same run. Writes bench/results/overhead.json and
// docs/overhead.md. Needs root and perf (Debian: apt-get install linux-perf).
// usage: node bench/profile-capture.mjs [--seconds 3]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '..');
const dist = resolve(process.env.SYSWARDEN_DIST ?? join(root, 'dist'));
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const { Collector } = await load('capture/collector.js');
const { createScratchCgroup } = await load('capture/scratch-cgroup.js');
const { workloadPath } = await load('capture/addon.js');

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf('--seconds') + 1] ?? 3) || 3;
if (spawnSync('perf', ['--version']).status !== 0) {
  console.error('profile-capture: perf is not installed. Install it with `apt-get install linux-perf`.');
  process.exit(1);
}

// Stages, matched against perf's symbol names in order; the first match wins.
const STAGES = [
  ['syswarden program', [/^bpf_prog_.*sys_enter/, /^bpf_get_current_task_btf$/]],
  ['timestamp (bpf_ktime_get_ns)', [/^read_tsc$/, /^ktime_get_mono_fast_ns$/, /^bpf_ktime_get_ns$/]],
  ['ring buffer reserve/submit', [/ringbuf/, /^_raw_spin_(un)?lock/]],
  ['tracepoint dispatch (kernel)', [/^syscall_trace_enter$/, /^syscall_exit_work$/, /^__bpf_trace_sys_enter$/, /^bpf_trace_run\d$/, /^migrate_(en|dis)able$/, /^__bpf_prog_(enter|exit)/]],
  ['the syscall itself and user space', [/./]],
];

const cg = createScratchCgroup(`sw-profile-${process.pid}`);
const other = createScratchCgroup(`sw-profile-other-${process.pid}`);
const CALLS = 2_000_000;
const perCall = () => {
  const t = process.hrtime.bigint();
  const r = spawnSync(workloadPath(), ['--cgroup', cg.dir, 'getppid', String(CALLS)], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`sw-workload failed (${r.status})`);
  return Number(process.hrtime.bigint() - t) / CALLS;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** perf samples of a long getppid loop, by symbol: { symbol: share 0..1 }. */
async function profile() {
  const data = join(tmpdir(), `sw-perf-${process.pid}.data`);
  const w = spawn(workloadPath(), ['--cgroup', cg.dir, 'getppid', '1000000000'], { stdio: 'ignore' });
  try {
    const rec = spawnSync('perf', ['record', '-q', '-o', data, '-p', String(w.pid), '--', 'sleep', String(seconds)], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (rec.status !== 0) throw new Error(`perf record failed: ${rec.stderr}`);
  } finally {
    w.kill('SIGKILL');
    await new Promise((r) => w.once('exit', r));
  }
  const report = execFileSync('perf', ['report', '-i', data, '--stdio', '--sort', 'sym', '-F', 'overhead,sym'], { maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const shares = {};
  for (const line of report.split('\n')) {
    const m = /^\s*([\d.]+)%\s+\[[.k]\]\s+(\S+)/.exec(line);
    if (m) shares[m[2]] = (shares[m[2]] ?? 0) + Number(m[1]) / 100;
  }
  spawnSync('rm', ['-f', data]);
  return shares;
}

const configs = [
  ['bare', null],
  ['other', () => Collector.open({ targets: [other.spec] })],
  ['capture', () => Collector.open({ targets: [cg.spec] })],
];
const results = {};
try {
  // Per-call times: interleaved, 5 rounds.
  const times = Object.fromEntries(configs.map(([c]) => [c, []]));
  for (let r = 0; r < 5; r++) {
    for (const [name, open] of configs) {
      const c = open ? await open() : null;
      times[name].push(perCall());
      await c?.close();
    }
  }
  for (const [name, open] of configs) {
    const c = open ? await open() : null;
    const shares = await profile();
    await c?.close();
    const ns = median(times[name]);
    const stages = Object.fromEntries(STAGES.map(([s]) => [s, 0]));
    for (const [sym, share] of Object.entries(shares)) {
      const stage = STAGES.find(([, res]) => res.some((re) => re.test(sym)))[0];
      stages[stage] += share;
    }
    const top = Object.entries(shares).sort((a, b) => b[1] - a[1]).slice(0, 12);
    results[name] = { nsPerCall: ns, stages, top };
    console.error(`profile-capture: ${name}: ${ns.toFixed(1)} ns/call`);
  }
} finally {
  await cg.remove();
  await other.remove();
}

const bare = results.bare.nsPerCall;
const out = {
  date: new Date().toISOString(),
  kernel: execFileSync('uname', ['-r']).toString().trim(),
  seconds,
  results,
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'overhead.json'), JSON.stringify(out, null, 2) + '\n');

const f = (x) => x.toFixed(0);
const lines = [
  '# Where a watched syscall\'s time goes',
  '',
  'Generated by `bench/profile-capture.mjs` (`bench/results/overhead.json`). The getppid loop of the benchmarks, sampled with',
  '`perf record` (kernel and user space) in three configurations: bare, syswarden watching another cgroup, and syswarden',
  'watching the loop. Shares of samples are turned into nanoseconds per call with the per-call time measured in the same',
  `run (median of 5, interleaved). Linux ${out.kernel}, ${out.date.slice(0, 10)}.`,
  '',
  `| stage | ${configs.map(([c]) => c).join(' | ')} |`,
  `|---|${configs.map(() => '---').join('|')}|`,
];
for (const [stage] of STAGES) {
  lines.push(`| ${stage} | ${configs.map(([c]) => `${f(results[c].stages[stage] * results[c].nsPerCall)} ns`).join(' | ')} |`);
}
lines.push(`| **per call** | ${configs.map(([c]) => `**${f(results[c].nsPerCall)} ns** (${(results[c].nsPerCall / bare).toFixed(2)}×)`).join(' | ')} |`);
lines.push(
  '',
  'Sampling in a VM has skid, so a few percent move between neighbouring stages; the totals are measured, not sampled.',
  '',
  'What it says about the targets (≤ 2.0× watched, ≤ 1.5× unwatched): with a program attached to `raw_syscalls/sys_enter`,',
  'every syscall of every process takes the kernel\'s tracepoint slow path and runs the program, whatever the program then',
  'decides. That dispatch is the floor of the unwatched configuration; syswarden\'s filter adds the task\'s cgroup id, one',
  'per-CPU verdict-cache read and a compare. For a watched call, the record costs the ring buffer\'s reserve and submit and',
  'a clock read (`bpf_ktime_get_ns`, a TSC read that is slow in this VM). The coarse clock, which reads no hardware, is',
  'refused for tracing programs (the verifier: "program of this type cannot use helper bpf_ktime_get_coarse_ns"). Closing',
  'the rest would need a cheaper hook than the syscall tracepoint (an fentry program on one syscall entry point pays no',
  'slow path), which the design fixes to tp_btf on raw_syscalls.',
  '',
  '## Top symbols',
  '',
);
for (const [c] of configs) {
  lines.push(`**${c}**: ` + results[c].top.map(([s, v]) => `${s} ${(100 * v).toFixed(1)} %`).join(', ') + '.', '');
}
writeFileSync(join(root, 'docs', 'overhead.md'), lines.join('\n'));
console.error('profile-capture: wrote docs/overhead.md and bench/results/overhead.json');
