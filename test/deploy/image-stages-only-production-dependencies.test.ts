/**
 * What of syswarden goes into the agent image: its build and the production
 * dependencies, each where Node will look for it in the image, whether
 * syswarden is a checkout or installed as a dependency with its packages
 * hoisted above it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { productionModules, stageSyswarden } from '../../src/deploy/agent-image.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function pkg(dir: string, name: string, deps: Record<string, string> = {}, optional: Record<string, string> = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', dependencies: deps, optionalDependencies: optional }));
  return dir;
}

describe('staging syswarden into the image', () => {
  it('takes this checkout\'s production dependencies and none of its development ones', () => {
    const copies = stageSyswarden();
    const modules = Object.keys(copies).filter((k) => k.startsWith('/opt/syswarden/node_modules/')).map((k) => k.slice('/opt/syswarden/node_modules/'.length));
    // node-addon-api is a runtime dependency: the install script's fallback build needs its headers.
    for (const d of ['msgpackr', 'prom-client', '@nats-io/transport-node', 'node-addon-api']) expect(modules).toContain(d);
    for (const d of ['vitest', 'typescript', 'fast-check', 'cmake-js', 'node-gyp']) expect(modules).not.toContain(d);
    expect(copies['/opt/syswarden/build/Release/syswarden.node']).toMatch(/build\/Release\/syswarden\.node$/);
  });

  it('keeps hoisted and nested packages where Node resolves them, and leaves out a missing optional one', () => {
    const top = mkdtempSync(join(tmpdir(), 'sw-stage-'));
    dirs.push(top);
    // syswarden installed as a dependency: its packages hoisted beside it, one nested under it, one nested under a hoisted one.
    const root = pkg(join(top, 'node_modules', 'syswarden'), 'syswarden', { a: '1', own: '1' }, { 'other-platform': '1' });
    pkg(join(top, 'node_modules', 'a'), 'a', { b: '1' });
    pkg(join(top, 'node_modules', 'a', 'node_modules', 'b'), 'b', { c: '1' });
    pkg(join(top, 'node_modules', 'c'), 'c');
    pkg(join(root, 'node_modules', 'own'), 'own', { c: '1' });
    expect(Object.fromEntries(productionModules(root))).toEqual({
      a: join(top, 'node_modules', 'a'),
      'a/node_modules/b': join(top, 'node_modules', 'a', 'node_modules', 'b'),
      c: join(top, 'node_modules', 'c'),
      own: join(root, 'node_modules', 'own'),
    });
  });

  it('refuses a missing required dependency and two versions wanting one place, naming the fix', () => {
    const top = mkdtempSync(join(tmpdir(), 'sw-stage-'));
    dirs.push(top);
    const missing = pkg(join(top, 'm'), 'syswarden', { gone: '1' });
    expect(() => productionModules(missing)).toThrow(/dependency gone \(needed by syswarden\) is not installed\. Fix: run npm install/);
    // syswarden finds its own c, the hoisted x finds the hoisted c: in the image both would be node_modules/c.
    const root = pkg(join(top, 'node_modules', 'syswarden'), 'syswarden', { c: '1', x: '1' });
    pkg(join(top, 'node_modules', 'x'), 'x', { c: '1' });
    pkg(join(root, 'node_modules', 'c'), 'c');
    pkg(join(top, 'node_modules', 'c'), 'c');
    expect(() => productionModules(root)).toThrow(/two copies of c want node_modules\/c in the image.*npm dedupe/);
  });

  it("takes an installed package's prebuilt native files (addon, its shipped libraries, sw-workload) from where the loader finds them, and says what to do when there are none", () => {
    const top = mkdtempSync(join(tmpdir(), 'sw-stage-'));
    dirs.push(top);
    const root = pkg(join(top, 'node_modules', 'syswarden'), 'syswarden');
    mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
    writeFileSync(join(root, 'dist', 'cli', 'main.js'), '');
    expect(() => stageSyswarden(root)).toThrow(/no native addon in .*prebuilds\/linux-x64.*Fix: .*npm rebuild syswarden/);
    const pre = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(pre, { recursive: true });
    for (const f of ['syswarden.node', 'sw-workload', 'libbpf.so.1', 'libelf.so.1', 'syscalls.bpf.o', 'syscalls.skel.h']) writeFileSync(join(pre, f), f);
    const natives = Object.keys(stageSyswarden(root)).filter((k) => k.includes('/prebuilds/'));
    expect(natives).toEqual(['libbpf.so.1', 'libelf.so.1', 'sw-workload', 'syswarden.node'].map((f) => `/opt/syswarden/prebuilds/${process.platform}-${process.arch}/${f}`));
  });
});
