/**
 * What a scenario is: a real application in a container built from Debian
 * packages (image.ts), a seeded client that uses it the ordinary way, and an
 * attack on it. Everything talks over the host's loopback: containers use
 * the host network and bind 127.0.0.1 ports the runner chose; "outbound"
 * connections (reverse shells, miners) reach listeners the runner starts.
 */
import type { Prng } from '../detect/lib/prng.js';
import type { ImageRecipe } from './image.js';

/** A TCP listener on 127.0.0.1 that the runner started for an attack (a reverse shell's catcher, a mining pool). */
export interface Listener {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Resolves with the first connection's socket; rejects after `timeoutMs`. */
  nextConnection(timeoutMs: number): Promise<import('node:net').Socket>;
}

export interface ScenarioContext {
  /** The container's name (docker). */
  readonly container: string;
  /** The loopback port the application listens on. */
  readonly port: number;
  /** Further free loopback ports the application may use (passive FTP data, a second service). */
  readonly ports: readonly number[];
  /** Aborted when the run ends or is interrupted: every client loop stops on it. */
  readonly signal: AbortSignal;
  /** Note one client action (request line, command) for the run's request log: the same seed gives the same log. */
  log(action: string): void;
  /** Start a loopback listener for an attack; closed by the runner at the end of the run. */
  listen(): Promise<Listener>;
}

export interface Scenario {
  /** Identifier on the command line and in the dataset (lowercase, '-'). */
  readonly name: string;
  /** The application, in a few words. */
  readonly application: string;
  /** The attack kind (label), in a few words. */
  readonly attackKind: string;
  /** One sentence: what the attack does. */
  readonly attack: string;
  readonly image: ImageRecipe;
  /**
   * Run without Docker's default seccomp profile, as a Kubernetes pod runs
   * unless its kubelet defaults to RuntimeDefault. Syscalls that seccomp
   * denies never reach the sys_enter tracepoint (seccomp runs first), so an
   * attack made of them would be invisible to any syscall tracer: this
   * scenario's attack is then about the calls themselves.
   */
  readonly seccompUnconfined?: boolean;
  /** Extra loopback ports the scenario needs besides its main one. */
  readonly extraPorts?: number;
  /** The container's command (it runs in the foreground, listening on 127.0.0.1:ctx.port). */
  command(ctx: ScenarioContext): string[];
  /** Resolves once the application answers a real request; the runner bounds it in time. */
  ready(ctx: ScenarioContext): Promise<void>;
  /**
   * One normal client session (a user's visit: a few requests). The runner
   * calls it over and over, with seeded pauses, for the whole run, also while
   * an attack is under way. Draw every choice from `rng`.
   */
  session(ctx: ScenarioContext, rng: Prng): Promise<void>;
  /** The attack, start to end; resolves when it is over (bounded by the runner). Draw every choice from `rng`. */
  attackRun(ctx: ScenarioContext, rng: Prng): Promise<void>;
  /**
   * Syscalls the attack itself makes, each of which must appear in the
   * container's recording between the attack's start and end (the test of
   * each scenario checks this, so a label never points at nothing).
   */
  readonly evidence: readonly string[];
  /**
   * Programs the attack runs (by file name), each of which must be exec'd in
   * the container during the attack, named by the kernel's exec events with
   * its arguments and its parent's executable (the test of each scenario
   * checks this too).
   */
  readonly evidenceExecs?: readonly string[];
}
