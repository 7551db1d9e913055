#!/usr/bin/env node
// Fills prebuilds/<platform>-<arch> from a finished `npm run build` (npm runs
// it at `npm pack`, as prepack): the addon, sw-workload, the CO-RE BPF object
// and its skeleton (the fallback build reuses them), and the two shared
// libraries the addon needs that a host may lack, found through the addon's
// RUNPATH ($ORIGIN). Checks that the result needs nothing else from the host
// than the libraries every glibc system has, and that it loads.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { prebuildDir } = await import('../dist/capture/addon.js');
const { RECORD_LAYOUT } = await import('../dist/capture/record.js');

/** Shipped beside the addon: libbpf (Debian's libbpf.a is not position-independent) and the libelf it needs. */
const VENDORED = ['libbpf.so.1', 'libelf.so.1'];
/** What the prebuilt files may still need from the host: glibc, the C++ runtime and zlib. */
const FROM_HOST = new Set(['libc.so.6', 'libm.so.6', 'libstdc++.so.6', 'libgcc_s.so.1', 'libz.so.1', 'ld-linux-x86-64.so.2', 'ld-linux-aarch64.so.1', ...VENDORED]);

const fail = (message) => {
  console.error(`prebuild: ${message}`);
  process.exit(1);
};
if (process.platform !== 'linux') fail(`syswarden packages are built on Linux, not ${process.platform}.`);

const release = join(root, 'build', 'Release');
const bpf = join(root, 'build', 'bpf');
const built = [join(release, 'syswarden.node'), join(release, 'sw-workload'), join(bpf, 'syscalls.bpf.o'), join(bpf, 'syscalls.skel.h')];
for (const f of built) if (!existsSync(f)) fail(`${f} is missing: run \`npm run build\` first.`);

const needed = (file) =>
  execFileSync('readelf', ['-d', file], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /\(NEEDED\).*\[(.+)\]/.exec(l)?.[1])
    .filter(Boolean);

/** The path the dynamic loader picks for each NEEDED library of `file`, from ldd. */
function resolved(file) {
  const map = new Map();
  for (const line of execFileSync('ldd', [file], { encoding: 'utf8' }).split('\n')) {
    const m = /^\s*(\S+) => (\S+)/.exec(line);
    if (m) map.set(m[1], m[2]);
  }
  return map;
}

const out = prebuildDir();
rmSync(dirname(out), { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const f of built) copyFileSync(f, join(out, basename(f)));

const addon = join(out, 'syswarden.node');
const hostLibs = resolved(join(release, 'syswarden.node'));
for (const lib of VENDORED) {
  const from = hostLibs.get(lib);
  if (!from || from === 'not') fail(`the addon does not resolve ${lib} on this machine (ldd): install libbpf-dev.`);
  copyFileSync(realpathSync(from), join(out, lib));
}

for (const file of [addon, join(out, 'sw-workload'), ...VENDORED.map((l) => join(out, l))]) {
  const extra = needed(file).filter((lib) => !FROM_HOST.has(lib));
  if (extra.length > 0) fail(`${basename(file)} needs ${extra.join(', ')} from the host; only ${[...FROM_HOST].join(', ')} are allowed (ship it in ${out} or link it in).`);
}
const seen = resolved(addon);
for (const lib of VENDORED) {
  if (seen.get(lib) !== join(out, lib)) fail(`the prebuilt addon finds ${lib} at ${seen.get(lib)}, not beside it: it must be linked with RUNPATH $ORIGIN (native/CMakeLists.txt).`);
}

const layout = createRequire(import.meta.url)(addon).recordLayout;
if (layout?.size !== RECORD_LAYOUT.size) fail(`the prebuilt addon loads but reports a record size of ${layout?.size}, not ${RECORD_LAYOUT.size}: it was built from other sources than dist/.`);

const kib = (f) => `${basename(f)} ${(statSync(f).size / 1024).toFixed(0)} KiB`;
console.log(`prebuild: ${out}: ${[addon, join(out, 'sw-workload'), join(out, 'syscalls.bpf.o'), ...VENDORED.map((l) => join(out, l))].map(kib).join(', ')}`);
