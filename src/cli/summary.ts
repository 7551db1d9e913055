import { summarizeRecording, formatSummary } from '../capture/summary.js';
import { parseCommandArgs, type Parsed } from './args.js';
import { SyswardenError } from '../errors.js';

const HELP = `usage: syswarden summary <recording> [--json]

Prints what a recording holds: events, syscalls by name, threads, drops.
  --json   one JSON object instead of the table`;

export interface SummaryArgs {
  file: string;
  json: boolean;
}

/** The checked options of `summary`; throws an ERR_USAGE SyswardenError. Touches nothing outside. */
export function parse(argv: string[]): Parsed<SummaryArgs> {
  const { values, positionals } = parseCommandArgs('summary', argv, { json: { type: 'boolean' } }, HELP, true);
  if (values.help) return { help: true };
  if (positionals.length !== 1) throw new SyswardenError('ERR_USAGE', `summary takes one recording file.\n\n${HELP}`);
  return { help: false, file: positionals[0]!, json: values.json === true };
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const s = await summarizeRecording(args.file);
  if (s.truncated) console.error(`syswarden: warning: ${s.file} is incomplete: ${s.truncated}. Showing what it holds up to its last complete batch.`);
  if (args.json) {
    const { header, trailer, ...rest } = s;
    console.log(JSON.stringify({ ...rest, header, trailer }));
  } else {
    console.log(formatSummary(s));
  }
  return 0;
}
