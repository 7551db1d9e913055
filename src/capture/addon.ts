import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyswardenError } from '../errors.js';
import type { NativeAddon } from './native.js';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let loaded: NativeAddon | undefined;

/**
 * Where the package ships its prebuilt native files (addon, sw-workload, the
 * CO-RE object and skeleton, the shared libraries the addon needs):
 * prebuilds/<platform>-<arch>, filled at pack time by scripts/prebuild.mjs.
 */
export function prebuildDir(packageRoot = root): string {
  return join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
}

/**
 * The folders the native files are looked for in, in order: a local build
 * first (cmake-js and node-gyp both write build/Release; it exists only where
 * someone built, so it is never a stale leftover of an install), then the
 * prebuilt files the package ships.
 */
export function nativeDirs(packageRoot = root): string[] {
  return [join(packageRoot, 'build', 'Release'), join(packageRoot, 'build', 'Debug'), prebuildDir(packageRoot)];
}

/**
 * Load the addon from SYSWARDEN_ADDON if set, else from nativeDirs(). On
 * failure every path tried is listed, with why each failed.
 */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded;
  const candidates = [process.env.SYSWARDEN_ADDON, ...nativeDirs().map((d) => join(d, 'syswarden.node'))].filter(
    (p): p is string => typeof p === 'string' && p.length > 0,
  );
  const failures: string[] = [];
  for (const path of candidates) {
    try {
      loaded = require(path) as NativeAddon;
      return loaded;
    } catch (err) {
      failures.push(`  ${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new SyswardenError(
    'ERR_NO_ADDON',
    `the syswarden native addon cannot be loaded. Tried:\n${failures.join('\n')}\n` +
      'In a source checkout, build it with `npm run build` (needs clang, libbpf-dev, bpftool, cmake: see README). ' +
      'In an installed package, rebuild it with `npm rebuild syswarden` (docs/install.md says what that needs).',
  );
}

/** Path of the sw-workload program, which every build and the package put beside the addon. */
export function workloadPath(): string {
  const candidates = nativeDirs().map((d) => join(d, 'sw-workload'));
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new SyswardenError('ERR_NO_ADDON', `sw-workload is not built (looked in ${candidates.join(', ')}). In a source checkout run \`npm run build\`; in an installed package, \`npm rebuild syswarden\`.`);
  }
  return found;
}
