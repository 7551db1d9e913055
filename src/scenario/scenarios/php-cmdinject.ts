/** STUB: being written. */
import { SyswardenError } from '../../errors.js';
import type { Scenario } from '../types.js';

const todo = (): never => {
  throw new SyswardenError('ERR_SCENARIO', 'scenario php-cmdinject is not built yet');
};

export const phpCmdInject: Scenario = {
  name: 'php-cmdinject',
  application: 'TODO',
  attackKind: 'TODO',
  attack: 'TODO',
  image: { name: 'php-cmdinject', packages: [] },
  command: todo,
  ready: todo,
  session: todo,
  attackRun: todo,
  evidence: [],
};
