/**
 * Images built here from Debian packages (no registry is reachable): the
 * scenarios' applications and syswarden's own agent image (src/deploy). A
 * minimal Debian root filesystem made once by debootstrap, the recipe's
 * packages installed into a copy of it in a chroot, its files, copies of host
 * files and setup commands added, then `docker import`ed. Root filesystems are cached
 * as tarballs under the cache directory (SYSWARDEN_CACHE, default
 * /var/cache/syswarden), named by a hash of everything that goes into them,
 * so a changed recipe builds a new image and an unchanged one is never
 * rebuilt.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SyswardenError } from '../errors.js';
import { docker, imageExists } from './engine.js';

export interface ImageRecipe {
  /** Short name; the image is syswarden-scenario-<name>:<hash> unless `repository` names it. */
  name: string;
  /** The image's name without the tag (default syswarden-scenario-<name>); the tag is always the recipe's hash. */
  repository?: string;
  /** Debian packages, installed with --no-install-recommends. */
  packages: readonly string[];
  /** Files written after the packages: absolute path → text (mode 0644) or { text, mode }. */
  files?: Readonly<Record<string, string | { text: string; mode: number }>>;
  /**
   * Host files or directories copied in after the packages (image path →
   * host path; symlinks followed). Their contents, not their host paths, go
   * into the image's hash, so a rebuilt file makes a new image.
   */
  copies?: Readonly<Record<string, string>>;
  /** Shell commands (sh -e) run in the chroot last: users, passwords, databases, checks. */
  setup?: string;
  /** Dockerfile instructions applied at import (`docker import --change`): ENTRYPOINT, CMD, ENV, LABEL. */
  changes?: readonly string[];
  /**
   * false: the root filesystem's tarball is deleted once imported, for an
   * image that changes with every build (Docker's copy is then the only
   * cache). Default: kept, so a Docker that lost the image imports it again.
   */
  keepTarball?: boolean;
}

/** Bump when the build procedure itself changes, so every cached image is rebuilt. */
const BUILD_VERSION = 2;
/** Bump when the base root filesystem's making changes. */
const BASE_VERSION = 1;
const SUITE = process.env.SYSWARDEN_SUITE ?? 'bookworm';
const MIRROR = process.env.SYSWARDEN_MIRROR ?? 'http://deb.debian.org/debian';

export function defaultCacheDir(): string {
  return process.env.SYSWARDEN_CACHE ?? '/var/cache/syswarden';
}

export interface BuildOptions {
  cacheDir?: string;
  /** One line per step that takes time (debootstrap, apt-get, import). */
  onStep?: (message: string) => void;
  signal?: AbortSignal;
}

/** Run a command; rejects with its last stderr lines. Bounded by `timeoutMs`. */
function run(cmd: string, args: readonly string[], what: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args as string[], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' } });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString('utf8')).slice(-4000);
    });
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(kill, timeoutMs);
    signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new SyswardenError('ERR_IMAGE', e.code === 'ENOENT' ? `${what}: ${cmd} is not installed. Fix: apt-get install ${cmd === 'debootstrap' ? 'debootstrap' : cmd}.` : `${what}: ${e.message}`));
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      if (code === 0) return resolve();
      const tail = err.trim().split('\n').slice(-3).join(' / ');
      const why = signal?.aborted ? 'interrupted' : sig ? `killed (${sig}${sig === 'SIGKILL' ? `, or over ${timeoutMs / 1000} s` : ''})` : `exit ${code}`;
      reject(new SyswardenError('ERR_IMAGE', `${what} failed (${why})${tail ? `: ${tail}` : ''}`));
    });
  });
}

function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
}

function cacheDirReady(dir: string): void {
  try {
    mkdirSync(join(dir, 'images'), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new SyswardenError('ERR_IMAGE', `cannot use ${dir} as the image cache (${(e as Error).message}). Fix: set SYSWARDEN_CACHE to a writable directory.`);
  }
}

/**
 * The minimal Debian root filesystem every image starts from (debootstrap
 * --variant=minbase), as a cached tarball; made on first use. Also the
 * "clean host" the package test installs syswarden into.
 */
export async function baseRootfsTarball(opts: BuildOptions = {}): Promise<string> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  cacheDirReady(cacheDir);
  return baseTarball(cacheDir, opts);
}

async function baseTarball(cacheDir: string, opts: BuildOptions): Promise<string> {
  const tar = join(cacheDir, `base-${SUITE}-minbase-v${BASE_VERSION}.tar`);
  if (existsSync(tar)) return tar;
  const work = mkdtempSync(join(cacheDir, '.base-'));
  try {
    opts.onStep?.(`building a minimal Debian ${SUITE} root filesystem (debootstrap, once; about a minute)`);
    await run('debootstrap', ['--variant=minbase', SUITE, join(work, 'root'), MIRROR], `debootstrap ${SUITE} from ${MIRROR}`, 20 * 60_000, opts.signal);
    await run('tar', ['-C', join(work, 'root'), '-cf', join(work, 'base.tar'), '.'], 'packing the base root filesystem', 10 * 60_000, opts.signal);
    renameSync(join(work, 'base.tar'), tar);
    return tar;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** sha256 of a file or of a directory's tree (relative paths, executable bits and contents), symlinks followed. */
function contentHash(path: string): string {
  const h = createHash('sha256');
  const walk = (p: string, rel: string): void => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) walk(join(p, name), `${rel}/${name}`);
    } else if (st.isFile()) {
      h.update(`${rel}\0${st.mode & 0o111 ? 'x' : '-'}\0${st.size}\0`);
      h.update(readFileSync(p));
    }
  };
  try {
    walk(path, '.');
  } catch (e) {
    throw new SyswardenError('ERR_IMAGE', `cannot read ${path} to copy it into an image (${(e as Error).message}). Fix: build it first (npm run build).`);
  }
  return h.digest('hex');
}

