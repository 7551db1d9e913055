#!/usr/bin/env node
import { isSyswardenError } from '../errors.js';
import { buildIdentity, formatBuildIdentity } from '../version.js';

type Command = (argv: string[]) => Promise<number>;

// Commands load lazily: `syswarden summary` must not pay for the BPF addon.
const COMMANDS: Record<string, { help: string; load: () => Promise<Command> }> = {
  record: { help: 'capture a target\'s syscalls into a recording file', load: async () => (await import('./record.js')).run },
  summary: { help: 'print what a recording holds', load: async () => (await import('./summary.js')).run },
  train: { help: 'learn a target\'s normal behaviour and save a model', load: async () => (await import('./train.js')).run },
  watch: { help: 'live detection on one or more targets', load: async () => (await import('./watch.js')).run },
  replay: { help: 'score a recording or trace offline, as watch would', load: async () => (await import('./replay.js')).run },
  bench: { help: 'benchmarks: overhead against bare and strace, capacity, latency', load: async () => (await import('./bench.js')).run },
  soak: { help: 'run the full pipeline for a long time and watch memory, CPU and loss', load: async () => (await import('./soak.js')).run },
  model: { help: 'fleet models: info, merge models learnt on many hosts, diff', load: async () => (await import('./model.js')).run },
  demo: { help: 'the built-in default job (see README)', load: async () => (await import('./demo.js')).run },
  scenario: { help: 'record labelled datasets of real containers under attack (list, run)', load: async () => (await import('./scenario.js')).run },
  image: { help: 'build the agent\'s container image; print its DaemonSet (build, manifest, docker-run)', load: async () => (await import('./image.js')).run },
  eval: { help: 'evaluate detectors on labelled traces (the reference study\'s protocol)', load: async () => (await import('./eval.js')).run },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.help}`);
  return `usage: syswarden <command> [options]\n       syswarden --version\n\ncommands:\n${lines.join('\n')}\n\nRun 'syswarden <command> --help' for a command's options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    // The build's identifiers too: `model info` prints the same ones from a model, to match the two.
    const build = buildIdentity((await import('../detect/model-file.js')).MODEL_FORMAT);
    console.log([`syswarden ${build.version}`, ...formatBuildIdentity(build)].join('\n'));
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`syswarden: unknown command '${name}'.\n\n${usage()}`);
    return 2;
  }
  return (await command.load())(rest);
}

/** An error the system returned (errno, syscall), as Node raises them: ECONNREFUSED, ENOSPC, EACCES... */
function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (isSyswardenError(err)) {
      console.error(`syswarden: ${err.message}`);
      // A command used wrongly exits 2, like other Unix tools; a failure while working exits 1.
      process.exitCode = err.code === 'ERR_USAGE' ? 2 : 1;
    } else if (isSystemError(err) && !process.env.SYSWARDEN_DEBUG) {
      // The system refused something no check foresaw (a connection, a file): one line naming it, not a trace.
      console.error(`syswarden: ${err.message}. (SYSWARDEN_DEBUG=1 shows where it happened.)`);
      process.exitCode = 1;
    } else {
      console.error(err);
      process.exitCode = 1;
    }
  },
);
