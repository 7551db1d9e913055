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
#include <bpf/bpf_core_read.h>
#include "event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- load-time settings (rodata, fixed once loaded) ---- */

/* Non-zero: record every process on the host except the collector itself (benchmarks). */
const volatile __u8 match_all = 0;
/* The collector's own tgid: never recorded (see on_enter). */
const volatile __u32 self_tgid = 0;

/* ---- run-time state ---- */

/*
 * The cgroup levels where targets sit, shallowest first. The filter asks
 * only for the task's ancestor at these levels: one hash lookup per syscall
 * when every target is at the same depth (the usual case: all containers of
 * one runtime), instead of a walk over the whole ancestry. User space writes
 * the list after the map entries, so no lookup finds a level with no entry.
 */
__u32 level_count = 0;
__u32 level_list[SW_MAX_LEVELS] = {};
/* Bumped by user space after every change of targets: invalidates the verdict caches. */
__u32 filter_gen = 0;

/* Emit the records' structs into the object's BTF, where the decoder check reads their layout. */
const struct sw_event *sw_event_btf_anchor __attribute__((unused));
const struct sw_proc_event *sw_proc_event_btf_anchor __attribute__((unused));

/* ---- maps ---- */

/* cgroup v2 id of a watched cgroup -> its target id (slot | generation, event.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SW_MAX_TARGETS);
	__type(key, __u64);
	__type(value, __u16);
} targets SEC(".maps");

/* Records for user space; size set before load from the collector's options. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/*
 * Per CPU, the verdict for the last cgroup seen there: a tight loop of one
 * process then costs no helper call and no hash lookup per syscall. Two
 * words because programs on syscall tracepoints may be preempted and a
 * write torn: `id` is the full cgroup id, `tag` packs the filter generation,
 * the verdict and the id's low 32 bits again, and both must agree.
 */
struct sw_verdict {
	__u64 id;
	__u64 tag;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sw_verdict);
} verdicts SEC(".maps");

/*
 * Slots user space is shedding: 1 while a container floods a ring under
 * pressure, so the other containers' events still find room. Indexed by
 * slot (id & SW_SLOT_MASK). Read only when a verdict is computed; user
 * space bumps filter_gen after a change.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SW_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u8);
} shed SEC(".maps");

/*
 * matched / emitted / dropped per target slot (row SW_MAX_TARGETS for
 * all-processes mode), per CPU so the hot path never shares a cache line.
 * Per slot so that a container flooding the ring is named in the report;
 * user space baselines a slot's row when it gives the slot to a new target.
 */
struct sw_counts {
	__u64 n[SW_CNT__MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SW_MAX_TARGETS + 1);
	__type(key, __u32);
	__type(value, struct sw_counts);
} counters SEC(".maps");

/*
 * Failed reservations on this CPU, all slots together: what user space
 * polls after every drain to see that the ring ran full (cheaper to read
 * than every slot's counters).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ring_full SEC(".maps");

/*
 * Syscall tracepoints may run preemptible on recent kernels (they became
 * faultable), so two programs can interleave on one CPU: add atomically.
 */
#define COUNT(c, which) __sync_fetch_and_add(&(c)->n[which], 1)

/* Slow path: ask for the task's ancestor at each level where targets sit. */
static __always_inline __u16 lookup_target(void)
{
	__u32 n = level_count;

	for (__u32 i = 0; i < SW_MAX_LEVELS && i < n; i++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level_list[i]);
		if (!id) /* the task sits above this level, so above every deeper one */
			return SW_NO_MATCH;
		__u16 *s = bpf_map_lookup_elem(&targets, &id);
		if (s)
			return *s;
	}
	return SW_NO_MATCH;
}

static __always_inline int match_target(struct task_struct *task, __u16 *target)
{
	__u32 zero = 0, gen = filter_gen;
	__u64 id = task->cgroups->dfl_cgrp->kn->id;
	struct sw_verdict *v = bpf_map_lookup_elem(&verdicts, &zero);
	__u16 s;

	if (!v)
		return 0;
	if (v->id == id && (__u32)v->tag == (__u32)id && (__u16)(v->tag >> 48) == (__u16)gen) {
		s = (__u16)(v->tag >> 32);
	} else {
		s = level_count ? lookup_target() : SW_NO_MATCH;
		if (s < SW_TARGET_ID_LIMIT) {
			__u32 k = s & SW_SLOT_MASK;
			__u8 *f = bpf_map_lookup_elem(&shed, &k);
			if (f && *f)
				s |= SW_SHED_BIT;
		}
		v->id = id;
		v->tag = ((__u64)(__u16)gen << 48) | ((__u64)s << 32) | (__u32)id;
	}
	if (s == SW_NO_MATCH)
		return 0;
	*target = s;
	return 1;
}

