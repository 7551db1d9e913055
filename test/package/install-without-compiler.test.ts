import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess, type ProcResult } from '../../src/bench/measure.js';
import { createScratchCgroup, type ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { summarizeRecording } from '../../src/capture/summary.js';
import { baseRootfsTarball, chrootCommand } from '../../src/scenario/image.js';
import { projectRoot, waitFor } from '../capture/helpers.js';

/** The target for installing the packed tarball on a host without build tools. */
const INSTALL_LIMIT_MS = 30_000;
/** Installed by `npm install -g` with the copied node at /usr/bin/node (npm's global prefix is then /usr). */
const INSTALLED = '/usr/lib/node_modules/syswarden';
/** What a host without build tools lacks; each is checked absent in the root filesystem. */
const BUILD_TOOLS = ['cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'cmake', 'bpftool', 'pkg-config', 'node-gyp'];

let work: string;
let root: string;
let tarball: string;
let cg: ScratchCgroup | undefined;
let recorder: ChildProcess | undefined;
let packMs = 0;

/** The environment without what an outer `npm test` sets (npm_config_prefix and the like would redirect npm). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return env;
}

/** Like a fresh login on the clean host: nothing from this process's environment leaks in. */
const hostEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' };

function must(r: ProcResult, what: string): ProcResult {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${(r.stdout + r.stderr).trim().split('\n').slice(-20).join('\n')}`);
  return r;
}

function inChroot(script: string, opts: { sys?: boolean; noNetwork?: boolean }, timeoutMs: number): Promise<ProcResult> {
  const [cmd, args] = chrootCommand(root, script, opts);
  return runProcess(cmd, args, { timeoutMs, env: hostEnv });
}

/** Whether `path` is a mount point: a different device than its parent. */
function mountedOn(path: string): boolean {
  return existsSync(path) && statSync(path).dev !== statSync(dirname(path)).dev;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sw-pkg-'));

  // Pack a copy of the sources, as a release would: `npm pack` runs prepack
  // (the build and scripts/prebuild.mjs). A copy, so this checkout's build/
  // and dist/ are not rewritten under the other tests; with node_modules
  // copied for real, because npm bundles dependencies only from a real folder.
  const src = join(work, 'src');
  mkdirSync(join(src, 'bench'), { recursive: true });
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'binding.gyp', 'README.md', 'src', 'native', 'bpf', 'scripts', 'bench/workloads']) {
    cpSync(join(projectRoot, f), join(src, f), { recursive: true });
  }
  must(await runProcess('cp', ['-a', realpathSync(join(projectRoot, 'node_modules')), join(src, 'node_modules')], { timeoutMs: 120_000 }), 'copying node_modules');
  const pack = must(await runProcess('npm', ['pack', '--pack-destination', work], { cwd: src, env: cleanEnv(), timeoutMs: 10 * 60_000 }), 'npm pack');
  packMs = pack.wallNs / 1e6;
  tarball = join(work, pack.stdout.trim().split('\n').at(-1)!);
  expect(existsSync(tarball), `npm pack said it wrote ${tarball}`).toBe(true);

  // The clean host: the cached minimal Debian (debootstrap minbase) plus the
  // host's own node and npm (Debian's nodejs is older than syswarden needs).
  const base = await baseRootfsTarball({ onStep: (m) => console.log(m) });
  root = join(work, 'root');
  mkdirSync(root);
  must(await runProcess('tar', ['-C', root, '-xf', base], { timeoutMs: 5 * 60_000 }), 'unpacking the base root filesystem');
  const npmDir = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  if (!existsSync(join(npmDir, 'bin', 'npm-cli.js'))) throw new Error(`npm is not at ${npmDir}: this test copies the host's node and the npm installed beside it`);
  copyFileSync(process.execPath, join(root, 'usr', 'bin', 'node'));
  cpSync(npmDir, join(root, 'usr', 'lib', 'node_modules', 'npm'), { recursive: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr', 'bin', 'npm'));
  copyFileSync(tarball, join(root, 'tmp', 'syswarden.tgz'));
}, 30 * 60_000);

afterAll(async () => {
  recorder?.kill('SIGKILL');
  await cg?.remove();
  if (!work) return;
  // The chroot's mounts lived in namespaces that ended with their processes;
  // never delete through one that is somehow still there.
  const live = root ? ['proc', 'dev', 'sys'].map((d) => join(root, d)).filter(mountedOn) : [];
  if (live.length > 0) throw new Error(`still mounted: ${live.join(', ')}; left ${work} in place`);
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('the packed tarball on a host without build tools', () => {
  it('the root filesystem has node and npm but no compiler, bpftool or libbpf headers', async () => {
    const tools = await inChroot(
      `for t in ${BUILD_TOOLS.join(' ')}; do command -v "$t" && echo "present: $t"; done; ` +
        'for h in /usr/include/bpf/libbpf.h /usr/include/libelf.h; do [ -e "$h" ] && echo "present: $h"; done; node --version; npm --version',
      {},
      60_000,
    );
    expect(tools.code).toBe(0);
    expect(tools.stdout).not.toMatch(/present:/);
    expect(tools.stdout).toMatch(/^v\d+\.\d+/m);
  });

  it('installs from the tarball alone (no registry, no network), quietly, in at most 30 s, building nothing', async () => {
    const install = await inChroot('cd /tmp && exec npm install -g --no-audit --no-fund /tmp/syswarden.tgz', { noNetwork: true }, 5 * 60_000);
    const ms = install.wallNs / 1e6;
    console.log(`npm pack (with the build): ${(packMs / 1000).toFixed(1)} s; install in the chroot: ${(ms / 1000).toFixed(1)} s; tarball ${(statSync(tarball).size / 2 ** 20).toFixed(1)} MiB`);
    must(install, 'npm install -g of the tarball');
    expect(ms).toBeLessThanOrEqual(INSTALL_LIMIT_MS);
    const output = (install.stdout + install.stderr).trim();
    expect(output).not.toMatch(/gyp|cmake|syswarden: built/i);
    // npm's own summary ("added 1 package") and its notice about install scripts, nothing of ours.
    expect(output.split('\n').length, output).toBeLessThanOrEqual(8);
    const pkg = join(root, INSTALLED);
    expect(existsSync(join(pkg, 'build')), 'a build/ folder: the addon was compiled at install').toBe(false);
    expect(readdirSync(join(pkg, 'prebuilds', 'linux-x64')).sort()).toEqual(
      ['libbpf.so.1', 'libelf.so.1', 'sw-workload', 'syscalls.bpf.o', 'syscalls.skel.h', 'syswarden.node'].sort(),
    );
    expect(existsSync(join(root, 'usr', 'bin', 'syswarden'))).toBe(true);
  });

  it('a build from source asked for there fails with one message naming the missing packages', async () => {
    const r = await inChroot(`cd ${INSTALLED} && SYSWARDEN_BUILD_FROM_SOURCE=1 exec node scripts/install.mjs`, { noNetwork: true }, 60_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SYSWARDEN_BUILD_FROM_SOURCE=1 asks for a build from source, which needs g\+\+, make, .*pkg-config, libbpf-dev/);
    expect(r.stderr).toMatch(/apt-get install g\+\+ make/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(root, INSTALLED, 'build'))).toBe(false);
  });

  it('`syswarden record` there captures a real process on the real kernel', async () => {
    cg = createScratchCgroup(`sw-test-pkg-${process.pid}`);
    const out = '/tmp/pkg.swrec';
    const [cmd, args] = chrootCommand(root, `exec syswarden record --target ${cg.spec} --out ${out}`, { sys: true });
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: hostEnv });
    recorder = child;
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(() => /syswarden: recording/.test(stderr) || child.exitCode !== null, 'the recorder in the chroot to attach', 60_000);
    expect(child.exitCode, stderr).toBeNull();

    // The workload the package ships, run on the host in the recorded cgroup.
    const workload = join(root, INSTALLED, 'prebuilds', 'linux-x64', 'sw-workload');
    must(await runProcess(workload, ['--cgroup', cg.dir, 'pattern', '3000', '2'], { timeoutMs: 60_000 }), 'sw-workload');
    child.kill('SIGINT');
    const timeout = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(timeout);
    recorder = undefined;
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/wrote \d+ events/);

    const s = await summarizeRecording(join(root, out));
    expect(s.syscalls.find((x) => x.name === 'getsid')?.count).toBe(6000);
    expect(s.events).toBeGreaterThanOrEqual(6000);
  }, 180_000);

  it('where the prebuilt addon does not load and nothing can build it, the install fails saying why and what to install', async () => {
    // A host that lacks a library the prebuilt addon needs, simulated by taking the shipped libbpf away.
    const lib = join(root, INSTALLED, 'prebuilds', 'linux-x64', 'libbpf.so.1');
    renameSync(lib, `${lib}.away`);
    try {
      const r = await inChroot(`cd ${INSTALLED} && exec node scripts/install.mjs`, { noNetwork: true }, 60_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/the prebuilt native addon does not load here, and building it needs g\+\+/);
      expect(r.stderr).toMatch(/prebuilds\/linux-x64\/syswarden\.node: libbpf\.so\.1: cannot open shared object file/);
      expect(r.stderr).toMatch(/apt-get install g\+\+ make/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      renameSync(`${lib}.away`, lib);
    }
  });
});
