import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workloadPath } from '../capture/addon.js';
import type { ScratchCgroup } from '../capture/scratch-cgroup.js';
import { SyswardenError } from '../errors.js';
import { runProcess, sleep, type ProcResult } from './measure.js';

/** One measurement of a workload: its figure of merit, and the syscalls it made per second (for capture rates). */
export interface WorkloadRun {
  value: number;
  /** Wall time of the measured part, ns. */
  wallNs: number;
  extra?: Record<string, number>;
}

export interface Workload {
  name: string;
  /** What `value` is, and whether lower is better. */
  unit: string;
  lowerIsBetter: boolean;
  description: string;
  /** Run once inside `cg`; with `strace`, under strace -f as the reference study did. */
  run(cg: ScratchCgroup, strace: boolean): Promise<WorkloadRun>;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

function elapsedNs(stdout: string): number {
  const m = /elapsed_ns (\d+)/.exec(stdout);
  if (!m) throw new SyswardenError('ERR_BENCH', `sw-workload printed no elapsed_ns: ${stdout}`);
  return Number(m[1]);
}

const STRACE = ['strace', '-f', '-o', '/dev/null'];

async function swWorkload(cg: ScratchCgroup, strace: boolean, args: string[]): Promise<ProcResult> {
  const argv = [workloadPath(), '--cgroup', cg.dir, ...args];
  const r = strace ? await runProcess(STRACE[0]!, [...STRACE.slice(1), ...argv]) : await runProcess(argv[0]!, argv.slice(1));
  if (r.code !== 0) throw new SyswardenError('ERR_BENCH', `${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r;
}

export function getppidLoop(calls: number, straceCalls: number): Workload {
  return {
    name: 'getppid',
    unit: 'ns/call',
    lowerIsBetter: true,
    description: `a tight loop of ${calls} getppid() calls (sw-workload; ${straceCalls} under strace, per-call time is comparable)`,
    async run(cg, strace) {
      const n = strace ? straceCalls : calls;
      const ns = elapsedNs((await swWorkload(cg, strace, ['getppid', String(n)])).stdout);
      return { value: ns / n, wallNs: ns, extra: { calls: n } };
    },
  };
}

export function syscallMix(rounds: number, straceRounds: number): Workload {
  return {
    name: 'mix',
    unit: 'ns/round',
    lowerIsBetter: true,
    description: `${rounds} rounds of open/read/close/stat (4 syscalls each; ${straceRounds} under strace)`,
    async run(cg, strace) {
      const n = strace ? straceRounds : rounds;
      const ns = elapsedNs((await swWorkload(cg, strace, ['mix', String(n)])).stdout);
      return { value: ns / n, wallNs: ns, extra: { rounds: n } };
    },
  };
}

export function ddCopy(count: number, straceCount: number): Workload {
  return {
    name: 'dd',
    unit: 'µs/block',
    lowerIsBetter: true,
    description: `dd if=/dev/zero of=/dev/null bs=512 count=${count} (${straceCount} blocks under strace; time per block is compared)`,
    async run(cg, strace) {
      const n = strace ? straceCount : count;
      const r = await swWorkload(cg, strace, ['exec', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=512', `count=${n}`, 'status=none']);
      return { value: r.wallNs / 1e3 / n, wallNs: r.wallNs, extra: { blocks: n } };
    },
  };
}

/**
 * nginx (Debian nginx-light, one worker) on loopback inside the cgroup,
 * loaded by wrk from outside it; strace attaches to the running master
 * and worker, as the study attached to its server.
 */
export function nginxWrk(seconds: number): Workload {
  let dir = '';
  let port = 0;
  return {
    name: 'nginx',
    unit: 'req/s',
    lowerIsBetter: false,
    description: `nginx (1 worker) on loopback serving a small page, wrk -t1 -c16 for ${seconds} s`,
    async setup() {
      dir = mkdtempSync(join(tmpdir(), 'sw-nginx-'));
      port = 20000 + Math.floor(Math.random() * 20000);
      writeFileSync(join(dir, 'index.html'), '<html><body>syswarden benchmark page</body></html>\n');
      writeFileSync(
        join(dir, 'nginx.conf'),
        `worker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents { worker_connections 1024; }\n` +
          `http {\n access_log off;\n client_body_temp_path ${dir};\n proxy_temp_path ${dir};\n fastcgi_temp_path ${dir};\n uwsgi_temp_path ${dir};\n scgi_temp_path ${dir};\n` +
          ` server { listen 127.0.0.1:${port}; root ${dir}; location / { } }\n}\n`,
      );
    },
    async teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
    async run(cg, strace) {
      const nginx: ChildProcess = spawn(workloadPath(), ['--cgroup', cg.dir, 'exec', 'nginx', '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
        stdio: 'ignore',
      });
      let tracer: ChildProcess | undefined;
      try {
        // Wait for the worker to accept.
        for (let i = 0; ; i++) {
          const probe = await runProcess('wrk', ['-t1', '-c1', '-d1s', `http://127.0.0.1:${port}/`]).catch(() => undefined);
          if (probe && /Requests\/sec/.test(probe.stdout)) break;
          if (i > 20) throw new SyswardenError('ERR_BENCH', `nginx did not come up on port ${port} (see ${dir}/error.log)`);
          await sleep(100);
        }
        if (strace) {
          const pids = (await runProcess('sh', ['-c', `cat ${cg.dir}/cgroup.procs`])).stdout.trim().split(/\s+/).filter(Boolean);
          tracer = spawn('strace', ['-f', '-o', '/dev/null', ...pids.flatMap((p) => ['-p', p])], { stdio: 'ignore' });
          await sleep(500);
        }
        const r = await runProcess('wrk', ['-t1', '-c16', `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`]);
        const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(r.stdout)?.[1]);
        const toMs = (m: RegExpExecArray | null) => (m ? Number(m[1]) * (m[2] === 's' ? 1000 : m[2] === 'us' ? 0.001 : 1) : NaN);
        const p50 = toMs(/50%\s+([\d.]+)(us|ms|s)/.exec(r.stdout));
        const p99 = toMs(/99%\s+([\d.]+)(us|ms|s)/.exec(r.stdout));
        if (!Number.isFinite(rps)) throw new SyswardenError('ERR_BENCH', `wrk printed no Requests/sec: ${r.stdout} ${r.stderr}`);
        return { value: rps, wallNs: seconds * 1e9, extra: { p50Ms: p50, p99Ms: p99 } };
      } finally {
        tracer?.kill('SIGINT');
        nginx.kill('SIGKILL');
        await new Promise((res) => (nginx.exitCode !== null ? res(null) : nginx.once('exit', res)));
        await runProcess('sh', ['-c', `for p in $(cat ${cg.dir}/cgroup.procs); do kill -9 $p; done`]);
      }
    },
  };
}
