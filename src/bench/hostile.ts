import { spawn, type ChildProcess } from 'node:child_process';
import { workloadPath } from '../capture/addon.js';
import type { ScratchCgroup } from '../capture/scratch-cgroup.js';

/**
 * Every 50 ms: make a child cgroup, move the forking shell ($2) into it,
 * remove the one it left; print how many were made so far. A cgroup still
 * holding a short-lived child cannot be removed yet and is retried next time.
 */
const CHURN_SCRIPT = `cg=$1; pid=$2; n=0; prev=
while :; do
  d="$cg/churn-$n"
  if mkdir "$d" 2>/dev/null && echo "$pid" > "$d/cgroup.procs" 2>/dev/null; then
    n=$((n + 1))
    if [ -z "$prev" ] || rmdir "$prev" 2>/dev/null; then prev=$d; fi
    echo $n
  fi
  sleep 0.05
done`;

export interface HostileLoad {
  /** Child cgroups made (and the forking shell moved into) so far. */
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
  const inCg = (args: string[], stdout: 'pipe' | 'ignore' = 'ignore') => {
    const p = spawn(workloadPath(), ['--cgroup', cg.dir, ...args], { stdio: ['ignore', stdout, 'ignore'] });
    children.push(p);
    return p;
  };
  inCg(['getppid', '1000000000000', String(options.floodThreads ?? 4)]);
  const forker = inCg(['exec', 'sh', '-c', 'while :; do /bin/true; done']);
  // The churn is the container's own doing, in a process of its own: its
  // pace must not depend on how busy the watcher's event loop is.
  const churner = inCg(['exec', 'sh', '-c', CHURN_SCRIPT, 'churn', cg.dir, String(forker.pid)], 'pipe');
  churner.stdout!.setEncoding('utf8');
  let n = 0;
  churner.stdout!.on('data', (d: string) => {
    const lines = d.trim().split('\n');
    n = Number(lines[lines.length - 1]) || n;
  });
  return {
    churned: () => n,
    async stop() {
      for (const p of children) p.kill('SIGKILL');
      await Promise.all(children.map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once('exit', r)))));
    },
  };
}
