import { SyswardenError } from '../errors.js';
import { cgiMiner } from './scenarios/cgi-miner.js';
import { ftpBruteforce } from './scenarios/ftp-bruteforce.js';
import { phpCmdInject } from './scenarios/php-cmdinject.js';
import { postgresCopy } from './scenarios/postgres-copy.js';
import { pythonTraversal } from './scenarios/python-traversal.js';
import { redisConfig } from './scenarios/redis-config.js';
import type { Scenario } from './types.js';

/** Every scenario, in the order `scenario list` prints them. */
export const SCENARIOS: readonly Scenario[] = [phpCmdInject, pythonTraversal, redisConfig, postgresCopy, ftpBruteforce, cgiMiner];

export function scenarioNamed(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new SyswardenError('ERR_USAGE', `no scenario '${name}'. Scenarios: ${SCENARIOS.map((x) => x.name).join(', ')} (or all).`);
  return s;
}

/** 'all', or a comma-separated list of names. */
export function parseScenarioList(spec: string): Scenario[] {
  if (spec === 'all') return [...SCENARIOS];
  const names = [...new Set(spec.split(',').map((s) => s.trim()).filter(Boolean))];
  if (names.length === 0) throw new SyswardenError('ERR_USAGE', 'name a scenario (see `syswarden scenario list`), or all.');
  return names.map(scenarioNamed);
}
