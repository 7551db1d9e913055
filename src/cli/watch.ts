import { AlertWriter } from '../alert/sink.js';
import { Collector } from '../capture/collector.js';
import { TARGET_SPEC_HELP } from '../capture/targets.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { SyswardenError } from '../errors.js';
import { parseCommandArgs, parseSeconds } from './args.js';
import { withStopSignals } from './signals.js';

const HELP = `usage: syswarden watch --target <spec> [--target <spec>...] --model <file> [--out <file>] [--pretty] [--workers N] [--duration <s>]

Live detection: alerts as JSON lines on stdout (or --out, appended), readable
lines with --pretty; stats on stderr every few seconds. ${TARGET_SPEC_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'watch',
    argv,
    {
      target: { type: 'string', multiple: true },
      model: { type: 'string', short: 'm' },
      out: { type: 'string', short: 'o' },
      pretty: { type: 'boolean' },
      workers: { type: 'string' },
      duration: { type: 'string', short: 'd' },
      'stats-every': { type: 'string' },
    },
    HELP,
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const targets = values.target ?? [];
  if (targets.length === 0) throw new SyswardenError('ERR_USAGE', `watch needs --target <spec>.\n\n${HELP}`);
  if (!values.model) throw new SyswardenError('ERR_USAGE', `watch needs --model <file> (make one with 'syswarden train').`);
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 1 || workers > 256)) {
    throw new SyswardenError('ERR_USAGE', `--workers must be a whole number from 1 to 256, got '${values.workers}'.`);
  }
  const duration = parseSeconds('duration', values.duration);
  const every = parseSeconds('stats-every', values['stats-every']) ?? 5;

  return withStopSignals(async (signal) => {
    const pipeline = await Pipeline.create({ model: values.model!, ...(workers ? { workers } : {}) });
    const writer = new AlertWriter(values.out, values.pretty === true);
    pipeline.on('alert', (a) => writer.write(a));
    pipeline.on('worker-exit', (w: { index: number; reason: string }) => console.error(`syswarden: scoring worker ${w.index} died (${w.reason}); replaced.`));
    let collector: Collector | undefined;
    try {
      collector = await Collector.open({ targets });
      collector.on('target-gone', (t: { spec: string }) => console.error(`syswarden: target ${t.spec} is gone.`));
      pipeline.attach(collector);
      console.error(`syswarden: watching ${targets.join(', ')} with ${pipeline.detector} (window ${pipeline.windowSize}, ${pipeline.stats().workers} workers)`);
      let last = { t: Date.now(), events: 0, windows: 0 };
      const stats = setInterval(() => {
        const c = collector!.stats();
        const p = pipeline.stats();
        const dt = (Date.now() - last.t) / 1000;
        console.error(
          `syswarden: ${((p.events - last.events) / dt).toFixed(0)} events/s, ${((p.windows - last.windows) / dt).toFixed(0)} windows/s, ` +
            `drops kernel ${c.kernel.dropped} / native+js ${c.user.droppedEvents} / scoring ${p.droppedEvents}, alerts ${p.incidents}` +
            (c.fairShare?.shedNow ? `, ${c.fairShare.shedNow} flooding container(s) shed` : ''),
        );
        last = { t: Date.now(), events: p.events, windows: p.windows };
      }, every * 1000);
      await new Promise<void>((resolve) => {
        const timer = duration !== undefined ? setTimeout(resolve, duration * 1000) : undefined;
        signal.addEventListener('abort', () => {
          if (timer) clearTimeout(timer);
          resolve();
        }, { once: true });
      });
      clearInterval(stats);
    } finally {
      await collector?.close();
      await pipeline.close();
      writer.close();
    }
    const p = pipeline.stats();
    console.error(`syswarden: scored ${p.windows} windows; ${p.incidents} incidents; ${p.droppedEvents} events not scored.`);
    return 0;
  });
}
