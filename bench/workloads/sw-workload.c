// Workloads with a known syscall footprint, for syswarden's tests, demo and
// benchmarks. Usage:
//   sw-workload [--cgroup DIR] MODE ARGS...
//     getppid N [THREADS]   N getppid() calls per thread (the benchmark loop)
//     pattern N [THREADS]   N rounds of getppid, getpgid(0), getsid(0) per thread
//     forever USEC          getppid then usleep(USEC), until killed
//     mix N                 N rounds of open/read/close/stat on /etc/hostname
//     rate R SECONDS [THREADS]  about R getppid() calls per second in all, for SECONDS,
//                           with one getsid(0) every 10000 calls (a rare window for
//                           latency measurements)
//     exec CMD ARGS...      replace itself with CMD (to start any program in the cgroup)
// With --cgroup the process first moves itself into that cgroup v2 directory,
// so not one of the counted calls happens outside it. On exit it prints the
// loop's wall time as `elapsed_ns <n>`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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
  if (a + 1 < argc && strcmp(argv[a], "--cgroup") == 0) {
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
    pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
    for (long t = 0; t < threads; t++) pthread_create(&tids[t], NULL, run_rate, NULL);
    for (long t = 0; t < threads; t++) pthread_join(tids[t], NULL);
    free(tids);
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
