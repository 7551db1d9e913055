/**
 * The agent image, run as the DaemonSet runs it (the capabilities, pid
 * namespace and mounts of src/deploy/privileges.ts and nothing else), sees
 * a sibling container from its creation, learns it, and alerts when it
 * does something it never did; without a required privilege it refuses to
 * start with a message that says which.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAgentImage, olderAgentImages } from '../../src/deploy/agent-image.js';
import { AGENT_ARGS, AGENT_PRIVILEGES } from '../../src/deploy/privileges.js';
import { ensureDocker, removeContainer, TEST_IMAGE } from '../capture/docker-env.js';
import { agentEngine, effectiveCapabilities, forgetImage, removeLeftovers, shareImage, startAgent, writableMounts, type AgentContainer } from './agent-runner.js';

const prefix = 'sw-deploy-test';
const tag = `${prefix}-${process.pid}`;
let image = '';
let models = '';
let stopEngine: () => Promise<void> = async () => {};
const agents: AgentContainer[] = [];
const siblings: string[] = [];

/**
 * Learning time for the sibling: long enough for many rounds of its loop
 * (one every 20 ms), short for the test. Live learning rather than a model
 * mounted in: it needs no privileged training step on the host and no image
 * id known ahead, and under load it only sees fewer rounds, while what the
 * test checks (directory listings the loop never makes) stays unseen.
 */
const LEARN_SECONDS = 4;

function docker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** The manifest's arguments with the test's learning time. */
function agentArgs(): string[] {
  const args = [...AGENT_ARGS];
  const at = args.indexOf('--learn-for');
  expect(at).toBeGreaterThan(0);
  args[at + 1] = String(LEARN_SECONDS);
  return [...args, '--stats-every', '3600'];
}

type Rec = Record<string, unknown> & { container?: { id?: string; name?: string } };
const about = (a: AgentContainer, type: string, id: string): Rec[] => (a.records() as Rec[]).filter((r) => r.type === type && r.container?.id === id);

beforeAll(async () => {
  stopEngine = await ensureDocker();
  removeLeftovers(prefix);
  for (const old of docker(['ps', '-a', '--filter', `name=${prefix}-`, '--format', '{{.Names}}']).split('\n').filter(Boolean)) removeContainer(old);
  const started = Date.now();
  image = await buildAgentImage({ onStep: (m) => process.stderr.write(`deploy test: ${m}\n`) });
  process.stderr.write(`deploy test: image ${image} ready in ${((Date.now() - started) / 1000).toFixed(1)} s; agents run through ${await agentEngine()}\n`);
  await shareImage(image);
  // Empty: every container is learnt live. Readable by the agent only (it runs as root).
  models = mkdtempSync(join(tmpdir(), 'sw-deploy-models-'));
  chmodSync(models, 0o700);
}, 900_000);

afterAll(async () => {
  for (const a of agents) await a.remove();
  for (const s of siblings) removeContainer(s);
  if (image) {
    await forgetImage(image);
    // Earlier builds (each change to syswarden makes one): the current one stays for the next run.
    for (const old of await olderAgentImages(image)) {
      try {
        docker(['rmi', old]);
      } catch {
        // in use by a container that is not the test's: left alone
      }
    }
  }
  if (models) rmSync(models, { recursive: true, force: true });
  await stopEngine();
}, 120_000);

// The agent in the host's pid namespace (hostPID: true). A variant in a pid
// namespace of its own joins this list once syswarden translates pids.
// The manifest's setup (host pid), and a pid namespace of its own (a pod without hostPID):
// there the agent sees none of the sibling's processes in its /proc and must still name them right.
const VARIANTS = [
  { label: 'in the host pid namespace', hostPid: true },
  { label: 'in a pid namespace of its own', hostPid: false },
];

