// syswarden's capture, process table and kill path, run inside a pid
// namespace of its own by test/process/pids-in-a-pid-namespace-of-its-own.test.ts.
// One JSON command a line on stdin, one JSON reply a line on stdout; every
// process event it captures is written too.
import { spawn } from 'node:child_process';
import { readlinkSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const [dist, cgSpec, cgDir, workload] = process.argv.slice(2);
const { Collector } = await import(`${dist}/capture/collector.js`);
const { ProcessTable } = await import(`${dist}/process/table.js`);
const { pidView } = await import(`${dist}/process/pidns.js`);
const { checkProcess } = await import(`${dist}/response/kill.js`);

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const table = new ProcessTable();
let collector;
const within = cgSpec.slice('cgroup:'.length);

function start(args) {
  const c = spawn(workload, ['--cgroup', cgDir, 'exec', ...args], { stdio: 'ignore' });
  c.on('error', () => {});
  return c;
}

const commands = {
  async open() {
    collector = await Collector.open({ targets: [cgSpec] });
    collector.on('batch', (b) => {
      for (const e of b.proc) {
        table.apply(e, true);
        out({ op: 'event', e });
      }
    });
    const v = pidView();
    return { host: v.host, level: v.level, selfHostPid: v.selfHostPid, probe: v.probe, self: process.pid };
  },
  start({ args }) {
    return { local: start(args).pid };
  },
  // A process of this namespace given number `pid` (ns_last_pid), in the watched cgroup.
  async decoy({ pid, args }) {
    for (let attempt = 0; attempt < 20; attempt++) {
      writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
      const c = start(args);
      if (c.pid === pid) return { local: c.pid };
      c.kill('SIGKILL');
    }
    return { error: `no process got pid ${pid} in 20 tries` };
  },
  exe({ pid }) {
    try {
      return { exe: readlinkSync(`/proc/${pid}/exe`) };
    } catch (err) {
      return { error: err.code };
    }
  },
  context({ tid }) {
    return { context: table.context(tid, { readProc: true }) ?? null };
  },
  kill({ pid, really }) {
    const c = checkProcess(pid, within);
    if (!c.ok) return { ok: false, result: c.result, reason: c.reason };
    try {
      if (!really) return { ok: true };
      return c.process.kill();
    } finally {
      c.process.release();
    }
  },
  async close() {
    await collector?.close();
    return {};
  },
};

for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line);
  try {
    out({ op: 'reply', id: cmd.id, ...(await commands[cmd.op](cmd)) });
  } catch (err) {
    out({ op: 'reply', id: cmd.id, error: String(err?.stack ?? err) });
  }
  if (cmd.op === 'close') process.exit(0);
}
