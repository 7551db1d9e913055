import { AGENT_CONSUMER_NICE, Collector } from '../capture/collector.js';
import { TARGET_SPEC_HELP } from '../capture/targets.js';
import { MIN_PROFILE_WINDOWS, trainFromFiles, trainLive, type TrainResult } from '../detect/train.js';
import { DEFAULT_DETECTOR, DETECTOR_NAMES } from '../detect/registry.js';
import { DEFAULT_BUDGET, formatCalibration } from '../detect/calibration.js';
import { DEFAULT_FRAME, MAX_FRAME } from '../detect/decision.js';
import { formatShortThreads } from '../detect/short-threads.js';
import { SyswardenError } from '../errors.js';
import { checkOutputPath } from '../io/safe-file.js';
import { parseFilterName, type FilterName } from '../window/filter.js';
import { MAX_WINDOW, MIN_WINDOW } from '../window/windows.js';
import { expandPaths } from '../trace/paths.js';
import { parseAbi, type Abi } from '../trace/syscalls.js';
import { asUsage, parseCommandArgs, parseDecimal, parseDuration, parseInteger, type Parsed } from './args.js';
import { withStopSignals } from './signals.js';

const HELP = `usage: syswarden train --target <spec> --duration <s> --model <file> [--force] [--detector ${DEFAULT_DETECTOR}] [--window 6] [--filter none|harmless]
       syswarden train --from <recording|trace>... --model <file> [--force] [...]

Learns a target's normal behaviour (live, or from files), sets the alarm
threshold to meet a false-alarm budget on normal data held out from
learning, and saves the model. It reports how many distinct windows it
learnt, whether the normal database stopped growing, and the calibration.
${TARGET_SPEC_HELP}
Detectors: ${DETECTOR_NAMES.join(', ')}. --window: ${MIN_WINDOW} to ${MAX_WINDOW} calls.
  --false-alarms <rate>  the budget: false alarms per container-hour when live (default ${DEFAULT_BUDGET.hour}),
                         the share of normal traces that may alarm with --from (default ${DEFAULT_BUDGET.trace})
  --frame <n>            windows per decision frame: a thread alarms when the mean score
                         of its last n windows reaches the threshold (default ${DEFAULT_FRAME})
  --seed <n>             seed for the held-out folds and randomised detectors (default 1)
  --abi <abi>            with --from: syscall numbering of trace files, x86_64 or i386
                         (32-bit processes; recordings carry their own) (default x86_64)
  --per-exe              also learn a profile per executable (${MIN_PROFILE_WINDOWS}+ training windows each):
                         a thread's windows are scored by its executable's profile, others
                         by the container-wide one (needs process events: live, or recordings)
  --force                replace --model if it exists`;

function report(r: TrainResult, model: string): void {
  const d = r.detector;
  for (const w of r.warnings ?? []) console.error(`syswarden: warning: ${w}; the model learnt only what was read.`);
  if (r.shortThreads) console.error(`syswarden: warning: ${formatShortThreads(r.shortThreads, r.calibration.frame)}.`);
  console.error(
    `syswarden: learnt ${r.distinct} distinct windows of ${d.windowSize} from ${r.windows} windows in ${r.threads} threads; ${r.convergence}.`,
  );
  console.error(
    r.executables !== undefined
      ? `syswarden: ${r.executables} executable(s) exec'd while learning; watch reports the first exec of any other as 'new-executable'.`
      : "syswarden: no process events in the training data (trace files, recordings made with the classic-tracepoint fallback, or recordings cut short before their trailer said how they were made): no 'new-executable' records with this model.",
  );
  if (r.profiles) {
    console.error(`syswarden: ${r.profiles.length} executable profile(s), sharing the false-alarm budget with the container-wide one:`);
    for (const p of r.profiles) console.error(`  ${p.exe}: ${p.windows} windows, threshold ${p.calibration.threshold.toPrecision(4)}`);
    for (const p of r.skippedProfiles ?? []) console.error(`  ${p.exe}: ${p.windows} windows, no profile (${p.reason}); scored by the container-wide one`);
  }
  const made = d.summary?.();
  console.error(`syswarden: ${d.name} model saved to ${model}\n${indent(formatCalibration(r.calibration))}${made ? `\n${indent(made)}` : ''}`);
}

function indent(text: string): string {
  return text.split('\n').map((l) => `  ${l}`).join('\n');
}

export type TrainArgs = {
  model: string;
  force: boolean;
  detector: string;
  window: number;
  filter: FilterName;
  falseAlarms: number | undefined;
  frame: number | undefined;
  seed: number | undefined;
  perExe: boolean;
} & ({ mode: 'files'; from: string[]; abi: Abi } | { mode: 'live'; targets: string[]; duration: number });

