import { summarizeRecording, formatSummary } from '../capture/summary.js';
import { isZipArchive } from '../io/zip.js';
import { detectFormat } from '../trace/read-trace.js';
import { ABIS, parseAbi, type Abi } from '../trace/syscalls.js';
import { formatTraceSummary, summarizeTrace } from '../trace/trace-summary.js';
import { asUsage, parseCommandArgs, type Parsed } from './args.js';
import { SyswardenError } from '../errors.js';

const HELP = `usage: syswarden summary <recording|trace> [--json] [--abi ${ABIS.join('|')}] [--lenient]

Prints what a recording or a trace (strace output, a plain list) holds:
events, syscalls by name, threads, and for a recording its drops.
  --json      one JSON object instead of the table
  --abi <a>   syscall numbering of a trace: x86_64 (default), or i386 for a
              32-bit process. Recordings carry their own numbering.
  --lenient   skip and count a trace's malformed lines and unknown syscalls instead of failing`;

export interface SummaryArgs {
  file: string;
  json: boolean;
  abi: Abi;
  lenient: boolean;
}

/** The checked options of `summary`; throws an ERR_USAGE SyswardenError. Touches nothing outside. */
export function parse(argv: string[]): Parsed<SummaryArgs> {
  const { values, positionals } = parseCommandArgs(
    'summary',
    argv,
    { json: { type: 'boolean' }, abi: { type: 'string' }, lenient: { type: 'boolean' } },
    HELP,
    true,
  );
  if (values.help) return { help: true };
  if (positionals.length !== 1) throw new SyswardenError('ERR_USAGE', `summary takes one recording file or trace.\n\n${HELP}`);
  const abi = asUsage(() => parseAbi(values.abi ?? 'x86_64'));
  return { help: false, file: positionals[0]!, json: values.json === true, abi, lenient: values.lenient === true };
}

/**
 * The trace format of a file that reads as a text trace, else undefined. A
 * recording, and whatever is neither (missing, empty, a FIFO, foreign), goes
 * to the recording reader, whose errors name the file as a recording; but
 * a zip archive's own error is its answer.
 */
async function textTraceFormat(file: string): Promise<string | undefined> {
  try {
    const format = await detectFormat(file);
    return format.name === 'recording' ? undefined : format.name;
  } catch (e) {
    if (e instanceof SyswardenError && !isZip(file)) return undefined;
    throw e;
  }
}

function isZip(file: string): boolean {
  try {
    return isZipArchive(file, 'trace');
  } catch {
    return false;
  }
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const format = await textTraceFormat(args.file);
  if (format !== undefined) {
    const t = await summarizeTrace(args.file, { format, abi: args.abi, lenient: args.lenient });
    console.log(args.json ? JSON.stringify(t) : formatTraceSummary(t));
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
