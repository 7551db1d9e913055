import { describe, it } from 'vitest';
import { SCENARIOS } from '../../src/scenario/registry.js';
import { buildSmall, checkAttackVisible } from './helpers.js';

// Every registered scenario, each built small (real container, real recording): a label never points at nothing.
describe.each(SCENARIOS.map((s) => [s.name, s] as const))('scenario %s', (name, scenario) => {
  it(`records the attack's own syscalls (${scenario.evidence.join(', ')}) inside its labelled span (${scenario.attackKind})`, async () => {
    const built = await buildSmall(name);
    try {
      await checkAttackVisible(name, built);
    } finally {
      await built.cleanup();
    }
  }, 900_000);
});
