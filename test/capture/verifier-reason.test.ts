import { describe, expect, it } from 'vitest';
import { verifierReason } from '../../src/capture/preflight.js';

// The end of what libbpf printed on this kernel (6.18) for a build of the
// program that called a helper tracing programs may not use.
const REFUSED = [
  "libbpf: prog 'sys_enter_btf': BPF program load failed: Invalid argument",
  "libbpf: prog 'sys_enter_btf': -- BEGIN PROG LOAD LOG --",
  '0: R1=ctx() R10=fp0',
  '; e->ts_ns = bpf_ktime_get_coarse_ns(); @ syscalls.bpf.c:164',
  '78: (85) call bpf_ktime_get_coarse_ns#160',
  'program of this type cannot use helper bpf_ktime_get_coarse_ns#160',
  'processed 39 insns (limit 1000000) max_states_per_insn 0 total_states 4 peak_states 4 mark_read 0',
  '-- END PROG LOAD LOG --',
  "libbpf: prog 'sys_enter_tp': failed to load: -22",
  "libbpf: failed to load object 'syscalls_bpf'",
  '',
].join('\n');

describe('a program the verifier refuses', () => {
  it("names the verifier's reason, not libbpf's closing lines", () => {
    expect(verifierReason(REFUSED)).toBe('program of this type cannot use helper bpf_ktime_get_coarse_ns#160');
  });
  it('says nothing when there is no verifier log, or an empty one', () => {
    expect(verifierReason("libbpf: failed to load object 'syscalls_bpf'\n")).toBeUndefined();
    expect(verifierReason("libbpf: prog 'x': -- BEGIN PROG LOAD LOG --\n-- END PROG LOAD LOG --\n")).toBeUndefined();
  });
});