static __always_inline int on_enter(long nr)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sw_event *e;
	__u16 target = SW_SLOT_ALL;
	__u16 shed_now = 0;

	/* -1 is not a syscall: it is what a tracer sees when it cancels one. */
	if (nr < 0)
		return 0;
	if (!match_all) {
		if (!match_target(task, &target))
			return 0;
		shed_now = target & SW_SHED_BIT;
		target &= ~SW_SHED_BIT;
	}
	/*
	 * Never record the collector itself: draining the ring makes syscalls,
	 * which would make records, which would need draining.
	 */
	if ((__u32)task->tgid == self_tgid)
		return 0;

	__u32 row = target < SW_TARGET_ID_LIMIT ? (target & SW_SLOT_MASK) : SW_MAX_TARGETS;
	struct sw_counts *cnt = bpf_map_lookup_elem(&counters, &row);
	if (!cnt)
		return 0;
	COUNT(cnt, SW_CNT_MATCHED);
	if (shed_now) {
		COUNT(cnt, SW_CNT_DROPPED);
		return 0;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__u32 zero = 0;
		__u64 *full = bpf_map_lookup_elem(&ring_full, &zero);

		COUNT(cnt, SW_CNT_DROPPED);
		if (full)
			__sync_fetch_and_add(full, 1);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->tid = (__u32)task->pid;
	/* The ABI: a 32-bit syscall's number means another call (event.h). */
	e->nr = (__u16)nr | ((task->thread_info.status & SW_TS_COMPAT) ? SW_NR_COMPAT : 0);
	e->slot = target;
	/*
	 * Count before the submit: a record becomes visible to the consumer at
	 * the submit, so 'emitted' is never behind what user space has taken.
	 */
	COUNT(cnt, SW_CNT_EMITTED);
	/* No wakeup: the consumer drains on a timer; a wakeup per event costs more than the event. */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
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

/* ---- process events (see event.h) ---- */

/* emitted / dropped process events, per CPU; apart from the syscall counters. */
struct sw_proc_counts {
	__u64 n[SW_PROC_CNT__MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sw_proc_counts);
} proc_counters SEC(".maps");

/*
 * A process-event record for `task` (the current task: the exec'ing task,
 * the parent of a fork, the exiting task) when it is watched, header filled.
 * Never shed: a process event is what names the process behind an alert.
 */
static __always_inline struct sw_proc_event *proc_reserve(struct task_struct *task, __u16 kind)
{
	__u16 target = SW_SLOT_ALL;
	__u32 zero = 0;
	struct sw_proc_counts *cnt;
	struct sw_proc_event *e;

	if (!match_all) {
		if (!match_target(task, &target))
			return NULL;
		target &= ~SW_SHED_BIT;
	}
	if ((__u32)task->tgid == self_tgid)
		return NULL;
	cnt = bpf_map_lookup_elem(&proc_counters, &zero);
	if (!cnt)
		return NULL;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&cnt->n[SW_PROC_CNT_DROPPED], 1);
		return NULL;
	}
	__sync_fetch_and_add(&cnt->n[SW_PROC_CNT_EMITTED], 1);
	e->head.ts_ns = bpf_ktime_get_ns();
	e->head.tid = (__u32)task->pid;
	e->head.nr = kind;
	e->head.slot = target;
	e->pid = (__u32)task->tgid;
	e->ppid = (__u32)BPF_CORE_READ(task, real_parent, tgid);
	e->child_tid = 0;
	e->child_pid = 0;
	e->at = 0;
	e->flags = 0;
	e->path_len = 0;
	e->args_len = 0;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), task->comm);
	return e;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(proc_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct sw_proc_event *e = proc_reserve(p, SW_REC_EXEC);
	unsigned long start, end, len;
	long n;

	if (!e)
		return 0;
	n = bpf_probe_read_kernel_str(e->path, sizeof(e->path), BPF_CORE_READ(bprm, filename));
	if (n > 0) {
		e->path_len = (__u16)n;
		if (n == sizeof(e->path))
			e->flags |= SW_PROC_PATH_TRUNCATED;
	} else {
		e->path[0] = 0;
	}
	/* The new program's arguments, just copied to its stack by exec. */
	start = BPF_CORE_READ(p, mm, arg_start);
	end = BPF_CORE_READ(p, mm, arg_end);
	len = end > start ? end - start : 0;
	if (len > SW_ARGS_MAX) {
		len = SW_ARGS_MAX;
		e->flags |= SW_PROC_ARGS_TRUNCATED;
	}
	if (len > 0 && bpf_probe_read_user(e->args, (__u32)len, (const void *)start) == 0)
		e->args_len = (__u16)len;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(proc_fork, struct task_struct *parent, struct task_struct *child)
{
	struct sw_proc_event *e = proc_reserve(parent, SW_REC_FORK);

	if (!e)
		return 0;
	e->child_tid = (__u32)child->pid;
	e->child_pid = (__u32)child->tgid;
	if (child->tgid == parent->tgid)
		e->flags |= SW_PROC_THREAD;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(proc_exit, struct task_struct *p, bool group_dead)
{
	struct sw_proc_event *e = proc_reserve(p, SW_REC_EXIT);

	if (!e)
		return 0;
	e->child_tid = (__u32)p->exit_code;
	if (group_dead)
		e->flags |= SW_PROC_GROUP_DEAD;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}