/** The image's tag: the recipe's hash names it (with the contents of what it copies), so a changed recipe is a new image. */
export function imageTag(recipe: ImageRecipe): string {
  // Scenario recipes (no copies) hash as they always did, so their cached images stay valid.
  const hashed = recipe.copies ? { ...recipe, copies: Object.fromEntries(Object.entries(recipe.copies).map(([to, from]) => [to, contentHash(from)])) } : recipe;
  return `${recipe.repository ?? `syswarden-scenario-${recipe.name}`}:${hashOf({ BUILD_VERSION, SUITE, MIRROR, recipe: hashed })}`;
}

/**
 * Build (or find cached) the image of `recipe` and make sure Docker has it.
 * Returns its tag.
 */
export async function buildImage(recipe: ImageRecipe, opts: BuildOptions = {}): Promise<string> {
  const tag = imageTag(recipe);
  if (await imageExists(tag)) return tag;
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  cacheDirReady(cacheDir);
  const tarball = join(cacheDir, 'images', `${tag.replace(/[:/]/g, '-')}.tar`);
  if (!existsSync(tarball)) {
    const base = await baseTarball(cacheDir, opts);
    const work = mkdtempSync(join(cacheDir, '.image-'));
    const root = join(work, 'root');
    try {
      mkdirSync(root);
      await run('tar', ['-C', root, '-xf', base], 'unpacking the base root filesystem', 10 * 60_000, opts.signal);
      // No service starts inside the chroot while packages install.
      writeFileSync(join(root, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
      const files = Object.entries(recipe.files ?? {});
      const copies = Object.entries(recipe.copies ?? {});
      for (const [path] of [...files, ...copies]) {
        if (!path.startsWith('/') || path.includes('..')) throw new SyswardenError('ERR_IMAGE', `recipe ${recipe.name}: file path '${path}' must be absolute and without '..'.`);
      }
      opts.onStep?.(`image ${recipe.name}: installing ${recipe.packages.join(', ')}`);
      const install = [
        'set -e',
        'apt-get update -qq',
        `apt-get install -y -qq --no-install-recommends ${recipe.packages.join(' ')}`,
        'apt-get clean',
        'rm -rf /var/lib/apt/lists/*',
        // Host-network containers get the host's resolv.conf: names resolve from /etc/hosts only, so no lookup leaves the machine.
        "sed -i 's/^hosts:.*/hosts: files/' /etc/nsswitch.conf",
      ].join('\n');
      await inChroot(root, install, `image ${recipe.name}: apt-get install`, opts);
      for (const [path, f] of files) {
        const target = join(root, path);
        mkdirSync(dirname(target), { recursive: true });
        const { text, mode } = typeof f === 'string' ? { text: f, mode: 0o644 } : f;
        writeFileSync(target, text);
        chmodSync(target, mode);
      }
      for (const [path, from] of copies) {
        const target = join(root, path);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(from, target, { recursive: true, dereference: true });
      }
      if (recipe.setup) await inChroot(root, `set -e\n${recipe.setup}`, `image ${recipe.name}: setup`, opts);
      await run('tar', ['-C', root, '-cf', join(work, 'image.tar'), '.'], `image ${recipe.name}: packing`, 10 * 60_000, opts.signal);
      renameSync(join(work, 'image.tar'), tarball);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  opts.onStep?.(`image ${recipe.name}: docker import (${(statSync(tarball).size / 2 ** 20).toFixed(0)} MiB)`);
  await docker(['import', ...(recipe.changes ?? []).flatMap((c) => ['--change', c]), tarball, tag], { timeoutMs: 10 * 60_000 });
  if (recipe.keepTarball === false) rmSync(tarball, { force: true });
  return tag;
}

/**
 * Run a script in the chroot, in a mount namespace of its own: /proc and
 * /dev are bind-mounted there and vanish with the namespace, whatever
 * happens to this process.
 */
function inChroot(root: string, script: string, what: string, opts: BuildOptions): Promise<void> {
  const [cmd, args] = chrootCommand(root, script);
  return run(cmd, args, what, 30 * 60_000, opts.signal);
}

export interface ChrootOptions {
  /** Also bind /sys with everything under it (cgroups, BTF, bpffs): for loading BPF programs in the chroot. */
  sys?: boolean;
  /** A network namespace of its own with nothing in it: nothing in the chroot reaches a registry or a mirror. */
  noNetwork?: boolean;
}

/**
 * The command (for spawn) that runs `script` with sh in the chroot at `root`,
 * in a mount namespace of its own: what is mounted there for it vanishes with
 * the namespace, however the script ends. The last process of the chain is
 * the script's shell itself (exec), so a signal sent to the spawned pid
 * reaches it.
 */
export function chrootCommand(root: string, script: string, opts: ChrootOptions = {}): [string, string[]] {
  const sys = opts.sys ? ` && mount --rbind /sys "$1/sys"` : '';
  const inner = `mount --bind /proc "$1/proc" && mount --bind /dev "$1/dev"${sys} && exec chroot "$1" /bin/sh -c "$2"`;
  return ['unshare', ['--mount', '--propagation', 'private', ...(opts.noNetwork ? ['--net'] : []), 'sh', '-c', inner, 'sh', root, script]];
}
