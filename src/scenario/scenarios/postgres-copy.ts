/** STUB: being written. */
import { SyswardenError } from '../../errors.js';
import type { Scenario } from '../types.js';

const todo = (): never => {
  throw new SyswardenError('ERR_SCENARIO', 'scenario postgres-copy is not built yet');
};

export const postgresCopy: Scenario = {
  name: 'postgres-copy',
  application: 'TODO',
  attackKind: 'TODO',
  attack: 'TODO',
  image: { name: 'postgres-copy', packages: [] },
  command: todo,
  ready: todo,
  session: todo,
  attackRun: todo,
  evidence: [],
};
