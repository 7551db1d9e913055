import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { ensureEngine } from '../../src/scenario/engine.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TEST_IMAGE = 'syswarden-test-busybox:1';

function docker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/**
 * Make sure a Docker engine runs (start dockerd by hand if none does: there
 * is no systemd here) and that a busybox image made from the host's
 * busybox-static exists (no registry is reachable). Returns a stop function
 * that ends the engine only if this call started it.
 */
export async function ensureDocker(): Promise<() => Promise<void>> {
  for (const bin of ['docker', 'dockerd', 'busybox']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`${bin} is not installed; the container tests need docker.io and busybox-static (apt-get install docker.io busybox-static).`);
    }
  }
  const engine = await ensureEngine();
  const stop = () => engine.stop();
  if (!docker(['images', '-q', TEST_IMAGE])) {
    const root = mkdtempSync(join(tmpdir(), 'sw-rootfs-'));
    try {
      mkdirSync(join(root, 'bin'));
      mkdirSync(join(root, 'etc'));
      const busybox = execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
      copyFileSync(busybox, join(root, 'bin', 'busybox'));
      execFileSync('chmod', ['755', join(root, 'bin', 'busybox')]);
      symlinkSync('busybox', join(root, 'bin', 'sh'));
      writeFileSync(join(root, 'etc', 'hostname'), 'syswarden-test\n');
      execFileSync('sh', ['-c', `tar -C '${root}' -c . | docker import - ${TEST_IMAGE}`], { stdio: 'ignore' });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  if (!existsSync('/var/run/docker.sock')) throw new Error('dockerd runs but /var/run/docker.sock is missing');
  return stop;
}

/** Start a detached container running a shell loop; returns its full id. */
export function runContainer(name: string, script: string): string {
  return docker(['run', '-d', '--name', name, '--network', 'none', TEST_IMAGE, '/bin/busybox', 'sh', '-c', script]);
}

export function removeContainer(name: string): void {
  try {
    docker(['rm', '-f', name]);
  } catch {
    /* already gone */
  }
}

export function stopContainer(name: string): void {
  docker(['stop', '-t', '0', name]);
}
