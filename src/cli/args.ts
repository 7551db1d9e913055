import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SyswardenError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type WithHelp<O extends Options> = O & { help: { type: 'boolean'; short: 'h' } };
type Config<O extends Options> = { args: string[]; options: WithHelp<O>; allowPositionals: boolean; strict: true };

/** parseArgs with errors a user can act on: the bad option, and the command's help. */
export function parseCommandArgs<O extends Options>(
  command: string,
  argv: string[],
  options: O,
  help: string,
  allowPositionals = false,
): ReturnType<typeof parseArgs<Config<O>>> {
  try {
    const config: Config<O> = { args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true };
    return parseArgs(config);
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/, '.');
    throw new SyswardenError('ERR_USAGE', `${command}: ${msg}\n\n${help}`);
  }
}

/** A positive number of seconds from an option, or undefined. */
export function parseSeconds(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    throw new SyswardenError('ERR_USAGE', `--${name} must be a positive number of seconds, got '${v}'.`);
  }
  return n;
}
