import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { workloadPath } from '../capture/addon.js';
import type { ScratchCgroup } from '../capture/scratch-cgroup.js';

export interface HostileLoad {
  /** Child cgroups made and removed so far. */
  churned(): number;
  stop(): Promise<void>;
}

/**
 * What a compromised container can do to its watcher, all at once inside
 * `cg`: flood syscalls from many threads, fork short-lived processes
 * without pause, and churn child cgroups, moving its forking shell from one
 * to the next.
 */
export function startHostile(cg: ScratchCgroup, options: { floodThreads?: number } = {}): HostileLoad {
  const children: ChildProcess[] = [];
  const inCg = (args: string[]) => {
    const p = spawn(workloadPath(), ['--cgroup', cg.dir, ...args], { stdio: 'ignore' });
    children.push(p);
    return p;
  };
  inCg(['getppid', '1000000000000', String(options.floodThreads ?? 4)]);
  const forker = inCg(['exec', 'sh', '-c', 'while :; do /bin/true; done']);
  let n = 0;
  let running = true;
  let previous: string | undefined;
  const churn = async () => {
    while (running) {
      const dir = join(cg.dir, `churn-${n++}`);
      try {
        mkdirSync(dir);
        if (forker.pid) writeFileSync(join(dir, 'cgroup.procs'), String(forker.pid));
        if (previous) rmdirSync(previous);
        previous = dir;
      } catch {
        /* the shell may be between forks; try the next one */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const churning = churn();
  return {
    churned: () => n,
    async stop() {
      running = false;
      await churning;
      for (const p of children) p.kill('SIGKILL');
      await Promise.all(children.map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once('exit', r)))));
    },
  };
}
