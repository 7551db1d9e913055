import type { AlertRecord } from './alert.js';

/** What every alert output counts. */
export interface OutputStats {
  /** Records the destination took (a file: written; a bus: confirmed by the server; a webhook: answered 2xx). */
  delivered: number;
  /** Records waiting in the output's bounded queue. */
  waiting: number;
  /** Records lost: refused by a full queue, refused by the destination (HTTP 4xx), or still waiting at exit. */
  lost: number;
  /** While deliveries fail: why. */
  failing?: string;
}

/**
 * A place alert records go: stdout, a file, a bus subject, a webhook.
 * write() never throws and never blocks detection; close() waits (at most
 * `flushTimeoutMs`) for what is waiting, counts what is left as lost and
 * says so on stderr.
 */
export interface AlertOutput {
  /** The destination, for messages (credentials left out). */
  readonly where: string;
  write(record: AlertRecord): void;
  stats(): OutputStats;
  close(flushTimeoutMs: number): Promise<void>;
}

/** Told when an output loses records, so the outputs that work can say so ('alerts-lost'). */
export type LossListener = (count: number, reason: string) => void;
