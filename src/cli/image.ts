import { SyswardenError } from '../errors.js';
import { buildAgentImage, olderAgentImages } from '../deploy/agent-image.js';
import { AGENT_ARGS, daemonSetYaml, dockerRunOptions } from '../deploy/privileges.js';
import { ensureEngine } from '../scenario/engine.js';
import { defaultCacheDir } from '../scenario/image.js';
import { parseCommandArgs, type Parsed } from './args.js';
import { withStopSignals } from './signals.js';

const HELP = `usage: syswarden image build
       syswarden image manifest [--image <name:tag>]
       syswarden image docker-run [--image <name:tag>]

The agent's container image and how to run it (docs/deploy.md).

  build        build the image syswarden:<hash> from Debian packages, the
               Node.js running this command and this syswarden (docker
               import; no registry needed) and print its name. The hash is of
               its contents: an unchanged syswarden is never rebuilt. Needs
               root, dockerd (started here if it is not running) and
               debootstrap (the base is cached under $SYSWARDEN_CACHE,
               default ${defaultCacheDir()}).
  manifest     print the Kubernetes DaemonSet, with the least privileges the
               agent needs, each line explained (docs/deploy/daemonset.yaml)
  docker-run   print the docker run command with the same privileges
               (Docker 23 or later)

  --image <name:tag>  the image to name (default syswarden:TAG)
  -h, --help          this text`;

export interface ImageArgs {
  action: 'build' | 'manifest' | 'docker-run';
  image: string;
}

export function parse(argv: string[]): Parsed<ImageArgs> {
  const { values, positionals } = parseCommandArgs('image', argv, { image: { type: 'string' } }, HELP, true);
  if (values.help) return { help: true };
  const [action, ...extra] = positionals;
  if (action !== 'build' && action !== 'manifest' && action !== 'docker-run') {
    throw new SyswardenError('ERR_USAGE', `image: say build, manifest or docker-run, got ${action === undefined ? 'nothing' : `'${action}'`}.\n\n${HELP}`);
  }
  if (extra.length > 0) throw new SyswardenError('ERR_USAGE', `image ${action}: unexpected '${extra[0]}'.`);
  if (action === 'build' && values.image !== undefined) throw new SyswardenError('ERR_USAGE', 'image build names the image by its contents; --image goes with manifest and docker-run.');
  const image = values.image ?? 'syswarden:TAG';
  if (!/^[a-z0-9][a-z0-9._/:@-]*$/i.test(image)) throw new SyswardenError('ERR_USAGE', `--image ${image}: not an image reference (e.g. registry.example/syswarden:0123abcd).`);
  return { help: false, action, image };
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  if (args.action === 'manifest') {
    process.stdout.write(daemonSetYaml(args.image));
    return 0;
  }
  if (args.action === 'docker-run') {
    const quote = (a: string) => (/^[\w.,=:/@-]+$/.test(a) ? a : `'${a}'`);
    console.log(['docker', 'run', '-d', '--name', 'syswarden', ...dockerRunOptions({ image: args.image }), args.image, ...AGENT_ARGS].map(quote).join(' '));
    return 0;
  }
  if (process.getuid?.() !== 0) throw new SyswardenError('ERR_PERMISSION', 'image build needs root (debootstrap, chroot, docker import). Fix: run it with sudo.');
  return withStopSignals(async (signal) => {
    const engine = await ensureEngine();
    try {
      const tag = await buildAgentImage({ signal, onStep: (m) => process.stderr.write(`image: ${m}\n`) });
      const older = await olderAgentImages(tag);
      if (older.length > 0) process.stderr.write(`image: earlier builds are still in Docker (${older.join(', ')}); \`docker rmi\` those no node runs.\n`);
      console.log(tag);
      return 0;
    } finally {
      await engine.stop();
    }
  });
}
