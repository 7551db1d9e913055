/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one definition of what crosses from the kernel to user space.
 * Included by the BPF program, the native addon and checked against the
 * TypeScript decoder (test/capture/record-layout.test.ts reads this struct's
 * offsets from the BTF of the compiled object).
 */
#ifndef SYSWARDEN_EVENT_H
#define SYSWARDEN_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/*
 * 16 bytes per syscall. The timestamp is the one field beyond (nr, tid, slot):
 * it orders events of one thread across CPUs after a migration and is the
 * start of the syscall-to-alert latency. x86_64 syscall numbers fit in 16
 * bits; -1 (no syscall, e.g. a ptrace-injected return) is skipped in the kernel.
 *
 * `slot` carries the target id the event matched, fixed when it was
 * captured: the target's slot in the low SW_SLOT_BITS bits and the slot's
 * generation above them. A slot freed by a removed target is given to a
 * later one under the next generation, so an event still in flight when
 * its target went away never names the target that came after it.
 */
struct sw_event {
	__u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 tid;   /* kernel pid of the thread, as seen from the init pid namespace */
	__u16 nr;    /* syscall number */
	__u16 slot;  /* target id (slot | generation << SW_SLOT_BITS); SW_SLOT_ALL in all-processes mode */
};

/*
 * Process events: exec, fork (and thread creation), exit, from the
 * scheduler's BTF tracepoints, in the same ring as the syscall records and
 * under the same cgroup filter. They are rare and larger: a consumer tells
 * them apart by their size, and their first 16 bytes are a struct sw_event
 * whose nr is one of the SW_REC_* tags (no syscall number reaches them), so
 * the ring's order of a thread's syscalls and its process events is kept.
 * They are never shed and are counted apart from syscall records
 * (SW_PROC_CNT_*), so syscall counts stay counts of syscalls.
 */
#define SW_REC_EXEC 0xfff0
#define SW_REC_FORK 0xfff1
#define SW_REC_EXIT 0xfff2
/*
 * A process joined a watched cgroup from outside the target (docker exec,
 * runc, a write to cgroup.procs): slot is the target joined, child_tid the
 * target it came from (SW_NO_MATCH: none), path its executable, args the
 * cgroup it joined (path in the hierarchy).
 */
#define SW_REC_ATTACH 0xfff3
/*
 * A followed process moved to a cgroup no target contains: slot is the
 * target it left (it stays watched under that id), path its executable,
 * args the cgroup it moved to.
 */
#define SW_REC_ESCAPE 0xfff4
/*
 * A cgroup was made under a parent user space asked to adopt the children
 * of (a container runtime's parent cgroup): slot is the target id it was
 * given, from the ids user space reserved (SW_NO_MATCH: none was left, so
 * nothing of it is watched until user space adds it), child_tid and
 * child_pid the low and high words of its cgroup id, args its path in the
 * hierarchy. It comes before any record of the new target, since no task
 * can be in a cgroup before it exists.
 */
#define SW_REC_ADOPT 0xfff5

#define SW_COMM_LEN 16
#define SW_PATH_MAX 256
#define SW_ARGS_MAX 256

/* sw_proc_event.flags */
#define SW_PROC_THREAD 0x1          /* fork: a thread of the same process, not a new process */
#define SW_PROC_GROUP_DEAD 0x2      /* exit: the last thread of the process */
#define SW_PROC_PATH_TRUNCATED 0x4  /* exec: the path was longer than SW_PATH_MAX - 1 */
#define SW_PROC_ARGS_TRUNCATED 0x8  /* exec: the arguments were longer than SW_ARGS_MAX */

struct sw_proc_event {
	struct sw_event head; /* ts; tid: the thread the event is about (the parent's, for fork); nr: SW_REC_*; slot */
	__u32 pid;            /* that thread's process (tgid) */
	__u32 ppid;           /* the process's parent (tgid of real_parent) */
	__u32 child_tid;      /* fork: the new task; exit: the exit code */
	__u32 child_pid;      /* fork: the new task's process */
	__u32 at;             /* set by user space: index of the next syscall record of the batch */
	__u32 flags;          /* SW_PROC_* */
	__u16 path_len;       /* exec: bytes of path, with its NUL */
	__u16 args_len;       /* exec: bytes of args (NUL-separated, as in /proc/pid/cmdline) */
	char comm[SW_COMM_LEN];
	char path[SW_PATH_MAX]; /* exec: the path exec was given (relative: made absolute with the cwd); attach, escape: the executable */
	char args[SW_ARGS_MAX];
	/*
	 * The same ids as the process's own pid namespace numbers them (what `ps`
	 * in its container shows; equal to tid/pid on the host): vtid and vpid of
	 * the task the event is about, and for a fork, child_vtid and child_vpid
	 * of the new task (for a clone into a new pid namespace, 1).
	 */
	__u32 vtid;
	__u32 vpid;
	__u32 child_vtid;
	__u32 child_vpid;
};

/*
 * One task as the task_ids iterator reports it, on demand from user space
 * (never on an event path): the one place where a host pid, the pid the
 * reader (syswarden) knows it by and the pid its own namespace gives it
 * meet. A task the reader's namespace does not contain has ltid = lpid = 0.
 */
