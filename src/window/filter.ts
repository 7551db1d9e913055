import { SyswardenError } from '../errors.js';
import type { ThreatTable } from '../trace/threat-levels.js';
import { COMPAT_FLAG, nativeFromCanonical, PSEUDO_BASE } from '../trace/syscalls.js';

export const FILTER_NAMES = ['none', 'harmless'] as const;
export type FilterName = (typeof FILTER_NAMES)[number];

/** Which syscall numbers to drop from a stream before windowing. */
export interface SyscallFilter {
  readonly name: FilterName;
  /** drop[nr] === 1: the call is removed. Covers the whole Uint16 range, pseudo-syscalls included. */
  readonly drop: Uint8Array;
  /** How many distinct numbers are dropped (for reports). */
  readonly dropped: number;
}

/** Level 4 of Bernaschi et al. is "harmless": the study's filter removes exactly those calls. */
export const HARMLESS_LEVEL = 4;

export function parseFilterName(text: string): FilterName {
  if ((FILTER_NAMES as readonly string[]).includes(text)) return text as FilterName;
  throw new SyswardenError('ERR_INVALID_INPUT', `unknown filter '${text}'. Fix: use one of ${FILTER_NAMES.join(', ')}.`);
}

export function makeFilter(name: FilterName, table?: ThreatTable): SyscallFilter {
  const drop = new Uint8Array(65536);
  let dropped = 0;
  if (name === 'harmless') {
    if (!table) throw new SyswardenError('ERR_INVALID_INPUT', "the 'harmless' filter needs a threat table. Fix: load one with loadThreatTable().");
    for (const [nr, level] of table.levels) {
      if (level === HARMLESS_LEVEL) {
        drop[nr] = 1;
        dropped++;
        // The same call made by a 32-bit process in live capture (a distinct token, same threat).
        const i386 = nr < PSEUDO_BASE ? nativeFromCanonical('i386', nr) : undefined;
        if (i386 !== undefined) drop[COMPAT_FLAG | i386] = 1;
      }
    }
  }
  return { name, drop, dropped };
}

/**
 * The stream without the dropped calls and, when `times` (one per call) is
 * given, the times of exactly the calls kept. The inputs themselves when
 * nothing is dropped.
 */
export function filterStream(calls: Uint16Array, filter: SyscallFilter, times?: Float64Array): { calls: Uint16Array; times?: Float64Array } {
  if (filter.dropped === 0) return times ? { calls, times } : { calls };
  const drop = filter.drop;
  const out = new Uint16Array(calls.length);
  const at = times ? new Float64Array(calls.length) : undefined;
  let n = 0;
  for (let i = 0; i < calls.length; i++) {
    const c = calls[i]!;
    if (drop[c] === 0) {
      if (at) at[n] = times![i]!;
      out[n++] = c;
    }
  }
  return at ? { calls: out.slice(0, n), times: at.slice(0, n) } : { calls: out.slice(0, n) };
}