/** The checked options of `train`; throws an ERR_USAGE SyswardenError. Touches nothing outside (--from directories are expanded by run). */
export function parse(argv: string[]): Parsed<TrainArgs> {
  const { values, positionals } = parseCommandArgs(
    'train',
    argv,
    {
      target: { type: 'string', multiple: true },
      from: { type: 'string', multiple: true },
      duration: { type: 'string', short: 'd' },
      model: { type: 'string', short: 'm' },
      force: { type: 'boolean' },
      detector: { type: 'string' },
      window: { type: 'string', short: 'w' },
      filter: { type: 'string' },
      'false-alarms': { type: 'string' },
      frame: { type: 'string' },
      seed: { type: 'string' },
      abi: { type: 'string' },
      'per-exe': { type: 'boolean' },
    },
    HELP,
    true,
  );
  if (values.help) return { help: true };
  if (!values.model) throw new SyswardenError('ERR_USAGE', `train needs --model <file>.\n\n${HELP}`);
  const window = parseInteger('window', values.window, { min: MIN_WINDOW, max: MAX_WINDOW }) ?? 6;
  const detector = values.detector ?? DEFAULT_DETECTOR;
  if (!DETECTOR_NAMES.includes(detector)) throw new SyswardenError('ERR_USAGE', `unknown --detector '${detector}'. Use one of ${DETECTOR_NAMES.join(', ')}.`);
  const filter = asUsage(() => parseFilterName(values.filter ?? 'none'));
  const live = !(values.from && values.from.length > 0);
  const falseAlarms = parseDecimal('false-alarms', values['false-alarms'], live ? { min: 0.000001, max: 3600, unit: 'false alarms per container-hour' } : { min: 0.000001, max: 0.5, unit: 'normal traces that may alarm (a share)' });
  const frame = parseInteger('frame', values.frame, { min: 1, max: MAX_FRAME });
  const seed = parseInteger('seed', values.seed, { min: 0, max: 2 ** 32 - 1 });
  const common = { help: false as const, model: values.model, force: values.force === true, detector, window, filter, falseAlarms, frame, seed, perExe: values['per-exe'] === true };

  if (values.from && values.from.length > 0) {
    if (values.target) throw new SyswardenError('ERR_USAGE', 'train takes --target (live) or --from (files), not both.');
    if (values.duration !== undefined) throw new SyswardenError('ERR_USAGE', 'train --from reads files to their end: --duration applies to live training (--target) only.');
    // `--from a b c` and `--from dir`: the files after --from are positionals to parseArgs.
    return { ...common, mode: 'files', from: [...values.from, ...positionals], abi: asUsage(() => parseAbi(values.abi ?? 'x86_64')) };
  }
  if (values.abi !== undefined) throw new SyswardenError('ERR_USAGE', 'train: --abi applies to trace files (--from); live capture reads each event\'s own numbering.');
  if (positionals.length > 0) throw new SyswardenError('ERR_USAGE', `train: unexpected '${positionals[0]}'. Files to learn from go after --from.`);
  const targets = values.target ?? [];
  if (targets.length === 0) throw new SyswardenError('ERR_USAGE', `train needs --target <spec> or --from <files>.\n\n${HELP}`);
  const duration = parseDuration('duration', values.duration);
  if (duration === undefined) throw new SyswardenError('ERR_USAGE', 'live training needs --duration <seconds>.');
  return { ...common, mode: 'live', targets, duration };
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  // Refuse an existing or unusable --model before learning anything (the save checks again).
  checkOutputPath(args.model, { what: 'model', force: args.force });
  const common = {
    detector: args.detector, window: args.window, filter: args.filter, model: args.model, force: args.force,
    ...(args.falseAlarms !== undefined ? { falseAlarms: args.falseAlarms } : {}),
    ...(args.frame !== undefined ? { frame: args.frame } : {}),
    ...(args.seed !== undefined ? { seed: args.seed } : {}),
    ...(args.perExe ? { perExe: true } : {}),
  };

  if (args.mode === 'files') {
    const r = await trainFromFiles({ ...common, from: expandPaths(args.from, '--from'), read: { abi: args.abi } });
    report(r, args.model);
    return 0;
  }
  const { targets, duration } = args;
  return withStopSignals(async (signal) => {
    const collector = await Collector.open({ targets, consumerNice: AGENT_CONSUMER_NICE });
    try {
      console.error(`syswarden: learning ${targets.join(', ')} for ${duration} s (Ctrl-C ends early)`);
      const r = await trainLive({
        ...common,
        collector,
        durationMs: duration * 1000,
        signal,
        onProgress: (p) => {
          const bar = '#'.repeat(Math.min(20, Math.round((20 * p.seconds) / duration))).padEnd(20, '.');
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
      report(r, args.model);
      return 0;
    } finally {
      await collector.close();
    }
  });
}
