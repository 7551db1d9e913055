#!/usr/bin/env node
// npm runs this when the package is installed or rebuilt. Its presence as the
// install script also stops npm's implicit `node-gyp rebuild` (npm adds one
// for any package with a binding.gyp and no install script of its own).
//
// - In a source checkout it does nothing: `npm run build` builds (once).
// - In an installed package it loads the prebuilt addon and stops there: no
//   compiler runs.
// - Only when no addon loads (another architecture, an older glibc), or when
//   SYSWARDEN_BUILD_FROM_SOURCE=1 asks for it, it builds the addon with the
//   node-gyp that npm ships, quietly, reusing the prebuilt BPF object and
//   skeleton when the package has them for this machine.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
if (existsSync(join(root, 'src', 'cli', 'main.ts'))) process.exit(0);

const { loadAddon, prebuildDir } = await import('../dist/capture/addon.js');
const force = process.env.SYSWARDEN_BUILD_FROM_SOURCE === '1';

// Why a build is needed: one line (the prebuilt addon's own failure), and the loader's full list.
let why = 'SYSWARDEN_BUILD_FROM_SOURCE=1';
let detail = why;
if (!force) {
  try {
    loadAddon();
    process.exit(0);
  } catch (err) {
    detail = err.message;
    why = detail.split('\n').find((l) => l.includes(prebuildDir()))?.trim() ?? detail.split('\n')[0];
  }
}

const fail = (message) => {
  console.error(`syswarden: ${message}`);
  process.exit(1);
};
const onPath = (cmd) => (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, cmd)));

// What the fallback build needs, checked up front so that a host without it
// gets one message naming the packages instead of a compiler's error.
const bpfPrebuilt = prebuildDir();
const reusesBpf = existsSync(join(bpfPrebuilt, 'syscalls.skel.h')) && existsSync(join(bpfPrebuilt, 'syscalls.bpf.o'));
const missing = [];
for (const [cmd, pkg] of [
  [process.env.CXX ?? 'g++', 'g++'],
  ['make', 'make'],
  ['python3', 'python3'],
  ['pkg-config', 'pkg-config'],
  ...(reusesBpf ? [] : [['clang', 'clang'], ['llvm-strip', 'llvm'], ['bpftool', 'bpftool']]),
]) {
  if (!onPath(cmd)) missing.push(pkg);
}
if (!existsSync('/usr/include/bpf/libbpf.h')) missing.push('libbpf-dev');
if (missing.length > 0) {
  fail(
    (force
      ? `SYSWARDEN_BUILD_FROM_SOURCE=1 asks for a build from source, which needs ${missing.join(', ')}.\n`
      : `the prebuilt native addon does not load here, and building it needs ${missing.join(', ')}.\n${detail}\n`) +
      `Fix: unset SYSWARDEN_BUILD_FROM_SOURCE on a linux-x64 host with glibc >= 2.34, where the prebuilt addon needs no build tools (docs/install.md), ` +
      `or install the build tools (Debian/Ubuntu: apt-get install ${missing.join(' ')}) and run \`npm rebuild syswarden\`.`,
  );
}

// npm says where its own node-gyp is; run by hand, look beside npm, then on PATH.
const require = createRequire(import.meta.url);
const npmGyp = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = process.env.npm_config_node_gyp || (existsSync(npmGyp) ? npmGyp : undefined);
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];

const logDir = mkdtempSync(join(tmpdir(), 'syswarden-build-'));
const log = join(logDir, 'node-gyp.log');
const env = { ...process.env, ...(reusesBpf ? { SYSWARDEN_BPF_PREBUILT: bpfPrebuilt } : {}) };
const r = spawnSync(cmd, args, { cwd: root, env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20, timeout: 15 * 60_000 });
writeFileSync(log, `${r.stdout ?? ''}${r.stderr ?? ''}`);
if (r.error || r.status !== 0) {
  const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
  fail(
    `building the native addon from source failed (${r.error ? r.error.message : `node-gyp exit ${r.status}`}); the full log is ${log}.\n${tail}\n` +
      `Why it was built: ${why}`,
  );
}
try {
  require(join(root, 'build', 'Release', 'syswarden.node'));
} catch (err) {
  fail(`the addon built from source does not load either: ${err.message.split('\n')[0]} (build log: ${log}).`);
}
rmSync(logDir, { recursive: true, force: true });
console.log(`syswarden: built the native addon from source with node-gyp${reusesBpf ? ' (BPF object from the package)' : ''}, because ${why}`);
