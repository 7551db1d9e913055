/**
 * A batch of fixed-size windows of syscall numbers, stored row-major in one
 * typed array: window i is `data.subarray(i * size, (i + 1) * size)`.
 * Never an array of arrays: millions of windows must stay one allocation.
 */
export interface WindowSet {
  /** Syscalls per window (3..15 in the reference study). */
  readonly size: number;
  /** Number of windows. */
  readonly count: number;
  /** `count * size` syscall numbers (pseudo-syscalls included, see PSEUDO_BASE). */
  readonly data: Uint16Array;
  /** Optional class per window: 0 = normal, 1 = attack. */
  readonly labels?: Uint8Array;
  /** Optional index of the trace (file or thread stream) each window came from. */
  readonly source?: Int32Array;
}

/** The largest number a window position can hold (its data is 16-bit): what bounds over every possible window range up to. */
export const MAX_CALL = 0xffff;

export function windowAt(set: WindowSet, i: number): Uint16Array {
  return set.data.subarray(i * set.size, (i + 1) * set.size);
}