describe.each(VARIANTS)('the agent image $label', ({ hostPid }) => {
  it('runs with only the manifest\'s capabilities and mounts, watches a sibling container from its creation and alerts on it', async () => {
    const variant = hostPid ? 'hostpid' : 'ownpid';
    const agent = await startAgent(`${tag}-${variant}-agent`, image, agentArgs(), { hostPid, sources: { models } });
    agents.push(agent);
    await agent.waitFor(() => agent.records().some((r) => r.type === 'ready'), 'the agent\'s ready record', 120_000);
    // Exactly the granted capabilities, seen from the host, and every host path read-only, down to the mounts below it.
    const pid = await agent.hostPid();
    expect(effectiveCapabilities(pid)).toEqual(AGENT_PRIVILEGES.capabilities.map((c) => c.name).sort());
    expect(writableMounts(pid, AGENT_PRIVILEGES.mounts.map((m) => m.path))).toEqual([]);

    const name = `${tag}-${variant}-sibling`;
    siblings.push(name);
    const id = docker(['run', '-d', '--name', name, '--network', 'none', TEST_IMAGE, '/bin/busybox', 'sh', '-c', 'while true; do /bin/busybox cat /etc/hostname >/dev/null; /bin/busybox usleep 20000; done']);
    await agent.waitFor(() => about(agent, 'container-watched', id).length > 0, 'the sibling watched', 60_000);
    // Named from Docker's records through the read-only mount, and adopted by the kernel at its creation.
    expect(about(agent, 'container-watched', id)[0]).toMatchObject({ since: 'creation', modelFrom: 'learning', container: { name, image: TEST_IMAGE } });
    await agent.waitFor(() => about(agent, 'container-learnt', id).some((r) => r.next === 'scored'), 'the end of the sibling\'s learning', 120_000);

    // Something the loop never does: walk the filesystem. Its processes
    // (the exec'd shell and each find) are the only ones with 'find' in
    // their arguments, so an alert on one of them is an alert on this.
    docker(['exec', name, '/bin/busybox', 'sh', '-c', 'for i in 1 2 3; do /bin/busybox find / -xdev >/dev/null 2>&1; done']);
    const onTheWalk = (r: Rec) => ((r.process as { args?: string[] } | undefined)?.args ?? []).join(' ').includes('find');
    try {
      await agent.waitFor(() => about(agent, 'alert', id).some(onTheWalk), 'an alert on the sibling\'s filesystem walk', 60_000);
    } catch (e) {
      const seen = about(agent, 'alert', id).map((a) => JSON.stringify({ tid: a.tid, process: a.process, window: a.window }));
      throw new Error(`${(e as Error).message.split('\n')[0]}; the sibling's alerts:\n${seen.join('\n')}`);
    }
    const alert = about(agent, 'alert', id).find(onTheWalk)!;
    expect(alert.container).toMatchObject({ id, name });
    // pid is the host's number, vpid the one the sibling's own `ps` shows (it has a pid namespace of its own).
    const proc = alert.process as { pid: number; vpid?: number };
    expect(proc.vpid).toBeGreaterThan(0);
    expect(proc.pid).not.toBe(proc.vpid);

    expect(await agent.stop(60_000), agent.stderr()).toBe(0);
    expect(agent.stderr()).not.toMatch(/\n\s+at /);
  }, 300_000);
});

describe('the agent image without a privilege it needs', () => {
  it.each(AGENT_PRIVILEGES.capabilities.map((c) => c.name))('exits 1 without CAP_%s, saying which capabilities to add', async (cap) => {
    const agent = await startAgent(`${tag}-no-${cap.toLowerCase()}`, image, agentArgs(), { without: [cap], sources: { models } });
    agents.push(agent);
    expect(await agent.exit(120_000), agent.stderr()).toBe(1);
    expect(agent.stderr()).toMatch(/needs root \(or CAP_BPF and CAP_PERFMON\).*in a container, add CAP_BPF and CAP_PERFMON/);
    expect(agent.stderr()).not.toMatch(/\n\s+at /);
    expect(agent.records()).toEqual([]);
  }, 180_000);
});
