import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workloadPath } from '../capture/addon.js';
import { SyswardenError } from '../errors.js';
import type { ScratchCgroup } from '../capture/scratch-cgroup.js';
import { freePort } from '../scenario/runner.js';

/**
 * A small web application for the demo and the live tests: busybox httpd on
 * loopback serving a page and a CGI script, and a client loop requesting
 * both, all inside one cgroup. The CGI script is vulnerable the way the
 * reference study's WordPress was (remote code execution): it evals its
 * `name` parameter.
 */
export interface WebWorkload {
  readonly port: number;
  readonly serverPid: number;
  /** Send the remote-code-execution request; resolves when the server has answered. */
  attack(): Promise<void>;
  stop(): Promise<void>;
}

function busybox(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
  } catch {
    throw new SyswardenError('ERR_MISSING_TOOL', 'the demo needs busybox (Debian: apt-get install busybox-static).');
  }
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new SyswardenError('ERR_DEMO', `the demo web server did not start listening on 127.0.0.1:${port}.`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function inCgroup(cg: ScratchCgroup, argv: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(workloadPath(), ['--cgroup', cg.dir, 'exec', ...argv], { stdio: 'ignore', env: { PATH: '/usr/bin:/bin', ...env } });
}

export async function startWebWorkload(cg: ScratchCgroup, options: { pauseMs?: number } = {}): Promise<WebWorkload> {
  const bb = busybox();
  const root = mkdtempSync(join(tmpdir(), 'syswarden-web-'));
  mkdirSync(join(root, 'cgi-bin'));
  writeFileSync(join(root, 'index.html'), '<html><body><h1>syswarden demo shop</h1></body></html>\n');
  // The vulnerability: the decoded parameter is evaluated by the shell.
  writeFileSync(
    join(root, 'cgi-bin', 'hello'),
    `#!${bb} sh\nname=$(${bb} httpd -d "\${QUERY_STRING#name=}")\necho "Content-Type: text/plain"\necho\neval "echo Hello, $name"\n`,
  );
  chmodSync(join(root, 'cgi-bin', 'hello'), 0o755);
  const port = await freePort();
  const server = inCgroup(cg, [bb, 'httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', root]);
  await waitForPort(port, 5000);
  const pause = ((options.pauseMs ?? 20) * 1000).toFixed(0);
  const url = `http://127.0.0.1:${port}`;
  const client = inCgroup(cg, [
    bb,
    'sh',
    '-c',
    `while :; do ${bb} wget -q -O /dev/null ${url}/index.html; ${bb} wget -q -O /dev/null "${url}/cgi-bin/hello?name=guest"; ${bb} usleep ${pause}; done`,
  ]);
  const closedPort = await freePort();
  return {
    port,
    serverPid: server.pid!,
    async attack() {
      // Read a secret, run programs, open a connection: the study's RCE, in one request.
      const payload = encodeURIComponent(`x; cat /etc/shadow; id; uname -a; echo pwned | ${bb} nc 127.0.0.1 ${closedPort}`);
      await new Promise<void>((resolve) => {
        const p = inCgroup(cg, [bb, 'wget', '-q', '-O', '/dev/null', `${url}/cgi-bin/hello?name=${payload}`]);
        p.once('exit', () => resolve());
        p.once('error', () => resolve());
      });
    },
    async stop() {
      for (const p of [client, server]) p.kill('SIGKILL');
      rmSync(root, { recursive: true, force: true });
    },
  };
}
