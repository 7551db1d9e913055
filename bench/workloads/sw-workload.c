// Workloads with a known syscall footprint, for syswarden's tests, demo and
// benchmarks. Usage:
//   sw-workload [--cgroup DIR] MODE ARGS...
//     getppid N [THREADS]   N getppid() calls per thread (the benchmark loop)
//     pattern N [THREADS]   N rounds of getppid, getpgid(0), getsid(0) per thread
//     hop N [THREADS]       the pattern, each round on the next CPU (sched_setaffinity
//                           first): a thread's calls land on every CPU in turn
//     forever USEC          getppid then usleep(USEC), until killed
//     mix N                 N rounds of open/read/close/stat on /etc/hostname
//     rate R SECONDS [THREADS]  about R getppid() calls per second in all, for SECONDS,
//                           with one getsid(0) every 10000 calls (a rare window for
//                           latency measurements)
//     exec CMD ARGS...      replace itself with CMD (to start any program in the cgroup)
//     uring FILE N [sqpoll] N rounds of IORING_OP_OPENAT(FILE) + READ + CLOSE through
//                           an io_uring (raw syscalls), with an SQPOLL thread if asked
// With --cgroup the process first moves itself into that cgroup v2 directory,
// so not one of the counted calls happens outside it; given again, it moves on
// from the first to the next (a process leaving its container's cgroup). On
// exit it prints the loop's wall time as `elapsed_ns <n>`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/io_uring.h>
#include <sys/mman.h>

static long rounds;

static void *run_getppid(void *arg) {
  (void)arg;
  for (long i = 0; i < rounds; i++) syscall(SYS_getppid);
  return NULL;
}

static void *run_pattern(void *arg) {
  (void)arg;
  for (long i = 0; i < rounds; i++) {
    syscall(SYS_getppid);
    syscall(SYS_getpgid, 0);
    syscall(SYS_getsid, 0);
  }
  return NULL;
}

static void *run_hop(void *arg) {
  (void)arg;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu < 1) ncpu = 1;
  for (long i = 0; i < rounds; i++) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)(i % ncpu), &set);
    // Its own syscall, not the libc wrapper's cached path: one record per round.
    syscall(SYS_sched_setaffinity, 0, sizeof(set), &set);
    syscall(SYS_getppid);
    syscall(SYS_getpgid, 0);
    syscall(SYS_getsid, 0);
  }
  return NULL;
}

static void *run_mix(void *arg) {
  (void)arg;
  char buf[256];
  struct stat st;
  for (long i = 0; i < rounds; i++) {
    int fd = open("/etc/hostname", O_RDONLY);
    if (fd >= 0) {
      if (read(fd, buf, sizeof(buf)) < 0) perror("read");
      close(fd);
    }
    stat("/etc/hostname", &st);
  }
  return NULL;
}

static long rate_per_thread;
static double rate_seconds;

static unsigned long long now_ns(void);

static void *run_rate(void *arg) {
  (void)arg;
  const long chunk = 1000;
  unsigned long long start = now_ns();
  unsigned long long end = start + (unsigned long long)(rate_seconds * 1e9);
  long done = 0;
  for (;;) {
    for (long i = 0; i < chunk; i++) {
      syscall(SYS_getppid);
      if (++done % 10000 == 0) syscall(SYS_getsid, 0);
    }
    unsigned long long now = now_ns();
    if (now >= end) break;
    // Sleep until this many calls are due: the rate holds on average.
    unsigned long long due = start + (unsigned long long)((double)done * 1e9 / (double)rate_per_thread);
    if (due > now) {
      struct timespec ts = {(time_t)((due - now) / 1000000000ull), (long)((due - now) % 1000000000ull)};
      nanosleep(&ts, NULL);
    }
  }
  rounds = done;
  return NULL;
}

static long parse_count(const char *s, const char *what) {
  char *end = NULL;
  long v = strtol(s ? s : "", &end, 10);
  if (!s || *end || v <= 0) {
    fprintf(stderr, "sw-workload: %s must be a positive number, got '%s'\n", what, s ? s : "");
    exit(2);
  }
  return v;
}

// ---- io_uring by raw syscalls (no liburing) ----

struct ring {
  int fd;
  unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
};

static void die(const char *what) {
  fprintf(stderr, "sw-workload: %s: %s\n", what, strerror(errno));
  exit(4);
}

static void ring_open(struct ring *r, int sqpoll) {
  struct io_uring_params p;
  memset(&p, 0, sizeof(p));
  if (sqpoll) {
    p.flags = IORING_SETUP_SQPOLL;
    p.sq_thread_idle = 1000;
  }
  r->fd = (int)syscall(__NR_io_uring_setup, 8, &p);
  if (r->fd < 0) die("io_uring_setup");
  size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  char *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
  r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED) die("mmap io_uring");
  r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  r->sq_array = (unsigned *)(sq + p.sq_off.array);
  r->cq_head = (unsigned *)(cq + p.cq_off.head);
  r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
}

// Submit one operation and wait for its completion: its result.
static int ring_run(struct ring *r, const struct io_uring_sqe *op, int sqpoll) {
  unsigned tail = *r->sq_tail;
  unsigned i = tail & *r->sq_mask;
  r->sqes[i] = *op;
  r->sq_array[i] = i;
  __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
  // With SQPOLL the ring's own thread submits: the call only wakes it and waits.
  unsigned flags = IORING_ENTER_GETEVENTS | (sqpoll ? IORING_ENTER_SQ_WAKEUP : 0);
  unsigned pending = sqpoll ? 0 : 1;
  for (int tries = 0; tries < 1000; tries++) {
    unsigned head = *r->cq_head;
    if (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
      int res = r->cqes[head & *r->cq_mask].res;
      __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
      return res;
    }
    long got = syscall(__NR_io_uring_enter, r->fd, pending, 1, flags, NULL, 0);
    if (got < 0 && errno != EINTR) die("io_uring_enter");
    if (got >= 0) pending = 0;
  }
  errno = ETIMEDOUT;
  die("io_uring completion");
  return -1;
}

