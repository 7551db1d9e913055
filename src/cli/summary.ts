import { summarizeRecording, formatSummary } from '../capture/summary.js';
import { parseCommandArgs } from './args.js';
import { SyswardenError } from '../errors.js';

const HELP = `usage: syswarden summary <recording> [--json]

Prints what a recording holds: events, syscalls by name, threads, drops.
  --json   one JSON object instead of the table`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('summary', argv, { json: { type: 'boolean' } }, HELP, true);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new SyswardenError('ERR_USAGE', `summary takes one recording file.\n\n${HELP}`);
  const s = await summarizeRecording(positionals[0]!);
  if (s.truncated) console.error(`syswarden: warning: ${s.file} is incomplete: ${s.truncated}. Showing what it holds up to its last complete batch.`);
  if (values.json) {
    const { header, trailer, ...rest } = s;
    console.log(JSON.stringify({ ...rest, header, trailer }));
  } else {
    console.log(formatSummary(s));
  }
  return 0;
}
