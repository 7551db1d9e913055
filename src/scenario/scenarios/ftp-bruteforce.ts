/** STUB: being written. */
import { SyswardenError } from '../../errors.js';
import type { Scenario } from '../types.js';

const todo = (): never => {
  throw new SyswardenError('ERR_SCENARIO', 'scenario ftp-bruteforce is not built yet');
};

export const ftpBruteforce: Scenario = {
  name: 'ftp-bruteforce',
  application: 'TODO',
  attackKind: 'TODO',
  attack: 'TODO',
  image: { name: 'ftp-bruteforce', packages: [] },
  command: todo,
  ready: todo,
  session: todo,
  attackRun: todo,
  evidence: [],
};
