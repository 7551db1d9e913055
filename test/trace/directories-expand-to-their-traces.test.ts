import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expandPaths } from '../../src/trace/paths.js';

/**
 * A directory given for traces means its trace files, in natural order,
 * without the files datasets keep beside them; a directory of directories
 * only (ADFA-LD's Attack_Data_Master: one directory per attack) means the
 * files of each, one level down.
 */
const dir = mkdtempSync(join(tmpdir(), 'sw-paths-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const touch = (...parts: string[]) => writeFileSync(join(dir, ...parts), '0 1 2\n');

describe('expandPaths', () => {
  it('takes a directory\'s trace files in natural order, leaving out LID-DS companions and runs tables', () => {
    mkdirSync(join(dir, 'lid'));
    for (const f of ['r_10.sc', 'r_2.sc', 'r_2.json', 'r_2.res', 'r_2.pcap', 'runs.csv', '.hidden']) touch('lid', f);
    mkdirSync(join(dir, 'lid', 'nested'));
    touch('lid', 'nested', 'deeper.txt');
    expect(expandPaths([join(dir, 'lid')])).toEqual([join(dir, 'lid', 'r_2.sc'), join(dir, 'lid', 'r_10.sc')]);
  });

  it('takes the files of each subdirectory of a directory that holds only directories, one level down', () => {
    mkdirSync(join(dir, 'attacks'));
    for (const kind of ['Hydra_SSH_10', 'Adduser_2', 'Adduser_1']) {
      mkdirSync(join(dir, 'attacks', kind));
      for (const i of [2, 1]) touch('attacks', kind, `UAD-${kind}-${i}.txt`);
    }
    mkdirSync(join(dir, 'attacks', 'Adduser_1', 'too-deep'));
    touch('attacks', 'Adduser_1', 'too-deep', 'x.txt');
    expect(expandPaths([join(dir, 'attacks')]).map((p) => p.slice(dir.length + 1))).toEqual([
      'attacks/Adduser_1/UAD-Adduser_1-1.txt', 'attacks/Adduser_1/UAD-Adduser_1-2.txt',
      'attacks/Adduser_2/UAD-Adduser_2-1.txt', 'attacks/Adduser_2/UAD-Adduser_2-2.txt',
      'attacks/Hydra_SSH_10/UAD-Hydra_SSH_10-1.txt', 'attacks/Hydra_SSH_10/UAD-Hydra_SSH_10-2.txt',
    ]);
  });

  it('refuses a directory with no trace file, saying whether its subdirectories had none either', () => {
    mkdirSync(join(dir, 'empty'));
    touch('empty', '.x');
    expect(() => expandPaths([join(dir, 'empty')], '--normal')).toThrow(/directory .*empty holds no trace files\. Fix: point --normal at trace files\./);
    mkdirSync(join(dir, 'hollow'));
    mkdirSync(join(dir, 'hollow', 'a'));
    expect(() => expandPaths([join(dir, 'hollow')], '--attack')).toThrow(/hollow holds no trace files, nor do its subdirectories\. Fix:/);
  });
});
