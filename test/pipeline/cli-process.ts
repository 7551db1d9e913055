import { spawn, type ChildProcess } from 'node:child_process';
import { cliPath } from '../capture/helpers.js';

/**
 * The built CLI running in a child process, its output collected as it
 * comes, so a test waits on a line or on the exit (with a generous deadline:
 * the CI machine is loaded), never on a fixed sleep.
 */
export interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Parsed JSON lines of stdout so far (lines that are not JSON are skipped). */
  records(): Array<Record<string, unknown>>;
  /** Resolves when `cond` holds on the output; rejects (with the output) past the deadline or if the process exits first. */
  waitFor(cond: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** The exit code, once it exits; rejects (and kills the process) past the deadline. */
  exit(timeoutMs?: number): Promise<number | null>;
  /** SIGINT, then the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** Children still running: a test that fails or times out must not leave a watch behind. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export function startCli(args: string[]): CliProcess {
  return startProcess(process.execPath, [cliPath, ...args]);
}

/** Any command run the same way (the CLI in a container: `docker run`, `ctr run`). Its SIGINT is what stop() sends. */
export function startProcess(command: string, args: string[]): CliProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  let err = '';
  let code: number | null | undefined;
  const listeners = new Set<() => void>();
  const poke = () => listeners.forEach((l) => l());
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    poke();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    poke();
  });
  // 'close': the process has exited and its output has been read to the end.
  child.on('close', (c) => {
    code = c;
    poke();
  });
  const describe = () => `\n--- stdout ---\n${out.slice(-3000)}\n--- stderr ---\n${err.slice(-3000)}`;
  const until = (cond: () => boolean, what: string, timeoutMs: number, failOnExit: boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (cond()) done(resolve);
        else if (failOnExit && code !== undefined) done(() => reject(new Error(`the CLI exited (${code}) before ${what}${describe()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe()}`))), timeoutMs);
      const done = (f: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        f();
      };
      listeners.add(check);
      check();
    });
  const self: CliProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    records: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    waitFor: (cond, what, timeoutMs = 45_000) => until(cond, what, timeoutMs, true),
    exit: async (timeoutMs = 45_000) => {
      try {
        await until(() => code !== undefined, 'the exit', timeoutMs, false);
      } catch (e) {
        child.kill('SIGKILL');
        throw e;
      }
      return code!;
    },
    stop: (timeoutMs = 45_000) => {
      if (code === undefined) child.kill('SIGINT');
      return self.exit(timeoutMs);
    },
  };
  return self;
}
