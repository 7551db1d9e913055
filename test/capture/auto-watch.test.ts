// watch --all-containers with a real dockerd: a container made after watch
// started is watched from its first exec, scored by the model of its
// image; one no model fits is learnt live, then scored.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statedCalibration } from '../../src/detect/calibration.js';
import { saveModel } from '../../src/detect/model-file.js';
import { Stide } from '../../src/detect/stide.js';
import { windowStream } from '../../src/window/windows.js';
import { startCli, type CliProcess } from '../pipeline/cli-process.js';
import { ensureDocker, removeContainer, TEST_IMAGE } from './docker-env.js';
import { runCli } from './helpers.js';

const prefix = `sw-auto-${process.pid}`;
let stopEngine: () => Promise<void> = async () => {};
let imageHex = '';
const dirs: string[] = [];
const clis: CliProcess[] = [];

function docker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sw-models-'));
  dirs.push(d);
  return d;
}

type Rec = Record<string, any>;
const of = (cli: CliProcess, type: string, id: string): Rec[] => cli.records().filter((r) => r.type === type && (r.container as Rec | undefined)?.id === id);

beforeAll(async () => {
  stopEngine = await ensureDocker();
  imageHex = docker(['image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE]).replace(/^sha256:/, '');
}, 180_000);

afterAll(async () => {
  for (const c of clis) await c.stop(20_000).catch(() => undefined);
  for (const name of docker(['ps', '-aq', '--filter', `name=${prefix}`]).split('\n').filter(Boolean)) removeContainer(name);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await stopEngine();
}, 60_000);

describe('watch --all-containers', () => {
  it('watches a container started after it from its first exec, scored by the model of its image id, with its Kubernetes labels', async () => {
    const models = tempDir();
    // A model of the image (named by its id) that knows a toy cycle only and
    // one executable no container runs: every window of a real process
    // alarms, and the entrypoint's exec is a new executable.
    const d = new Stide();
    d.fit(windowStream(new Uint16Array(600).map((_, i) => (i % 6) + 1), 4));
    await saveModel(join(models, `${imageHex}.model`), d, statedCalibration(1, 1), { filter: 'none', executables: ['/bin/never-run'] });
    const cli = startCli(['watch', '--all-containers', '--models', models, '--learn-for', '0', '--stats-every', '3600']);
    clis.push(cli);
    await cli.waitFor(() => cli.records().some((r) => r.type === 'ready'), 'the ready record', 60_000);
    const ready = cli.records().find((r) => r.type === 'ready')!;
    expect(ready.adopting).toContain('/docker');
    expect(ready.model).toBeUndefined();

    // The entrypoint does its anomalous thing at once, then lingers a little so the test can name its pid.
    const name = `${prefix}-a`;
    const id = docker([
      'run', '-d', '--name', name, '--network', 'none',
      '--label', 'io.kubernetes.pod.name=shop-0', '--label', 'io.kubernetes.pod.namespace=prod', '--label', 'io.kubernetes.container.name=web',
      TEST_IMAGE, '/bin/busybox', 'sh', '-c', '/bin/busybox cat /etc/hostname /etc/hostname >/dev/null; exec /bin/busybox sleep 30',
    ]);
    await cli.waitFor(() => of(cli, 'alert', id).length > 0 && of(cli, 'new-executable', id).length > 0, 'an alert and a new-executable record of the new container', 60_000);
    const watched = of(cli, 'container-watched', id);
    expect(watched).toHaveLength(1);
    expect(watched[0]).toMatchObject({ since: 'creation', modelFrom: 'image-id', model: join(models, `${imageHex}.model`), detector: 'stide' });
    expect(watched[0]!.container).toMatchObject({ name, image: TEST_IMAGE, imageId: `sha256:${imageHex}`, kubernetes: { pod: 'shop-0', namespace: 'prod', container: 'web' } });
    // The first program the container ran is the entrypoint, /bin/busybox: its exec was seen, so nothing it did was missed.
    const execs = of(cli, 'new-executable', id);
    expect(execs[0]).toMatchObject({ exe: '/bin/busybox' });
    const pid = Number(docker(['inspect', '--format', '{{.State.Pid}}', name]));
    expect(execs[0]!.pid).toBe(pid);
    // And it was scored before that exec: the runtime's own first process
    // in the container (runc init, the same thread) already alarmed under
    // the image's model, so the model was in place before the entrypoint ran.
    const initAlerts = of(cli, 'alert', id).filter((a) => a.tid === execs[0]!.tid);
    expect(initAlerts.length).toBeGreaterThan(0);
    expect(Math.min(...initAlerts.map((a) => a.eventTsNs as number))).toBeLessThan(execs[0]!.eventTsNs);
    // Alerts name the container with its image and pod.
    const alert = of(cli, 'alert', id)[0]!;
    expect(alert.container).toMatchObject({ name, kubernetes: { pod: 'shop-0', namespace: 'prod' } });
    expect(alert.model).toBe(join(models, `${imageHex}.model`));

    // It stops being watched when it exits.
    docker(['rm', '-f', name]);
    await cli.waitFor(() => of(cli, 'target-gone', id).length > 0, 'the target-gone record of the removed container', 30_000);
    expect(await cli.stop(30_000)).toBe(0);
  }, 180_000);

  it('learns a container no model fits, says so, then scores it with what it learnt', async () => {
    const models = tempDir();
    const cli = startCli(['watch', '--all-containers', '--models', models, '--learn-for', '4', '--save-learnt', '--stats-every', '3600']);
    clis.push(cli);
    await cli.waitFor(() => cli.records().some((r) => r.type === 'ready'), 'the ready record', 60_000);
    const name = `${prefix}-b`;
    const id = docker(['run', '-d', '--name', name, '--network', 'none', TEST_IMAGE, '/bin/busybox', 'sh', '-c', 'while true; do /bin/busybox cat /etc/hostname >/dev/null; /bin/busybox usleep 20000; done']);
    await cli.waitFor(() => of(cli, 'container-learnt', id).some((r) => r.next === 'scored'), 'the end of the container\'s learning', 90_000);
    const watched = of(cli, 'container-watched', id)[0]!;
    expect(watched).toMatchObject({ since: 'creation', modelFrom: 'learning', learnFor: 4 });
    const learnt = of(cli, 'container-learnt', id).find((r) => r.next === 'scored')!;
    expect(learnt.windows).toBeGreaterThan(0);
    expect(learnt.saved).toBe(join(models, `${imageHex}.model`));
    // (Containers of other tests running meanwhile are learnt and saved too: this one's file is there.)
    expect(readdirSync(models)).toContain(`${imageHex}.model`);
    // Normal behaviour goes on unalarmed... then something it never did while learning.
    docker(['exec', name, '/bin/busybox', 'sh', '-c', 'for i in 1 2 3; do /bin/busybox find / -xdev >/dev/null 2>&1; /bin/busybox wc -c /bin/busybox >/dev/null; done']);
    await cli.waitFor(() => of(cli, 'alert', id).length > 0, 'an alert for the learnt container', 60_000);
    expect(of(cli, 'alert', id)[0]!.model).toBe(learnt.model);
    expect(await cli.stop(30_000)).toBe(0);

    // The next run finds the saved model by the image's id: no learning.
    const again = startCli(['watch', '--all-containers', '--models', models, '--learn-for', '4', '--stats-every', '3600']);
    clis.push(again);
    await again.waitFor(() => of(again, 'container-watched', id).length > 0, 'the running container watched at start', 60_000);
    expect(of(again, 'container-watched', id)[0]).toMatchObject({ since: 'start', modelFrom: 'image-id' });
    expect(await again.stop(30_000)).toBe(0);
    removeContainer(name);
  }, 240_000);

  it('refuses bad combinations and a bad models directory before anything is attached', async () => {
    const notDir = join(tempDir(), 'file');
    writeFileSync(notDir, 'x');
    const cases: Array<[string[], RegExp]> = [
      [['watch', '--all-containers', '--models', '/nonexistent/models'], /--models \/nonexistent\/models: no such directory/],
      [['watch', '--all-containers', '--models', notDir], /is not a directory/],
      [['watch', '--target', 'pid:1', '--model', 'x.model', '--models', '/tmp'], /--models goes with --all-containers/],
      [['watch', '--all-containers', '--exit-when-gone'], /--exit-when-gone does not go with --all-containers/],
      [['watch', '--all-containers', '--save-learnt'], /--save-learnt writes learnt models to the --models directory/],
      [['watch', '--all-containers', '--learn-for', 'soon'], /--learn-for/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  }, 60_000);
});
