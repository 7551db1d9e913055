import { afterAll, beforeAll, describe, it } from 'vitest';
import { buildSmall, checkAttackVisible, type BuiltScenario } from './helpers.js';

let built: BuiltScenario;
beforeAll(async () => {
  built = await buildSmall('cgi-miner');
}, 600_000);
afterAll(async () => built?.cleanup());

describe('scenario cgi-miner (busybox httpd CGI → dropped miner, escape attempts)', () => {
  it('records the miner\'s connection, the mount and the unshare inside the attack\'s labelled span', async () => {
    await checkAttackVisible('cgi-miner', built);
  });
});
