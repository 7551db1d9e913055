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
/*
 * 0: every CPU writes the one shared ring `events` (the default). N > 0:
 * CPU c writes ring c / N of `rings`, so CPUs contend on a ring's lock only
 * N at a time. Fixed at load: the verifier drops the branch not taken.
 */
const volatile __u32 cpus_per_ring = 0;

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
const struct sw_task_ids *sw_task_ids_btf_anchor __attribute__((unused));

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
 * Rings per group of CPUs (cpus_per_ring > 0): user space sizes this to the
 * number of groups and puts a ring of `events`' size at each index before
 * the programs are attached.
 */
struct sw_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct sw_ring);
} rings SEC(".maps");

/* Reserve `size` bytes in this CPU's ring (NULL: full, or no ring). */
static __always_inline void *ring_reserve(__u64 size)
{
	void *ring;
	__u32 idx;

	if (!cpus_per_ring)
		return bpf_ringbuf_reserve(&events, size, 0);
	idx = bpf_get_smp_processor_id() / cpus_per_ring;
	ring = bpf_map_lookup_elem(&rings, &idx);
	if (!ring)
		return NULL;
	return bpf_ringbuf_reserve(ring, size, 0);
}

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
 * all-processes mode), one block of SW_COUNT_ROWS rows per CPU so the hot
 * path never shares a cache line. Per slot so that a container flooding the
 * ring is named in the report; user space baselines a slot's row when it
 * gives the slot to a new target.
 *
 * Memory-mapped (user space sizes it to SW_COUNT_ROWS x possible CPUs before
 * load): user space reads it without a system call, and reads only the rows
 * marked in counters_dirty, so a reading costs what changed since the last
 * one, not every row of every CPU.
 */
struct sw_counts {
	__u64 n[SW_CNT__MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SW_COUNT_ROWS);
	__type(key, __u32);
	__type(value, struct sw_counts);
} counters SEC(".maps");

/*
 * One bit per row per CPU (SW_DIRTY_WORDS words per CPU, after a summary of
 * SW_DIRTY_SUMMARY words with one bit per word), set after the
 * row's counters changed; user space swaps each non-zero word for zero and
 * then reads the rows it names (event.h: the order that loses no change).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SW_DIRTY_STRIDE);
	__type(key, __u32);
	__type(value, __u64);
} counters_dirty SEC(".maps");

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

/*
 * After counting in `row` on `cpu`: mark the row changed, then its word in
 * the summary. The bit is set after the counters, so a reader that clears
 * it and then reads the row sees the counts; when the bit is already set
 * (the usual case while a row is busy) this is one load of a line this CPU
 * owns. The summary bit is set after the row's bit (both fully ordered
 * atomics): a reader that finds it clear will find it set at a later
 * reading, never a row bit set under a summary bit it already took.
 */
static __always_inline void counted(__u32 cpu, __u32 row)
{
	__u32 word = row / 64;
	__u32 k = cpu * SW_DIRTY_STRIDE + SW_DIRTY_SUMMARY + word;
	__u64 *w = bpf_map_lookup_elem(&counters_dirty, &k);
	__u64 bit = 1ull << (row % 64);

	if (!w || (*w & bit))
		return;
	__sync_fetch_and_or(w, bit);
	__u32 ks = cpu * SW_DIRTY_STRIDE + word / 64;
	__u64 *sw = bpf_map_lookup_elem(&counters_dirty, &ks);
	__u64 sbit = 1ull << (word % 64);

	if (sw && !(*sw & sbit))
		__sync_fetch_and_or(sw, sbit);
}

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

/*
 * Processes that left their target's cgroups (escaped): looked up only when
 * the cgroup filter said no and at least one such process lives, so the
 * hot path of every other task pays one load of this counter.
 */
__u64 escaped_count = 0;

/*
 * Every process of a watched container that syswarden saw start, enter or
 * was told about by user space (the processes already there when a target
 * was added), by tgid -> its target id (SW_FOLLOW_ESCAPED: it left). What
 * tells a move out of a container (cgroup_attach_task fires after the move,
 * when the task's cgroup no longer says where it came from).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SW_MAX_FOLLOWED);
	__type(key, __u32);
	__type(value, __u16);
} followed SEC(".maps");

/* The target an escaped process is still watched under. */
static __always_inline int match_escaped(struct task_struct *task, __u16 *target)
{
	__u32 tgid = (__u32)task->tgid;
	__u16 *f;

	if (!escaped_count)
		return 0;
	f = bpf_map_lookup_elem(&followed, &tgid);
	if (!f || !(*f & SW_FOLLOW_ESCAPED))
		return 0;
	*target = *f & ~SW_FOLLOW_ESCAPED;
	return 1;
}

