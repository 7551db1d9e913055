/**
 * The DaemonSet in docs/deploy/daemonset.yaml and the docker run line in
 * docs/deploy.md are what src/deploy/privileges.ts renders, so the
 * privileges the deploy test proves are the ones a user deploys; and the
 * docs explain each of them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_ARGS, AGENT_PRIVILEGES, daemonSetYaml, dockerRunOptions } from '../../src/deploy/privileges.js';
import { runCli } from '../capture/helpers.js';

const root = join(import.meta.dirname, '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

describe('the deployment files', () => {
  it('docs/deploy/daemonset.yaml is the manifest `syswarden image manifest` prints', async () => {
    expect(read('docs/deploy/daemonset.yaml')).toBe(daemonSetYaml());
    const r = await runCli(['image', 'manifest']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(daemonSetYaml());
  });

  it('holds every capability and mount of the list, read-only, and nothing is privileged', () => {
    const yaml = daemonSetYaml('example/syswarden:1');
    expect(yaml).toContain('image: example/syswarden:1');
    expect(yaml).toMatch(/^ {14}drop: \["ALL"\]$/m);
    const added = [...yaml.matchAll(/^ {16}- ([A-Z_]+)$/gm)].map((m) => m[1]);
    expect(added).toEqual(AGENT_PRIVILEGES.capabilities.map((c) => c.name));
    const mounts = [...yaml.matchAll(/^ {12}- \{ name: ([\w-]+), mountPath: (\S+), readOnly: true \}$/gm)].map((m) => [m[1], m[2]]);
    expect(mounts).toEqual(AGENT_PRIVILEGES.mounts.map((m) => [m.name, m.path]));
    expect(yaml).toMatch(/^ {6}hostPID: true$/m);
    expect(yaml).toMatch(/^ {12}privileged: false$/m);
    expect(yaml).not.toMatch(/SYS_ADMIN|hostNetwork: true|Unconfined/);
  });

  it('docs/deploy.md gives the docker run line the list renders and explains each privilege', () => {
    const doc = read('docs/deploy.md');
    const line = ['docker', 'run', '-d', '--name', 'syswarden', ...dockerRunOptions({ image: 'syswarden:TAG' }), 'syswarden:TAG', ...AGENT_ARGS].join(' ');
    expect(doc).toContain(line);
    for (const c of AGENT_PRIVILEGES.capabilities) expect(doc).toContain(`| \`CAP_${c.name}\``);
    for (const m of AGENT_PRIVILEGES.mounts) expect(doc).toContain(`| \`${m.path}\``);
  });

  it('image refuses a missing or unknown action and a bad --image with exit 2 and the fix', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['image'], /image: say build, manifest or docker-run, got nothing/],
      [['image', 'push'], /got 'push'/],
      [['image', 'manifest', 'extra'], /unexpected 'extra'/],
      [['image', 'build', '--image', 'x:1'], /--image goes with manifest and docker-run/],
      [['image', 'manifest', '--image', 'bad ref'], /--image bad ref: not an image reference/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
