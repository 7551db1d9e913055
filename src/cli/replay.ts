import { AlertWriter } from '../alert/sink.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { replayFile } from '../pipeline/replay.js';
import { SyswardenError } from '../errors.js';
import { parseCommandArgs } from './args.js';

const HELP = `usage: syswarden replay <recording|trace> --model <file> [--out <file>] [--pretty] [--workers N]

Scores a recording or a trace file offline, exactly as watch scores live
capture: identical input gives identical alerts.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'replay',
    argv,
    { model: { type: 'string', short: 'm' }, out: { type: 'string', short: 'o' }, pretty: { type: 'boolean' }, workers: { type: 'string' } },
    HELP,
    true,
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new SyswardenError('ERR_USAGE', `replay takes one recording or trace file.\n\n${HELP}`);
  if (!values.model) throw new SyswardenError('ERR_USAGE', 'replay needs --model <file>.');
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 1 || workers > 256)) {
    throw new SyswardenError('ERR_USAGE', `--workers must be a whole number from 1 to 256, got '${values.workers}'.`);
  }
  const pipeline = await Pipeline.create({ model: values.model, ...(workers ? { workers } : {}) });
  const writer = new AlertWriter(values.out, values.pretty === true);
  pipeline.on('alert', (a) => writer.write(a));
  try {
    const r = await replayFile(pipeline, positionals[0]!);
    if (r.warning) console.error(`syswarden: warning: ${positionals[0]} is incomplete: ${r.warning}.`);
  } finally {
    await pipeline.close();
    writer.close();
  }
  const p = pipeline.stats();
  console.error(`syswarden: replayed ${p.events} events, ${p.windows} windows; ${p.incidents} incidents.`);
  return 0;
}
