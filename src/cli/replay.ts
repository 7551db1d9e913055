import { AlertWriter } from '../alert/sink.js';
import { checkOutputPath } from '../io/safe-file.js';
import { AGENT_WORKER_NICE, Pipeline, PipelineModel } from '../pipeline/pipeline.js';
import { replayFile } from '../pipeline/replay.js';
import { SyswardenError } from '../errors.js';
import { asUsage, parseCommandArgs, parseInteger } from './args.js';
import { parseAbi } from '../trace/syscalls.js';

const HELP = `usage: syswarden replay <recording|trace> --model <file> [--out <file>] [--pretty] [--workers N] [--abi x86_64|i386]

Scores a recording or a trace file offline, exactly as watch scores live
capture: identical input gives identical alerts. If the alert output cannot
be written (a full disk), records wait in memory; replay exits 1 if any
record was lost. --abi: the syscall numbering of a trace file (i386 for
32-bit processes; recordings carry their own).`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'replay',
    argv,
    { model: { type: 'string', short: 'm' }, out: { type: 'string', short: 'o' }, pretty: { type: 'boolean' }, workers: { type: 'string' }, abi: { type: 'string' } },
    HELP,
    true,
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new SyswardenError('ERR_USAGE', `replay takes one recording or trace file.\n\n${HELP}`);
  if (!values.model) throw new SyswardenError('ERR_USAGE', 'replay needs --model <file>.');
  const workers = parseInteger('workers', values.workers, { min: 1, max: 256 });
  const abi = asUsage(() => parseAbi(values.abi ?? 'x86_64'));
  // The model and the output are checked before a worker starts, and whatever was started is closed on every path.
  const model = await PipelineModel.read(values.model);
  if (values.out !== undefined && values.out !== '-') checkOutputPath(values.out, { what: 'alert file', append: true });
  const writer = new AlertWriter(values.out, { pretty: values.pretty === true });
  let pipeline: Pipeline | undefined;
  try {
    pipeline = await Pipeline.create({ workerNice: AGENT_WORKER_NICE, model, ...(workers ? { workers } : {}) });
    pipeline.on('alert', (a) => writer.write(a));
    const r = await replayFile(pipeline, positionals[0]!, { abi });
    if (r.warning) console.error(`syswarden: warning: ${positionals[0]} is incomplete: ${r.warning}.`);
  } finally {
    await pipeline?.close();
    writer.close();
  }
  const p = pipeline.stats();
  const w = writer.stats();
  console.error(
    `syswarden: replayed ${p.events} events, ${p.windows} windows; ${p.incidents} incidents` +
      (w.lost > 0 ? `; ${w.lost} alert record(s) lost: ${values.out ?? 'stdout'} could not be written.` : '.'),
  );
  return w.lost > 0 ? 1 : 0;
}
