/** STUB: being written. */
import { SyswardenError } from '../../errors.js';
import type { Scenario } from '../types.js';

const todo = (): never => {
  throw new SyswardenError('ERR_SCENARIO', 'scenario redis-config is not built yet');
};

export const redisConfig: Scenario = {
  name: 'redis-config',
  application: 'TODO',
  attackKind: 'TODO',
  attack: 'TODO',
  image: { name: 'redis-config', packages: [] },
  command: todo,
  ready: todo,
  session: todo,
  attackRun: todo,
  evidence: [],
};
