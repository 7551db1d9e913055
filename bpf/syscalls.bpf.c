// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syswarden kernel side: on every syscall entry, decide whether the calling
 * task belongs to a watched container and, if so, put a 16-byte record into
 * the ring buffer. Nothing else happens here: look up, reserve, fill, submit,
 * count.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- load-time settings (rodata, fixed once loaded) ---- */

/* Non-zero: record every process on the host except the collector itself (benchmarks). */
const volatile __u8 match_all = 0;
/* The collector's own tgid: never recorded (see on_enter). */
const volatile __u32 self_tgid = 0;

/* ---- run-time state ---- */

/*
 * Bit L set when some target sits at cgroup level L. The filter then asks
 * only for the task's ancestor at those levels: one hash lookup per syscall
 * when every target is at the same depth (the usual case: all containers of
 * one runtime), instead of a walk over the whole ancestry.
 */
__u32 target_levels = 0;

/* Emits struct sw_event into the object's BTF, where the decoder check reads its layout. */
const struct sw_event *sw_event_btf_anchor __attribute__((unused));

/* ---- maps ---- */

/* cgroup v2 id of a watched cgroup -> its container slot. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u16);
} targets SEC(".maps");

/* Records for user space; size set before load from the collector's options. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* matched / emitted / dropped, per CPU so the hot path never shares a cache line. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SW_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);
	/*
	 * Syscall tracepoints may run preemptible on recent kernels (they became
	 * faultable), so two programs can interleave on one CPU: add atomically.
	 */
	if (c)
		__sync_fetch_and_add(c, 1);
}

static __always_inline int match_slot(__u16 *slot)
{
	__u32 levels = target_levels;

	if (!levels)
		return 0;
	for (__u32 level = 0; level <= SW_MAX_CGROUP_LEVEL; level++) {
		if (!(levels & (1u << level)))
			continue;
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);
		if (!id) /* the task sits above this level: no deeper target can hold it */
			return 0;
		__u16 *s = bpf_map_lookup_elem(&targets, &id);
		if (s) {
			*slot = *s;
			return 1;
		}
	}
	return 0;
}

static __always_inline int on_enter(long nr)
{
	struct sw_event *e;
	__u16 slot = SW_SLOT_ALL;
	__u64 pid_tgid;

	/* -1 is not a syscall: it is what a tracer sees when it cancels one. */
	if (nr < 0)
		return 0;

	if (!match_all && !match_slot(&slot))
		return 0;
	/*
	 * Never record the collector itself: draining the ring makes syscalls,
	 * which would make records, which would need draining.
	 */
	pid_tgid = bpf_get_current_pid_tgid();
	if ((__u32)(pid_tgid >> 32) == self_tgid)
		return 0;

	count(SW_CNT_MATCHED);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SW_CNT_DROPPED);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->tid = (__u32)pid_tgid;
	e->nr = (__u16)nr;
	e->slot = slot;
	/* No wakeup: the consumer drains on a timer; a wakeup per event costs more than the event. */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	count(SW_CNT_EMITTED);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_btf, struct pt_regs *regs, long id)
{
	return on_enter(id);
}

/* Fallback for kernels without BTF-typed tracepoints; needs tracefs to attach. */
SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter_tp(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->id);
}
