/**
 * syswarden's own container image: Debian's runtime libraries for the addon,
 * the Node.js that runs this process (Debian's nodejs is older than the 20
 * syswarden needs), and syswarden itself, built by the one image builder
 * (src/scenario/image.ts) and tagged by the hash of its contents.
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeDirs } from '../capture/addon.js';
import { SyswardenError } from '../errors.js';
import { packageVersion } from '../version.js';
import { docker } from '../scenario/engine.js';
import { buildImage, type BuildOptions, type ImageRecipe } from '../scenario/image.js';

/** Where syswarden lives in the image. */
export const AGENT_HOME = '/opt/syswarden';
/** The image's entrypoint: the syswarden command. */
export const AGENT_ENTRYPOINT = '/usr/local/bin/syswarden';
/** The image's name; its tag is the recipe's content hash. */
export const AGENT_REPOSITORY = 'syswarden';

/** The package root: the folder holding package.json above dist/ (or src/ under vitest). */
function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

interface PackageJson {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

function readPackage(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

/**
 * The production dependencies of the package at `root`, found the way Node
 * finds them (node_modules of the requiring package, then of each folder
 * above), each as its path below the image's node_modules → its folder on
 * this host. A package in root's own node_modules keeps its place there
 * (nested ones stay nested); one hoisted above root (root installed as a
 * dependency) keeps its place below the nearest node_modules that holds it,
 * so every require resolves in the image as it does here. A missing
 * optional dependency (another platform's prebuilt binary) is left out; a
 * missing required one, or two versions wanting one place, is an error.
 */
export function productionModules(root: string): Map<string, string> {
  const found = new Map<string, string>();
  const imagePathOf = (dir: string): string => {
    const own = join(root, 'node_modules') + sep;
    if (dir.startsWith(own)) return dir.slice(own.length);
    for (let a = dirname(root); ; a = dirname(a)) {
      const nm = join(a, 'node_modules') + sep;
      if (dir.startsWith(nm)) return dir.slice(nm.length);
      if (dirname(a) === a) throw new SyswardenError('ERR_IMAGE', `${dir} is in no node_modules folder above ${root}.`);
    }
  };
  const visit = (from: string, pkg: PackageJson): void => {
    const wanted: Array<[string, boolean]> = [
      ...Object.keys(pkg.dependencies ?? {}).map((n): [string, boolean] => [n, false]),
      ...Object.keys(pkg.optionalDependencies ?? {}).map((n): [string, boolean] => [n, true]),
    ];
    for (const [name, optional] of wanted) {
      let dir: string | undefined;
      for (let d = from; ; d = dirname(d)) {
        const candidate = join(d, 'node_modules', name);
        if (existsSync(join(candidate, 'package.json'))) {
          dir = candidate;
          break;
        }
        if (dirname(d) === d) break;
      }
      if (dir === undefined) {
        if (optional) continue;
        throw new SyswardenError('ERR_IMAGE', `syswarden's dependency ${name} (needed by ${pkg.name ?? from}) is not installed. Fix: run npm install in ${root}.`);
      }
      const real = realpathSync(dir);
      const rel = imagePathOf(dir);
      const placed = found.get(rel);
      if (placed === real) continue;
      if (placed !== undefined) throw new SyswardenError('ERR_IMAGE', `two copies of ${name} want node_modules/${rel} in the image (${placed} and ${real}). Fix: npm dedupe in ${root}.`);
      found.set(rel, real);
      visit(dir, readPackage(real));
    }
  };
  visit(root, readPackage(root));
  return found;
}

/** The native files the image takes from a native folder: the addon, sw-workload, and the shared libraries a prebuild ships beside the addon. */
const NATIVE_FILE = /^(?:syswarden\.node|sw-workload|lib[\w+-]+\.so(?:\.\d+)*)$/;

/**
 * The native folder the addon loads from here, the same search as the
 * loader (nativeDirs: a local build, else the package's prebuilt files), as
 * its path below the package root. A checkout that was never built and an
 * install without its prebuilt files have none.
 */
export function nativeSource(root = packageRoot()): { dir: string; rel: string } {
  for (const dir of nativeDirs(root)) {
    if (existsSync(join(dir, 'syswarden.node'))) return { dir, rel: relative(root, dir) };
  }
  throw new SyswardenError('ERR_IMAGE', `no native addon in ${nativeDirs(root).join(', ')}: the image takes the addon this syswarden runs with. Fix: in a source checkout, npm run build in ${root}; in an installed package, npm rebuild syswarden.`);
}

/**
 * What of syswarden goes into the image, as image path → host path: the
 * compiled JavaScript, package.json (version, type: module), the native
 * files the addon loads from here (a checkout's build or an installed
 * package's prebuilt ones, at the same place below the package) and the
 * production dependencies: the syswarden running this command, as it is.
 */
export function stageSyswarden(root = packageRoot()): Record<string, string> {
  const main = join(root, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) throw new SyswardenError('ERR_IMAGE', `${main} is missing: the image is made from a built syswarden. Fix: run npm run build in ${root}.`);
  const native = nativeSource(root);
  const copies: Record<string, string> = {
    [`${AGENT_HOME}/package.json`]: join(root, 'package.json'),
    [`${AGENT_HOME}/dist`]: join(root, 'dist'),
  };
  for (const f of readdirSync(native.dir).filter((n) => NATIVE_FILE.test(n)).sort()) copies[`${AGENT_HOME}/${native.rel}/${f}`] = join(native.dir, f);
  for (const [rel, dir] of [...productionModules(root)].sort(([a], [b]) => a.localeCompare(b))) copies[`${AGENT_HOME}/node_modules/${rel}`] = dir;
  return copies;
}

/** The Node.js binary that runs this process, if it is one syswarden runs on. */
function hostNode(): string {
  const major = Number(process.versions.node.split('.')[0]);
  if (!(major >= 20)) throw new SyswardenError('ERR_IMAGE', `the image gets the Node.js that runs this command, ${process.version}, and syswarden needs 20 or later. Fix: run it with Node.js 20+.`);
  return process.execPath;
}

export function agentRecipe(): ImageRecipe {
  const addon = `${AGENT_HOME}/${nativeSource().rel}/syswarden.node`;
  return {
    name: 'agent',
    repository: AGENT_REPOSITORY,
    // A new image with every change to syswarden: Docker's copy is the cache.
    keepTarball: false,
    // libbpf1, libelf1, zlib1g: what the addon links; libstdc++6: both node and the addon.
    packages: ['libbpf1', 'libelf1', 'zlib1g', 'libstdc++6', 'ca-certificates'],
    copies: { '/usr/local/bin/node': hostNode(), ...stageSyswarden() },
    // The build fails here, not on a node, if a library node or the addon needs is missing.
    setup: [
      `missing=$(ldd /usr/local/bin/node ${addon} | grep 'not found' || true)`,
      'if [ -n "$missing" ]; then echo "shared libraries missing in the image: $missing" >&2; exit 1; fi',
      `ln -sf ${AGENT_HOME}/dist/cli/main.js ${AGENT_ENTRYPOINT}`,
      `chmod 755 ${AGENT_HOME}/dist/cli/main.js`,
      `/usr/local/bin/node -e "require('${addon}')"`,
      // Every module watch loads resolves from the staged dependencies.
      `/usr/local/bin/node --input-type=module -e "await import('${AGENT_HOME}/dist/cli/watch.js'); await import('${AGENT_HOME}/dist/index.js')"`,
      'syswarden --version',
    ].join('\n'),
    changes: [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'ENV NODE_ENV=production',
      `ENTRYPOINT ["${AGENT_ENTRYPOINT}"]`,
      'CMD ["watch", "--all-containers"]',
      `LABEL org.opencontainers.image.title=syswarden org.opencontainers.image.version=${packageVersion()}`,
    ],
  };
}

/** Build the agent image (or find it built) and return its name:tag. */
export function buildAgentImage(opts: BuildOptions = {}): Promise<string> {
  return buildImage(agentRecipe(), opts);
}

/** The other agent images Docker holds (earlier builds), newest first. */
export async function olderAgentImages(current: string): Promise<string[]> {
  const { stdout } = await docker(['images', AGENT_REPOSITORY, '--format', '{{.Repository}}:{{.Tag}}'], { timeoutMs: 30_000 });
  return stdout.split('\n').filter((t) => t && t !== current && /^[^:]+:[0-9a-f]{12}$/.test(t));
}
