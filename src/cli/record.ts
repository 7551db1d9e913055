import { Collector } from '../capture/collector.js';
import { recordToFile } from '../capture/record-session.js';
import { TARGET_SPEC_HELP } from '../capture/targets.js';
import { SyswardenError } from '../errors.js';
import { parseCommandArgs, parseSeconds } from './args.js';
import { withStopSignals } from './signals.js';

const HELP = `usage: syswarden record --target <spec> [--target <spec>...] --out <file> [--duration <s>] [--force]
       syswarden record --all --out <file> [--duration <s>]

Captures the syscalls of the targets into a recording, until --duration
passes or you press Ctrl-C. ${TARGET_SPEC_HELP}
  --all        every process on the host except syswarden itself
  --force      overwrite --out if it exists
  --ring <MiB> ring buffer size (power of two, default 8)`;

export async function run(argv: string[]): Promise<number> {
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
    },
    HELP,
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const targets = values.target ?? [];
  if (!values.out) throw new SyswardenError('ERR_USAGE', `record needs --out <file>.\n\n${HELP}`);
  if (targets.length === 0 && !values.all) throw new SyswardenError('ERR_USAGE', `record needs --target <spec> or --all.\n\n${HELP}`);
  if (targets.length > 0 && values.all) throw new SyswardenError('ERR_USAGE', 'record takes either --target or --all, not both.');
  const duration = parseSeconds('duration', values.duration);
  let ringBytes: number | undefined;
  if (values.ring !== undefined) {
    const mib = Number(values.ring);
    if (!Number.isInteger(mib) || mib < 1 || (mib & (mib - 1)) !== 0) {
      throw new SyswardenError('ERR_USAGE', `--ring must be a power of two in MiB (1, 2, 4, ...), got '${values.ring}'.`);
    }
    ringBytes = mib << 20;
  }

  return withStopSignals(async (signal) => {
    const collector = await Collector.open({ targets, all: values.all === true, ...(ringBytes ? { ringBytes } : {}) });
    collector.on('target-gone', (t: { spec: string }) => console.error(`syswarden: target ${t.spec} is gone (its cgroup was removed).`));
    const what = values.all ? 'all processes' : collector.targets().map((t) => `${t.spec} -> ${t.cgroup.path}`).join(', ');
    console.error(`syswarden: recording ${what} (attach ${collector.attachMode}) into ${values.out}${duration ? ` for ${duration} s` : '; Ctrl-C to stop'}`);
    const events = await recordToFile(collector, values.out!, {
      ...(duration !== undefined ? { durationMs: duration * 1000 } : {}),
      signal,
      overwrite: values.force === true,
      ...(process.stderr.isTTY ? { onProgress: (n: number) => process.stderr.write(`\r  ${n} events`) } : {}),
    });
    const s = collector.stats();
    if (process.stderr.isTTY) process.stderr.write('\n');
    const lost = s.kernel.dropped + s.user.droppedEvents;
    console.error(
      `syswarden: wrote ${events} events to ${values.out}; dropped ${s.kernel.dropped} in the kernel and ${s.user.droppedEvents} in user space` +
        (lost > 0 ? ' (raise --ring if the kernel dropped)' : ''),
    );
    return 0;
  });
}