/*
 * Put one record of `nr` for the current task, when it is watched.
 * `syscall`: nr is a syscall's, to be flagged when the call is 32-bit (read
 * only once the task is known to be watched).
 */
static __always_inline int emit(struct task_struct *task, __u16 nr, int syscall)
{
	struct sw_event *e;
	__u16 target = SW_SLOT_ALL;
	__u16 shed_now = 0;

	if (!match_all) {
		if (!match_target(task, &target) && !match_escaped(task, &target))
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
	/* The program runs with migration disabled: the CPU stays this one until it returns. */
	__u32 cpu = bpf_get_smp_processor_id();
	__u32 key = cpu * SW_COUNT_ROWS + row;
	struct sw_counts *cnt = bpf_map_lookup_elem(&counters, &key);
	if (!cnt)
		return 0;
	COUNT(cnt, SW_CNT_MATCHED);
	if (shed_now) {
		COUNT(cnt, SW_CNT_DROPPED);
		counted(cpu, row);
		return 0;
	}
	e = ring_reserve(sizeof(*e));
	if (!e) {
		__u32 zero = 0;
		__u64 *full = bpf_map_lookup_elem(&ring_full, &zero);

		COUNT(cnt, SW_CNT_DROPPED);
		counted(cpu, row);
		if (full)
			__sync_fetch_and_add(full, 1);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->tid = (__u32)task->pid;
	/* The ABI: a 32-bit syscall's number means another call (event.h). */
	e->nr = nr | ((syscall && (task->thread_info.status & SW_TS_COMPAT)) ? SW_NR_COMPAT : 0);
	e->slot = target;
	/*
	 * Count before the submit: a record becomes visible to the consumer at
	 * the submit, so 'emitted' is never behind what user space has taken.
	 */
	COUNT(cnt, SW_CNT_EMITTED);
	counted(cpu, row);
	/* No wakeup: the consumer drains on a timer; a wakeup per event costs more than the event. */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

static __always_inline int on_enter(long nr)
{
	struct task_struct *task = bpf_get_current_task_btf();

	/* -1 is not a syscall: it is what a tracer sees when it cancels one. */
	if (nr < 0)
		return 0;
	return emit(task, (__u16)nr, 1);
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
 * The number `pid` has in the pid namespace at `level` (0: the host's), or 0
 * when it has none there (its namespace is shallower). numbers[] has one
 * entry per level, from the host's down to the task's own.
 */
static __always_inline __u32 nr_at(struct pid *pid, __u32 level)
{
	struct upid up = {};

	if (!pid || level > 32 || level > BPF_CORE_READ(pid, level))
		return 0;
	bpf_core_read(&up, sizeof(up), &pid->numbers[level]);
	return (__u32)up.nr;
}

/* The number `pid` has in its own (innermost) pid namespace: Falco's vpid / vtid. */
static __always_inline __u32 own_nr(struct pid *pid)
{
	return pid ? nr_at(pid, BPF_CORE_READ(pid, level)) : 0;
}

/* The target `task` is watched under (by its cgroup, or followed after it left). */
static __always_inline int proc_watched(struct task_struct *task, __u16 *target)
{
	*target = SW_SLOT_ALL;
	if (!match_all) {
		if (!match_target(task, target) && !match_escaped(task, target))
			return 0;
		*target &= ~SW_SHED_BIT;
	}
	return (__u32)task->tgid != self_tgid;
}

static __always_inline struct sw_proc_counts *proc_counts(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&proc_counters, &zero);
}

/*
 * A process-event record about `task` (the exec'ing task, the parent of a
 * fork, the exiting or moving task) under `target`, header filled. Never
 * shed: a process event is what names the process behind an alert.
 */
static __always_inline struct sw_proc_event *proc_reserve(struct task_struct *task, __u16 kind, __u16 target)
{
	struct sw_proc_counts *cnt = proc_counts();
	struct sw_proc_event *e;

	if (!cnt)
		return NULL;
	e = ring_reserve(sizeof(*e));
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
	e->vtid = own_nr(task->thread_pid);
	e->vpid = own_nr(BPF_CORE_READ(task, group_leader, thread_pid));
	e->child_vtid = 0;
	e->child_vpid = 0;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), task->comm);
	return e;
}

/* Follow a process under `value` (a target id, SW_FOLLOW_ESCAPED when it left); counted when the map is full. */
static __always_inline void follow(__u32 tgid, __u16 value)
{
	__u16 *old = bpf_map_lookup_elem(&followed, &tgid);
	struct sw_proc_counts *cnt;

	if (old) {
		/* A reused pid, or a process back in a target: the escaped count follows the flag. */
		if ((*old & SW_FOLLOW_ESCAPED) && !(value & SW_FOLLOW_ESCAPED))
			__sync_fetch_and_add(&escaped_count, -1);
		else if (!(*old & SW_FOLLOW_ESCAPED) && (value & SW_FOLLOW_ESCAPED))
			__sync_fetch_and_add(&escaped_count, 1);
		*old = value;
		return;
	}
	if (bpf_map_update_elem(&followed, &tgid, &value, BPF_NOEXIST) == 0) {
		if (value & SW_FOLLOW_ESCAPED)
			__sync_fetch_and_add(&escaped_count, 1);
		return;
	}
	cnt = proc_counts();
	if (cnt)
		__sync_fetch_and_add(&cnt->n[SW_PROC_CNT_UNFOLLOWED], 1);
}

static __always_inline void unfollow(__u32 tgid)
{
	__u16 *old = bpf_map_lookup_elem(&followed, &tgid);

	if (!old)
		return;
	if ((*old & SW_FOLLOW_ESCAPED) && bpf_map_delete_elem(&followed, &tgid) == 0)
		__sync_fetch_and_add(&escaped_count, -1);
	else
		bpf_map_delete_elem(&followed, &tgid);
}

/* ---- paths ---- */

/* Components of an executable's path the walk below takes at most. */
#define SW_EXE_DEPTH 16

/* Where exe_path assembles a path: twice SW_PATH_MAX, so a name of up to SW_PATH_MAX bytes fits at any offset below it. */
struct sw_path_scratch {
	char buf[SW_PATH_MAX * 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sw_path_scratch);
} path_scratch SEC(".maps");

/* State of the walk from an executable's dentry up to its root (bpf_loop callbacks: verified once, not per step). */
struct sw_walk {
	const unsigned char *names[SW_EXE_DEPTH];
	struct dentry *d, *root;
	struct mount *m;
	struct sw_path_scratch *sp;
	__u32 n, off;
	int truncated;
};

/* One step up: a dentry's name, or a crossing to the mount below. Stops at the namespace's root. */
static long walk_up(__u32 i, struct sw_walk *w)
{
	struct dentry *d = w->d, *up;
	struct mount *m = w->m;

	if (d == w->root) {
		struct mount *parent = BPF_CORE_READ(m, mnt_parent);

		if (parent == m)
			return 1;
		w->d = BPF_CORE_READ(m, mnt_mountpoint);
		w->m = parent;
		w->root = BPF_CORE_READ(parent, mnt.mnt_root);
		return 0;
	}
	up = BPF_CORE_READ(d, d_parent);
	if (up == d)
		return 1;
	if (w->n >= SW_EXE_DEPTH) {
		w->truncated = 1;
		return 1;
	}
	w->names[w->n & (SW_EXE_DEPTH - 1)] = BPF_CORE_READ(d, d_name.name);
	w->n++;
	w->d = up;
	return 0;
}

/* One name, root first: '/' and the name at the end of what is written. */
static long write_name(__u32 i, struct sw_walk *w)
{
	__u32 at;
	long len;

	if (i >= w->n)
		return 1;
	if (w->off >= SW_PATH_MAX - 2) {
		w->truncated = 1;
		return 1;
	}
	at = w->off & (SW_PATH_MAX - 1);
	w->sp->buf[at] = '/';
	at = (w->off + 1) & (SW_PATH_MAX - 1);
	len = bpf_probe_read_kernel_str(&w->sp->buf[at], SW_PATH_MAX, w->names[(w->n - 1 - i) & (SW_EXE_DEPTH - 1)]);
	if (len <= 1)
		return 1;
	w->off += 1 + ((__u32)(len - 1) & (SW_PATH_MAX - 1));
	return 0;
}

/*
 * The path of (d, vm) as the task's mount namespace names it, into sp->buf
 * from its start (bpf_d_path is not allowed here): walk the dentries up to
 * the root, crossing mounts, then write the names root first. Returns the
 * bytes written (no NUL; 0 for the root itself).
 */
static __always_inline __u32 walk_path(struct dentry *d, struct vfsmount *vm, struct sw_path_scratch *sp, struct sw_proc_event *e)
{
	struct sw_walk w = {};

	w.sp = sp;
	w.d = d;
	w.m = container_of(vm, struct mount, mnt);
	w.root = BPF_CORE_READ(vm, mnt_root);
	bpf_loop(SW_EXE_DEPTH * 2, walk_up, &w, 0);
	bpf_loop(SW_EXE_DEPTH, write_name, &w, 0);
	if (w.truncated)
		e->flags |= SW_PROC_PATH_TRUNCATED;
	return w.off;
}

/* What sp->buf holds, `off` bytes of it, as e->path. */
static __always_inline void put_path(struct sw_proc_event *e, struct sw_path_scratch *sp, __u32 off)
{
	if (off >= SW_PATH_MAX) {
		off = SW_PATH_MAX - 1;
		e->flags |= SW_PROC_PATH_TRUNCATED;
	}
	asm volatile("" : "+r"(off));
	sp->buf[off & (SW_PATH_MAX - 1)] = 0;
	bpf_probe_read_kernel(e->path, SW_PATH_MAX, sp->buf);
	e->path[SW_PATH_MAX - 1] = 0;
	e->path_len = (__u16)((off & (SW_PATH_MAX - 1)) + 1);
}

static __always_inline struct sw_path_scratch *path_buf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&path_scratch, &zero);
}

