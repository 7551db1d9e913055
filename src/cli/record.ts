import { AGENT_CONSUMER_NICE, Collector } from '../capture/collector.js';
import { recordToFile } from '../capture/record-session.js';
import { TARGET_SPEC_HELP } from '../capture/targets.js';
import { SyswardenError } from '../errors.js';
import { checkOutputPath } from '../io/safe-file.js';
import { parseCommandArgs, parseDuration, parseInteger, type Parsed } from './args.js';
import { withStopSignals } from './signals.js';

/** The ring the BPF side accepts: up to 1 GiB. */
const MAX_RING_MIB = 1024;

const HELP = `usage: syswarden record --target <spec> [--target <spec>...] --out <file> [--duration <s>] [--force]
       syswarden record --all --out <file> [--duration <s>]

Captures the syscalls of the targets into a recording, until --duration
passes or you press Ctrl-C. ${TARGET_SPEC_HELP}
  --all        every process on the host except syswarden itself
  --force      overwrite --out if it exists
  --ring <MiB> ring buffer size (power of two from 1 to ${MAX_RING_MIB}, default 8)
  --cpus-per-ring <N>  a ring of --ring MiB per group of N CPUs (default 0: one
               ring shared by all CPUs; a host with many CPUs contends less)`;

export interface RecordArgs {
  targets: string[];
  all: boolean;
  out: string;
  /** Seconds, or undefined to record until stopped. */
  duration: number | undefined;
  force: boolean;
  ringBytes: number | undefined;
  cpusPerRing: number | undefined;
}

/** The checked options of `record`; throws an ERR_USAGE SyswardenError. Touches nothing outside. */
export function parse(argv: string[]): Parsed<RecordArgs> {
  const { values } = parseCommandArgs(
    'record',
    argv,
    {
      target: { type: 'string', multiple: true },
      all: { type: 'boolean' },
      out: { type: 'string', short: 'o' },
      duration: { type: 'string', short: 'd' },
      force: { type: 'boolean' },
      ring: { type: 'string' },
      'cpus-per-ring': { type: 'string' },
    },
    HELP,
  );
  if (values.help) return { help: true };
  const targets = values.target ?? [];
  if (!values.out) throw new SyswardenError('ERR_USAGE', `record needs --out <file>.\n\n${HELP}`);
  if (targets.length === 0 && !values.all) throw new SyswardenError('ERR_USAGE', `record needs --target <spec> or --all.\n\n${HELP}`);
  if (targets.length > 0 && values.all) throw new SyswardenError('ERR_USAGE', 'record takes either --target or --all, not both.');
  const duration = parseDuration('duration', values.duration);
  let ringBytes: number | undefined;
  if (values.ring !== undefined) {
    const bad = () => new SyswardenError('ERR_USAGE', `--ring must be a power of two from 1 to ${MAX_RING_MIB} MiB (1, 2, 4, ..., ${MAX_RING_MIB}), got '${values.ring}'.`);
    let mib: number | undefined;
    try {
      mib = parseInteger('ring', values.ring, { min: 1, max: MAX_RING_MIB, unit: 'MiB' });
    } catch {
      throw bad();
    }
    if (mib === undefined || (mib & (mib - 1)) !== 0) throw bad();
    ringBytes = mib * 2 ** 20;
  }
  const cpusPerRing = parseInteger('cpus-per-ring', values['cpus-per-ring'], { min: 0, max: 4096 });
  return { help: false, targets, all: values.all === true, out: values.out, duration, force: values.force === true, ringBytes, cpusPerRing };
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const { targets, all, out, duration, force, ringBytes, cpusPerRing } = args;
  // The output is checked before the program is loaded and attached: a bad --out costs nothing.
  checkOutputPath(out, { what: 'recording', force });

  return withStopSignals(async (signal) => {
    const collector = await Collector.open({ targets, all, consumerNice: AGENT_CONSUMER_NICE, ...(ringBytes ? { ringBytes } : {}), ...(cpusPerRing !== undefined ? { cpusPerRing } : {}) });
    try {
      collector.on('target-gone', (t: { spec: string }) => console.error(`syswarden: target ${t.spec} is gone (its cgroup was removed).`));
      const what = all ? 'all processes' : collector.targets().map((t) => `${t.spec} -> ${t.cgroup.path}`).join(', ');
      console.error(`syswarden: recording ${what} (attach ${collector.attachMode}) into ${out}${duration ? ` for ${duration} s` : '; Ctrl-C to stop'}`);
      const events = await recordToFile(collector, out, {
        ...(duration !== undefined ? { durationMs: duration * 1000 } : {}),
        signal,
        overwrite: force,
        ...(process.stderr.isTTY ? { onProgress: (n: number) => process.stderr.write(`\r  ${n} events`) } : {}),
      });
      const s = collector.stats();
      if (process.stderr.isTTY) process.stderr.write('\n');
      const lost = s.kernel.dropped + s.user.droppedEvents;
      console.error(
        `syswarden: wrote ${events} events to ${out}; dropped ${s.kernel.dropped} in the kernel and ${s.user.droppedEvents} in user space` +
          (lost > 0 ? ' (raise --ring if the kernel dropped)' : ''),
      );
      return 0;
    } finally {
      // recordToFile closes it on its own paths; this covers a failure before it starts. close() is idempotent.
      await collector.close();
    }
  });
}
