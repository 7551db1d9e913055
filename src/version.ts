import { readFileSync } from 'node:fs';
import { BUILD_INFO } from './build-info.generated.js';

/** The version in the package.json above this module's folder (dist/ or src/): one source, never copied. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/**
 * What identifies a build, fixed when it was built (scripts/gen-build-info.mjs):
 * `syswarden --version` prints it and every model written records it, so a
 * model can be matched with the build that wrote it (`syswarden model info`).
 */
export interface BuildIdentity {
  version: string;
  /** Git commit built from ("-dirty": with uncommitted changes); null when unknown (built outside a checkout). */
  commit: string | null;
  /** SHA-256 of the BPF object the addon embeds; null when not built with this build. */
  bpf: string | null;
  /** SHA-256 of the syscall table (numbers and names) models' windows are numbered by. */
  syscalls: string;
  /** The model file format this build writes. */
  modelFormat: number;
}

export function buildIdentity(modelFormat: number): BuildIdentity {
  return { version: packageVersion(), commit: BUILD_INFO.commit, bpf: BUILD_INFO.bpf, syscalls: BUILD_INFO.syscalls, modelFormat };
}

/** The identity in lines, as --version and model info print it (hashes shortened to 12 hex digits, as git does). */
export function formatBuildIdentity(b: BuildIdentity): string[] {
  const short = (h: string | null) => (h === null ? 'unknown' : h.slice(0, 12));
  return [
    `commit: ${b.commit === null ? 'unknown (not built from a git checkout)' : b.commit}`,
    `bpf object: ${b.bpf === null ? 'unknown (not built with this build)' : `sha256:${short(b.bpf)}`}`,
    `syscall table: sha256:${short(b.syscalls)}`,
    `model format: ${b.modelFormat}`,
  ];
}
