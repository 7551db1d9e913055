import { Collector } from '../capture/collector.js';
import { TARGET_SPEC_HELP } from '../capture/targets.js';
import { trainFromFiles, trainLive, type TrainResult } from '../detect/train.js';
import { DETECTOR_NAMES } from '../detect/registry.js';
import { SyswardenError } from '../errors.js';
import { parseFilterName } from '../window/filter.js';
import { expandPaths } from '../trace/paths.js';
import { parseCommandArgs, parseSeconds } from './args.js';
import { withStopSignals } from './signals.js';

const HELP = `usage: syswarden train --target <spec> --duration <s> --model <file> [--detector stide] [--window 6] [--filter none|harmless]
       syswarden train --from <recording|trace>... --model <file> [...]

Learns a target's normal behaviour (live, or from files) and saves the model.
It reports how many distinct windows it learnt and whether the normal
database stopped growing. ${TARGET_SPEC_HELP}
Detectors: ${DETECTOR_NAMES.join(', ')}.`;

function report(r: TrainResult, model: string): void {
  const d = r.detector;
  console.error(
    `syswarden: learnt ${r.distinct} distinct windows of ${d.windowSize} from ${r.windows} windows in ${r.threads} threads; ${r.convergence}.`,
  );
  console.error(`syswarden: ${d.name} threshold ${d.threshold.toFixed(4)}${d.thresholdRule ? ` (${d.thresholdRule})` : ''}; model saved to ${model}`);
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'train',
    argv,
    {
      target: { type: 'string', multiple: true },
      from: { type: 'string', multiple: true },
      duration: { type: 'string', short: 'd' },
      model: { type: 'string', short: 'm' },
      detector: { type: 'string' },
      window: { type: 'string', short: 'w' },
      filter: { type: 'string' },
    },
    HELP,
    true,
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.model) throw new SyswardenError('ERR_USAGE', `train needs --model <file>.\n\n${HELP}`);
  const window = values.window === undefined ? 6 : Number(values.window);
  if (!Number.isInteger(window) || window < 2 || window > 64) {
    throw new SyswardenError('ERR_USAGE', `--window must be a whole number from 2 to 64, got '${values.window}'.`);
  }
  const detector = values.detector ?? 'stide';
  if (!DETECTOR_NAMES.includes(detector)) throw new SyswardenError('ERR_USAGE', `unknown --detector '${detector}'. Use one of ${DETECTOR_NAMES.join(', ')}.`);
  const filter = parseFilterName(values.filter ?? 'none');
  const common = { detector, window, filter, model: values.model };

  if (values.from && values.from.length > 0) {
    if (values.target) throw new SyswardenError('ERR_USAGE', 'train takes --target (live) or --from (files), not both.');
    // `--from a b c` and `--from dir`: the files after --from are positionals to parseArgs.
    const r = await trainFromFiles({ ...common, from: expandPaths([...values.from, ...positionals], '--from') });
    report(r, values.model);
    return 0;
  }
  if (positionals.length > 0) throw new SyswardenError('ERR_USAGE', `train: unexpected '${positionals[0]}'. Files to learn from go after --from.`);
  const targets = values.target ?? [];
  if (targets.length === 0) throw new SyswardenError('ERR_USAGE', `train needs --target <spec> or --from <files>.\n\n${HELP}`);
  const duration = parseSeconds('duration', values.duration);
  if (duration === undefined) throw new SyswardenError('ERR_USAGE', 'live training needs --duration <seconds>.');

  return withStopSignals(async (signal) => {
    const collector = await Collector.open({ targets });
    try {
      console.error(`syswarden: learning ${targets.join(', ')} for ${duration} s (Ctrl-C ends early)`);
      const r = await trainLive({
        ...common,
        collector,
        durationMs: duration * 1000,
        signal,
        onProgress: (p) => {
          const bar = '#'.repeat(Math.round((20 * p.seconds) / duration)).padEnd(20, '.');
          const line = `  [${bar}] ${p.seconds.toFixed(0)}s ${p.windows} windows, ${p.distinct} distinct`;
          if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
          else console.error(line);
        },
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      const s = collector.stats();
      if (s.kernel.dropped + s.user.droppedEvents > 0) {
        console.error(`syswarden: warning: ${s.kernel.dropped + s.user.droppedEvents} events were lost while learning; the model may miss normal windows.`);
      }
      report(r, values.model!);
      return 0;
    } finally {
      await collector.close();
    }
  });
}
