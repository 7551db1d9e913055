/** STUB: being written. */
import { SyswardenError } from '../../errors.js';
import type { Scenario } from '../types.js';

const todo = (): never => {
  throw new SyswardenError('ERR_SCENARIO', 'scenario python-traversal is not built yet');
};

export const pythonTraversal: Scenario = {
  name: 'python-traversal',
  application: 'TODO',
  attackKind: 'TODO',
  attack: 'TODO',
  image: { name: 'python-traversal', packages: [] },
  command: todo,
  ready: todo,
  session: todo,
  attackRun: todo,
  evidence: [],
};
