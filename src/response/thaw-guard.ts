/**
 * A frozen container must never outlive the syswarden that froze it. When
 * watch ends in any way it can run code in (its end, SIGINT/SIGTERM, an
 * error), the Responder thaws what it froze. For the ways it cannot
 * (SIGKILL, a crash of the runtime, the OOM killer), a guard process
 * keeps the list of cgroups syswarden has frozen, fed line by line over a
 * pipe; when the pipe closes, because syswarden is gone whatever the cause,
 * it thaws every cgroup still on its list that is still frozen, and exits.
 *
 * The guard is awk (a few hundred KB; Debian's mawk or any POSIX awk) in a
 * session of its own, ignoring SIGINT, SIGTERM and SIGHUP: a Ctrl-C sent to
 * watch's process group must not end it before watch has thawed. Only
 * SIGKILL ends it early; see docs/response.md for what that leaves behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { SyswardenError } from '../errors.js';

// F <dir>: frozen by syswarden; T <dir>: thawed (forget it). At end of input,
// thaw what is left, only where cgroup.freeze still says 1.
const GUARD_AWK = [
  '{ op = substr($0, 1, 1); d = substr($0, 3) }',
  'op == "F" { f[d] = 1 }',
  'op == "T" { delete f[d] }',
  'END { for (d in f) { p = d "/cgroup.freeze"; v = ""; if ((getline v < p) > 0) { close(p); if (v == "1") { printf "0" > p; close(p) } } } }',
].join('\n');

export class ThawGuard {
  private exited = false;
  private exitReason = '';

  private constructor(private readonly child: ChildProcess) {
    child.once('exit', (code, signal) => {
      this.exited = true;
      this.exitReason = signal ? `killed by ${signal}` : `exited ${code}`;
    });
    // A write to a guard that died must not crash watch: it is reported by alive().
    child.stdin!.on('error', () => {});
  }

  /** Start the guard; refused (with the fix) when awk cannot run. */
  static async start(): Promise<ThawGuard> {
    const child = spawn('/bin/sh', ['-c', `trap '' INT TERM HUP; exec awk '${GUARD_AWK}'`], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) =>
        reject(new SyswardenError('ERR_RESPONSE', `cannot start the thaw guard (/bin/sh running awk): ${err.message}. --respond freeze needs /bin/sh and awk.`)),
      );
    });
    // Neither the guard nor its pipe keeps watch running.
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    return new ThawGuard(child);
  }

  /** The guard's pid (tests). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Why it is not running, or undefined while it is. */
  deadReason(): string | undefined {
    return this.exited ? this.exitReason : undefined;
  }

  /** Tell the guard a cgroup is about to be frozen (before the write, so no freeze is ever unknown to it). */
  frozen(dir: string): void {
    this.send('F', dir);
  }

  thawed(dir: string): void {
    this.send('T', dir);
  }

  /** Close its input: it thaws what is still on its list (nothing, after a clean close) and exits. */
  close(): void {
    this.child.stdin!.end();
  }

  private send(op: 'F' | 'T', dir: string): void {
    if (this.exited) return;
    this.child.stdin!.write(`${op} ${dir}\n`);
  }
}