static int run_uring(const char *file, long n, int sqpoll) {
  struct ring r;
  char buf[256];
  ring_open(&r, sqpoll);
  for (long k = 0; k < n; k++) {
    struct io_uring_sqe op;
    memset(&op, 0, sizeof(op));
    op.opcode = IORING_OP_OPENAT;
    op.fd = AT_FDCWD;
    op.addr = (unsigned long)file;
    op.open_flags = O_RDONLY;
    int fd = ring_run(&r, &op, sqpoll);
    if (fd < 0) {
      errno = -fd;
      die("IORING_OP_OPENAT");
    }
    memset(&op, 0, sizeof(op));
    op.opcode = IORING_OP_READ;
    op.fd = fd;
    op.addr = (unsigned long)buf;
    op.len = sizeof(buf);
    if (ring_run(&r, &op, sqpoll) < 0) die("IORING_OP_READ");
    memset(&op, 0, sizeof(op));
    op.opcode = IORING_OP_CLOSE;
    op.fd = fd;
    if (ring_run(&r, &op, sqpoll) < 0) die("IORING_OP_CLOSE");
  }
  close(r.fd);
  return 0;
}

static void join_cgroup(const char *dir) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, "0", 1) != 1) {
    fprintf(stderr, "sw-workload: cannot join cgroup %s: %s\n", dir, strerror(errno));
    exit(3);
  }
  close(fd);
}

static unsigned long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

int main(int argc, char **argv) {
  int a = 1;
  while (a + 1 < argc && strcmp(argv[a], "--cgroup") == 0) {
    join_cgroup(argv[a + 1]);
    a += 2;
  }
  if (a >= argc) {
    fprintf(stderr, "usage: sw-workload [--cgroup DIR] getppid|pattern|forever|mix ARGS...\n");
    return 2;
  }
  const char *mode = argv[a];
  void *(*fn)(void *) = NULL;
  if (strcmp(mode, "exec") == 0) {
    if (a + 1 >= argc) {
      fprintf(stderr, "sw-workload: exec needs a command\n");
      return 2;
    }
    execvp(argv[a + 1], &argv[a + 1]);
    fprintf(stderr, "sw-workload: cannot exec %s: %s\n", argv[a + 1], strerror(errno));
    return 127;
  }
  if (strcmp(mode, "uring") == 0) {
    if (a + 2 >= argc) {
      fprintf(stderr, "sw-workload: uring needs FILE N [sqpoll]\n");
      return 2;
    }
    long n = parse_count(argv[a + 2], "N");
    int sqpoll = a + 3 < argc && strcmp(argv[a + 3], "sqpoll") == 0;
    unsigned long long t0 = now_ns();
    run_uring(argv[a + 1], n, sqpoll);
    printf("elapsed_ns %llu\n", now_ns() - t0);
    return 0;
  }
  if (strcmp(mode, "forever") == 0) {
    long usec = parse_count(argv[a + 1], "USEC");
    for (;;) {
      syscall(SYS_getppid);
      usleep((useconds_t)usec);
    }
  } else if (strcmp(mode, "getppid") == 0) {
    fn = run_getppid;
  } else if (strcmp(mode, "pattern") == 0) {
    fn = run_pattern;
  } else if (strcmp(mode, "hop") == 0) {
    fn = run_hop;
  } else if (strcmp(mode, "mix") == 0) {
    fn = run_mix;
  } else if (strcmp(mode, "rate") == 0) {
    long rate = parse_count(argv[a + 1], "R");
    long secs_ms = (long)(atof(argv[a + 2] ? argv[a + 2] : "0") * 1000);
    if (secs_ms <= 0) {
      fprintf(stderr, "sw-workload: SECONDS must be positive\n");
      return 2;
    }
    long threads = argc > a + 3 ? parse_count(argv[a + 3], "THREADS") : 1;
    rate_seconds = (double)secs_ms / 1000.0;
    rate_per_thread = rate / threads > 0 ? rate / threads : 1;
    unsigned long long t0 = now_ns();
    if (threads == 1) {
      run_rate(NULL);  // on the main thread, as the other modes: its tid is the pid
    } else {
      pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
      for (long t = 0; t < threads; t++) pthread_create(&tids[t], NULL, run_rate, NULL);
      for (long t = 0; t < threads; t++) pthread_join(tids[t], NULL);
      free(tids);
    }
    printf("elapsed_ns %llu\n", now_ns() - t0);
    return 0;
  } else {
    fprintf(stderr, "sw-workload: unknown mode '%s'\n", mode);
    return 2;
  }
  rounds = parse_count(argv[a + 1], "N");
  long threads = argc > a + 2 ? parse_count(argv[a + 2], "THREADS") : 1;
  unsigned long long t0 = now_ns();
  if (threads == 1) {
    fn(NULL);
  } else {
    pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
    for (long t = 0; t < threads; t++) pthread_create(&tids[t], NULL, fn, NULL);
    for (long t = 0; t < threads; t++) pthread_join(tids[t], NULL);
    free(tids);
  }
  printf("elapsed_ns %llu\n", now_ns() - t0);
  return 0;
}