struct sw_task_ids {
	__u32 tid;          /* host (init pid namespace) */
	__u32 pid;
	__u32 ltid;         /* in the reading process's pid namespace (0: not in it) */
	__u32 lpid;
	__u32 vtid;         /* in the task's own pid namespace */
	__u32 vpid;
	__u32 level;        /* depth of the task's own pid namespace (0: the host's) */
	__u32 reader_level; /* depth of the reader's */
	__u32 ppid;         /* host pid of its process's parent (real_parent's tgid) */
};

/* Indices into the per-CPU process-event counters. */
enum sw_proc_counter {
	SW_PROC_CNT_EMITTED = 0,
	SW_PROC_CNT_DROPPED = 1, /* ring full */
	SW_PROC_CNT_UNFOLLOWED = 2, /* a watched process not followed: the followed map was full */
	SW_PROC_CNT__MAX = 3,
};

/*
 * Set in a syscall record's nr when the call was a 32-bit (ia32 compat)
 * syscall: the low 15 bits are then its i386 number, which means another
 * call than the same x86_64 number (i386 11 is execve, x86_64 11 munmap).
 */
#define SW_NR_COMPAT 0x8000
/*
 * A syscall record whose nr has this bit (and not SW_NR_COMPAT) is an
 * io_uring operation submitted by the thread, not a syscall: the low 8 bits
 * are its IORING_OP_* opcode. A file opened or read through a ring is then
 * seen like one opened or read by a syscall.
 */
#define SW_NR_URING 0x4000

/*
 * The followed map's value: a process's target id, with this bit when the
 * process has left the target's cgroups (it is followed by its tgid, not by
 * its cgroup).
 */
#define SW_FOLLOW_ESCAPED 0x8000
/* Processes followed at once (of all targets). */
#define SW_MAX_FOLLOWED 65536

/* x86 thread_info.status bit of a task inside a 32-bit syscall (arch/x86 TS_COMPAT). */
#define SW_TS_COMPAT 0x0002

/* The target id of events recorded in all-processes mode. */
#define SW_SLOT_ALL 0xffff

/*
 * A target id: bits 0..11 the slot (index of the per-slot counters and of
 * the shed flags), bits 12..14 the generation, bit 15 clear. Every target
 * id is below SW_TARGET_ID_LIMIT: with SW_SHED_BIT set, 0x7ffe and 0x7fff
 * would read as SW_NO_MATCH and SW_SLOT_ALL, so slots 4094 and 4095 skip
 * generation 7 (user space allocates ids; src/capture/record.ts).
 */
#define SW_SLOT_BITS 12
#define SW_SLOT_MASK 0x0fff
#define SW_GEN_MASK 0x7
#define SW_TARGET_ID_LIMIT 0x7ffe

/* Indices into the per-CPU counter array. */
enum sw_counter {
	SW_CNT_MATCHED = 0, /* events that passed the filter, counted on entry */
	SW_CNT_EMITTED = 1, /* records submitted to the ring (counted before the submit) */
	SW_CNT_DROPPED = 2, /* not recorded: ring full, or the slot shed under ring pressure */
	SW_CNT__MAX = 3,
};

/*
 * Set in a cached verdict's id while user space sheds that target's slot (a
 * container taking more than its share of a ring under pressure): its
 * events are counted as dropped without touching the ring.
 */
#define SW_SHED_BIT 0x8000
/* A cached verdict for a cgroup no target contains. */
#define SW_NO_MATCH 0xfffe

/* Deepest cgroup level the filter walks (root is level 0). */
#define SW_MAX_CGROUP_LEVEL 31
/* Targets watched at once (slots 0 .. SW_MAX_TARGETS-1): 1 << SW_SLOT_BITS. */
#define SW_MAX_TARGETS 4096
/* Rows of the syscall counters per CPU: one per slot, and the all-processes row. */
#define SW_COUNT_ROWS (SW_MAX_TARGETS + 1)
/*
 * 64-bit words of the counters' changed-row bitmap per CPU. The kernel sets
 * a row's bit after adding to its counters; user space swaps a word for
 * zero and then reads the rows it named: a change made before the swap is
 * read now, one made after it sets the bit again for the next reading.
 */
#define SW_DIRTY_WORDS ((SW_COUNT_ROWS + 63) / 64)
/*
 * Above them, one bit per word (set after the word's bit): a reader swaps
 * these first and visits only the words they name, so a reading of a CPU
 * that counted nothing costs SW_DIRTY_SUMMARY loads. Per CPU the map holds
 * SW_DIRTY_SUMMARY summary words, then SW_DIRTY_WORDS row words.
 */
#define SW_DIRTY_SUMMARY ((SW_DIRTY_WORDS + 63) / 64)
#define SW_DIRTY_STRIDE (SW_DIRTY_SUMMARY + SW_DIRTY_WORDS)
/* Parents whose new child cgroups are adopted, and target ids reserved for them. */
#define SW_MAX_ADOPT_PARENTS 256
#define SW_MAX_ADOPT_IDS 64
/* Distinct cgroup levels targets may sit at, at once. */
#define SW_MAX_LEVELS 8

#endif
