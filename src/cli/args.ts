import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SyswardenError } from '../errors.js';

export { setLongTimeout, sleepFor } from '../long-timer.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type WithHelp<O extends Options> = O & { help: { type: 'boolean'; short: 'h' } };
type Config<O extends Options> = { args: string[]; options: WithHelp<O>; allowPositionals: boolean; strict: true };

/** What a command's pure `parse(argv)` returns: a request for help, or the checked options. */
export type Parsed<T> = { help: true } | ({ help: false } & T);

/**
 * `--duration -5` reaches parseArgs as an option followed by what looks like
 * another option, which it calls "ambiguous". A value starting with '-' after
 * an option that takes one, and which is not itself an option of the command,
 * is joined as `--name=value`, so the number's own check can say what range
 * is allowed.
 */
function joinDashValues(argv: readonly string[], options: Options): string[] {
  const out: string[] = [];
  const longOf = new Map<string, string>();
  for (const [name, o] of Object.entries(options)) if (o.short) longOf.set(o.short, name);
  const isOption = (a: string): boolean => {
    if (a.startsWith('--')) return a === '--' || Object.hasOwn(options, a.slice(2).split('=')[0]!);
    return a.length >= 2 && longOf.has(a[1]!);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : /^-[^-]$/.test(a) ? longOf.get(a[1]!) : undefined;
    const next = argv[i + 1];
    if (name !== undefined && Object.hasOwn(options, name) && options[name]!.type === 'string' && next !== undefined && next.startsWith('-') && next !== '-' && !isOption(next)) {
      out.push(`--${name}=${next}`);
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** parseArgs with errors a user can act on: the bad option, and the command's help. Every failure is an ERR_USAGE SyswardenError. */
export function parseCommandArgs<O extends Options>(
  command: string,
  argv: string[],
  options: O,
  help: string,
  allowPositionals = false,
): ReturnType<typeof parseArgs<Config<O>>> {
  try {
    const all = { ...options, help: { type: 'boolean', short: 'h' } } as WithHelp<O>;
    const config: Config<O> = { args: joinDashValues(argv, all), options: all, allowPositionals, strict: true };
    return parseArgs(config);
  } catch (err) {
    const msg = (err instanceof Error ? err.message : String(err)).replace(/\. To specify a positional argument.*$/s, '.');
    throw new SyswardenError('ERR_USAGE', `${command}: ${msg}\n\n${help}`);
  }
}

/** Re-throw a SyswardenError from a value parser (a filter or detector name) as a usage error: exit 2. */
export function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof SyswardenError && e.code !== 'ERR_USAGE') throw new SyswardenError('ERR_USAGE', e.message, { cause: e });
    throw e;
  }
}

/** Decimal digits only: no sign, exponent, hex, spaces or 'Infinity' (Number() takes all of those). */
const INTEGER = /^[0-9]+$/;
const DECIMAL = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/;

/**
 * A whole number option from `min` to `max`, or undefined when absent. The
 * message names the option, the range and the value given.
 */
export function parseInteger(name: string, v: string | undefined, range: { min: number; max: number; unit?: string }): number | undefined {
  if (v === undefined) return undefined;
  const n = INTEGER.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new SyswardenError('ERR_USAGE', `--${name} must be a whole number from ${range.min} to ${range.max}${range.unit ? ` ${range.unit}` : ''}, got '${v}'.`);
  }
  return n;
}

/** A decimal option (e.g. 2.5) from `min` to `max`, or undefined when absent. */
export function parseDecimal(name: string, v: string | undefined, range: { min: number; max: number; unit: string; note?: string }): number | undefined {
  if (v === undefined) return undefined;
  const n = DECIMAL.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < range.min || n > range.max) {
    throw new SyswardenError('ERR_USAGE', `--${name} must be a number of ${range.unit} from ${range.min} to ${range.max}${range.note ? ` (${range.note})` : ''}, got '${v}'.`);
  }
  return n;
}

/** Shortest duration: timers count whole milliseconds. */
export const MIN_DURATION_SECONDS = 0.001;
/** Longest duration any command accepts: 366 days (long timers are chained, see setLongTimeout). */
export const MAX_DURATION_SECONDS = 366 * 24 * 3600;

function span(s: number): string {
  const of = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  return s % 86400 === 0 ? of(s / 86400, 'day') : s % 3600 === 0 ? of(s / 3600, 'hour') : `${s} s`;
}

/**
 * A positive number of seconds (decimal, e.g. 1.5) up to `max` (default
 * 366 days), or undefined when absent. Wait with sleepFor/setLongTimeout:
 * a plain setTimeout cannot hold more than 24.8 days.
 */
export function parseDuration(name: string, v: string | undefined, max = MAX_DURATION_SECONDS): number | undefined {
  if (v === undefined) return undefined;
  const n = DECIMAL.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < MIN_DURATION_SECONDS || n > max) {
    throw new SyswardenError('ERR_USAGE', `--${name} must be a positive number of seconds from ${MIN_DURATION_SECONDS} to ${max} (${span(max)}), got '${v}'.`);
  }
  return n;
}

/** Former name of parseDuration. */
export const parseSeconds = parseDuration;
