// Mirrors of limits fixed in bpf/ (checked by test/capture/record-layout.test.ts).

/** Deepest cgroup level the kernel filter follows (SW_MAX_CGROUP_LEVEL in bpf/event.h). */
export const SW_MAX_CGROUP_LEVEL = 31;
/** Size of the targets hash map (max_entries in bpf/syscalls.bpf.c). */
export const MAX_TARGETS = 4096;
/** Distinct cgroup depths targets may sit at, at once (SW_MAX_LEVELS in bpf/event.h). */
export const MAX_TARGET_LEVELS = 8;
