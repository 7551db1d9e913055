/** The `watch` options of the response (parsed here so watch.ts only wires them). */
import { MAX_DURATION_SECONDS, parseDecimal, parseInteger } from '../cli/args.js';
import { SyswardenError } from '../errors.js';
import { RESPONSE_ACTIONS, type ResponseAction } from './responder.js';

export const RESPONSE_HELP = `--respond freeze|kill (off by default: see docs/response.md) acts on each
incident ('alert') and on each 'escape': freeze stops the whole container
(cgroup v2 freezer) for --freeze-for <s> (default 60; 0: until watch
exits) and always thaws it when watch ends; kill sends SIGKILL to the
offending process, checked to still be in the container. At most
--respond-limit N actions per container per 60 s (default 3), then none
until it has been quiet for 60 s. Each action is a {"type":"response",...}
record.`;

export const RESPONSE_OPTIONS = {
  respond: { type: 'string' },
  'freeze-for': { type: 'string' },
  'respond-limit': { type: 'string' },
} as const;

export interface ResponseChoice {
  action: ResponseAction;
  freezeForMs: number;
  limit: number;
}

/** The response asked for, or undefined when none was; every misuse is a usage error naming the fix. */
export function parseResponseOptions(values: { respond?: string; 'freeze-for'?: string; 'respond-limit'?: string }): ResponseChoice | undefined {
  const action = values.respond;
  if (action === undefined) {
    for (const o of ['freeze-for', 'respond-limit'] as const) {
      if (values[o] !== undefined) throw new SyswardenError('ERR_USAGE', `--${o} only applies with --respond: add --respond freeze (or kill), or drop --${o}.`);
    }
    return undefined;
  }
  if (!(RESPONSE_ACTIONS as readonly string[]).includes(action)) {
    throw new SyswardenError('ERR_USAGE', `--respond must be one of ${RESPONSE_ACTIONS.join(', ')}, got '${action}'.`);
  }
  if (action !== 'freeze' && values['freeze-for'] !== undefined) {
    throw new SyswardenError('ERR_USAGE', `--freeze-for only applies with --respond freeze, not --respond ${action}.`);
  }
  const freezeFor = parseDecimal('freeze-for', values['freeze-for'], { min: 0, max: MAX_DURATION_SECONDS, unit: 'seconds', note: '0: until watch exits' }) ?? 60;
  const limit = parseInteger('respond-limit', values['respond-limit'], { min: 1, max: 1000, unit: 'actions per container per 60 s' }) ?? 3;
  return { action: action as ResponseAction, freezeForMs: Math.round(freezeFor * 1000), limit };
}
