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
 * Load the addon from the places the two builds put it (cmake-js and
 * node-gyp both write build/Release); SYSWARDEN_ADDON overrides. On failure
 * every path tried is listed, with why each failed.
 */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded;
  const candidates = [
    process.env.SYSWARDEN_ADDON,
    join(root, 'build', 'Release', 'syswarden.node'),
    join(root, 'build', 'Debug', 'syswarden.node'),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
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
    `the syswarden native addon is not built. Tried:\n${failures.join('\n')}\nBuild it with \`npm run build\` (needs clang, libbpf-dev, bpftool, cmake: see README).`,
  );
}

/** Path of the sw-workload program the native build writes beside the addon. */
export function workloadPath(): string {
  const candidates = [join(root, 'build', 'Release', 'sw-workload'), join(root, 'build', 'Debug', 'sw-workload')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new SyswardenError('ERR_NO_ADDON', `sw-workload is not built (looked in ${candidates.join(', ')}). Run \`npm run build\`.`);
  }
  return found;
}