/* The task's executable's path into e->path. */
static __always_inline void exe_path(struct task_struct *task, struct sw_proc_event *e)
{
	struct file *f = BPF_CORE_READ(task, mm, exe_file);
	struct sw_path_scratch *sp = path_buf();
	__u32 off;

	if (!f || !sp)
		return;
	off = walk_path(BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), sp, e);
	if (off > 0)
		put_path(e, sp, off);
}

/*
 * A relative path exec was given (a CGI program run as "search" from its
 * directory), made absolute with the task's working directory, into e->path.
 */
static __always_inline void exec_path_from_cwd(struct task_struct *task, struct sw_proc_event *e, const char *filename)
{
	struct sw_path_scratch *sp = path_buf();
	__u32 off, at;
	long n;

	if (!sp)
		return;
	off = walk_path(BPF_CORE_READ(task, fs, pwd.dentry), BPF_CORE_READ(task, fs, pwd.mnt), sp, e);
	if (off >= SW_PATH_MAX - 2) {
		e->flags |= SW_PROC_PATH_TRUNCATED;
		put_path(e, sp, off);
		return;
	}
	at = off & (SW_PATH_MAX - 1);
	sp->buf[at] = '/';
	at = (off + 1) & (SW_PATH_MAX - 1);
	n = bpf_probe_read_kernel_str(&sp->buf[at], SW_PATH_MAX, filename);
	if (n <= 1)
		return; /* keep the relative path already in e->path */
	off += 1 + ((__u32)(n - 1) & (SW_PATH_MAX - 1));
	put_path(e, sp, off);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(proc_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	unsigned long start, end, len;
	struct sw_proc_event *e;
	__u16 target;
	long n;

	if (!proc_watched(p, &target) || !(e = proc_reserve(p, SW_REC_EXEC, target)))
		return 0;
	n = bpf_probe_read_kernel_str(e->path, sizeof(e->path), BPF_CORE_READ(bprm, filename));
	if (n > 0) {
		e->path_len = (__u16)n;
		if (n == sizeof(e->path))
			e->flags |= SW_PROC_PATH_TRUNCATED;
		if (e->path[0] != '/')
			exec_path_from_cwd(p, e, BPF_CORE_READ(bprm, filename));
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
	struct sw_proc_event *e;
	__u16 target;

	if (!proc_watched(parent, &target))
		return 0;
	if (child->tgid != parent->tgid && target != SW_SLOT_ALL) {
		__u32 ptgid = (__u32)parent->tgid;
		__u16 *pf = bpf_map_lookup_elem(&followed, &ptgid);

		/* A child of a process that left its container is followed like its parent. */
		follow((__u32)child->tgid, (pf && (*pf & SW_FOLLOW_ESCAPED)) ? *pf : target);
	}
	e = proc_reserve(parent, SW_REC_FORK, target);
	if (!e)
		return 0;
	e->child_tid = (__u32)child->pid;
	e->child_pid = (__u32)child->tgid;
	e->child_vtid = own_nr(child->thread_pid);
	e->child_vpid = own_nr(BPF_CORE_READ(child, group_leader, thread_pid));
	if (child->tgid == parent->tgid)
		e->flags |= SW_PROC_THREAD;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(proc_exit, struct task_struct *p, bool group_dead)
{
	struct sw_proc_event *e;
	__u16 target;

	if (!proc_watched(p, &target))
		return 0;
	/* Before the event: a full ring must not leave a dead pid followed. */
	if (group_dead && target != SW_SLOT_ALL)
		unfollow((__u32)p->tgid);
	e = proc_reserve(p, SW_REC_EXIT, target);
	if (!e)
		return 0;
	e->child_tid = (__u32)p->exit_code;
	if (group_dead)
		e->flags |= SW_PROC_GROUP_DEAD;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* ---- moves between cgroups ---- */

/* The target containing cgroup `cg` (itself or an ancestor at a target level), or SW_NO_MATCH. */
static __always_inline __u16 cgroup_target(struct cgroup *cg)
{
	__u32 n = level_count;
	int level = BPF_CORE_READ(cg, level);

	for (__u32 i = 0; i < SW_MAX_LEVELS && i < n; i++) {
		__u32 l = level_list[i];
		struct cgroup *anc = NULL;
		__u64 id;

		if (l > SW_MAX_CGROUP_LEVEL || (int)l > level)
			return SW_NO_MATCH;
		if (bpf_probe_read_kernel(&anc, sizeof(anc), &cg->ancestors[l]) || !anc)
			return SW_NO_MATCH;
		id = BPF_CORE_READ(anc, kn, id);
		__u16 *s = bpf_map_lookup_elem(&targets, &id);
		if (s)
			return *s;
	}
	return SW_NO_MATCH;
}

/*
 * A task moved to another cgroup (it has moved when this fires): one that
 * joins a target from outside is announced with its executable, one that a
 * target's process leaves for a cgroup no target contains is an escape and
 * stays followed under the target it left.
 */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(cgroup_attach, struct cgroup *dst, const char *path, struct task_struct *task, bool threadgroup)
{
	__u32 tgid = (__u32)task->tgid;
	__u16 to, from, kind;
	struct sw_proc_event *e;
	__u16 *f;
	long n;

	if (match_all || tgid == self_tgid)
		return 0;
	to = level_count ? cgroup_target(dst) : SW_NO_MATCH;
	f = bpf_map_lookup_elem(&followed, &tgid);
	from = f ? *f : SW_NO_MATCH;
	if (to < SW_TARGET_ID_LIMIT) {
		if (from == to)
			return 0; /* within its target (a sub-cgroup) */
		follow(tgid, to);
		kind = SW_REC_ATTACH;
	} else {
		if (!f || (from & SW_FOLLOW_ESCAPED))
			return 0; /* never watched, or already followed out of its target */
		follow(tgid, from | SW_FOLLOW_ESCAPED);
		kind = SW_REC_ESCAPE;
	}
	e = proc_reserve(task, kind, kind == SW_REC_ATTACH ? to : from);
	if (!e)
		return 0;
	e->child_tid = kind == SW_REC_ATTACH ? (__u32)(from & ~SW_FOLLOW_ESCAPED) : SW_NO_MATCH;
	if (kind == SW_REC_ATTACH && from == SW_NO_MATCH)
		e->child_tid = SW_NO_MATCH;
	if (!threadgroup)
		e->flags |= SW_PROC_THREAD;
	exe_path(task, e);
	n = bpf_probe_read_kernel_str(e->args, sizeof(e->args), path);
	if (n > 0)
		e->args_len = (__u16)n;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* ---- adoption: containers watched from the moment their cgroup exists ---- */

/*
 * cgroup v2 ids of parents (a runtime's /docker, a pod's slice) whose new
 * children become targets in the kernel, when they are made: before any
 * task can join them, so a container's first exec is never missed.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SW_MAX_ADOPT_PARENTS);
	__type(key, __u64);
	__type(value, __u8);
} adopt_parents SEC(".maps");

/* Target ids user space reserved for adopted cgroups; it refills the queue as they are taken. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, SW_MAX_ADOPT_IDS);
	__type(value, __u16);
} adopt_ids SEC(".maps");

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct cgroup *parent = NULL;
	struct sw_proc_event *e;
	__u16 target = SW_NO_MATCH;
	__u64 id, pid;
	int level;
	long n;

	if (match_all)
		return 0;
	/* cgroup v1 hierarchies number their cgroups apart: only v2 (hierarchy 0) ids mean anything here. */
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	level = BPF_CORE_READ(cgrp, level);
	if (level < 1 || level > SW_MAX_CGROUP_LEVEL)
		return 0;
	if (bpf_probe_read_kernel(&parent, sizeof(parent), &cgrp->ancestors[level - 1]) || !parent)
		return 0;
	pid = BPF_CORE_READ(parent, kn, id);
	if (!bpf_map_lookup_elem(&adopt_parents, &pid))
		return 0;
	id = BPF_CORE_READ(cgrp, kn, id);
	if (bpf_map_pop_elem(&adopt_ids, &target) == 0) {
		if (bpf_map_update_elem(&targets, &id, &target, BPF_NOEXIST) == 0)
			__sync_fetch_and_add(&filter_gen, 1);
		else
			target = SW_NO_MATCH; /* the targets map is full: user space adds it, or says it cannot */
	}
	e = proc_reserve(task, SW_REC_ADOPT, target);
	if (!e)
		return 0; /* counted as a dropped process event; user space's scan of the parent still finds it */
	e->child_tid = (__u32)id;
	e->child_pid = (__u32)(id >> 32);
	n = bpf_probe_read_kernel_str(e->args, sizeof(e->args), path);
	if (n > 0)
		e->args_len = (__u16)n;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* ---- io_uring ---- */

/*
 * An operation submitted to an io_uring (from io_uring_enter, or by the
 * ring's SQPOLL thread, a thread of the same process): a record of its own
 * (SW_NR_URING | opcode), so what a ring opens and reads is seen.
 */
SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(uring_submit, struct io_kiocb *req)
{
	return emit(bpf_get_current_task_btf(), SW_NR_URING | (__u16)BPF_CORE_READ(req, opcode), 0);
}

/*
 * On demand from user space, never on an event path: every task of the
 * reader's pid namespace (or of one process, by pid or pidfd) with its host
 * ids, the ids the reader knows it by and its ids in its own namespace. The
 * kernel records host pids; a syswarden in a container's pid namespace uses
 * this to read /proc and signal by the pid its namespace gives the same
 * process, and to prove that a pidfd holds the process a host pid names.
 */
SEC("iter/task")
int task_ids(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct task_struct *me = bpf_get_current_task_btf();
	struct sw_task_ids r = {};
	struct pid *mine, *tp, *lp;
	struct upid my = {};
	__u32 level;

	if (!task)
		return 0;
	mine = BPF_CORE_READ(me, thread_pid);
	level = BPF_CORE_READ(mine, level);
	if (level > 32)
		return 0;
	bpf_core_read(&my, sizeof(my), &mine->numbers[level]);
	tp = BPF_CORE_READ(task, thread_pid);
	lp = BPF_CORE_READ(task, group_leader, thread_pid);
	r.tid = (__u32)task->pid;
	r.pid = (__u32)task->tgid;
	r.ppid = (__u32)BPF_CORE_READ(task, real_parent, tgid);
	r.reader_level = level;
	r.level = BPF_CORE_READ(tp, level);
	r.vtid = own_nr(tp);
	r.vpid = own_nr(lp);
	/* Only a number in the reader's own namespace (not another at its depth). */
	if (r.level >= level) {
		struct upid t = {}, l = {};

		bpf_core_read(&t, sizeof(t), &tp->numbers[level]);
		bpf_core_read(&l, sizeof(l), &lp->numbers[level]);
		if (t.ns == my.ns)
			r.ltid = (__u32)t.nr;
		if (l.ns == my.ns)
			r.lpid = (__u32)l.nr;
	}
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
