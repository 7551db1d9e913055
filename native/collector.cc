#include "collector.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>

#include "event.h"
#include "route_ring.h"
#include "syscalls.skel.h"
#include "wake.h"

static_assert(SW_MAX_TARGETS == 1 << SW_SLOT_BITS, "a slot is the low SW_SLOT_BITS of a target id");
static_assert(SW_MAX_TARGETS - 1 == SW_SLOT_MASK, "SW_SLOT_MASK covers every slot");
static_assert(((SW_GEN_MASK << SW_SLOT_BITS) | SW_SLOT_MASK) < SW_SHED_BIT, "target ids leave the shed bit clear");

namespace {

// libbpf prints through one process-wide callback, which the embedding
// program may have set for itself. Ours is installed only while a collector
// loads (under load_print_mu, so loads in several threads take turns) and
// the previous one is put back after; meanwhile messages from other threads
// still go to the previous callback. The loading thread's messages are kept
// so a failure can carry the verifier's or kernel's own words.
std::mutex load_print_mu;
std::atomic<libbpf_print_fn_t> previous_print{nullptr};
thread_local std::string* libbpf_log = nullptr;

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (libbpf_log == nullptr) {
    libbpf_print_fn_t prev = previous_print.load(std::memory_order_acquire);
    return prev ? prev(level, fmt, args) : 0;
  }
  if (level == LIBBPF_DEBUG) return 0;
  // libbpf hands over the whole verifier log in one message, and the
  // verifier's reason for refusing is at its end: format all of it, then
  // keep the last 16 KiB.
  va_list measure;
  va_copy(measure, args);
  int n = vsnprintf(nullptr, 0, fmt, measure);
  va_end(measure);
  if (n <= 0) return n;
  std::string text(size_t(n) + 1, '\0');
  vsnprintf(text.data(), text.size(), fmt, args);
  text.resize(size_t(n));
  libbpf_log->append(text);
  constexpr size_t kKeep = 16384;
  if (libbpf_log->size() > kKeep) libbpf_log->erase(0, libbpf_log->size() - kKeep);
  return n;
}

// Scope of our print callback: one load, on the thread that loads.
class LogCapture {
 public:
  std::string text;
  LogCapture() : lock_(load_print_mu) {
    libbpf_log = &text;
    previous_print.store(libbpf_set_print(LibbpfPrint), std::memory_order_release);
  }
  ~LogCapture() {
    libbpf_set_print(previous_print.load(std::memory_order_acquire));
    previous_print.store(nullptr, std::memory_order_release);
    libbpf_log = nullptr;
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
};

// A thread that no signal can interrupt: it starts with every signal
// blocked, so process-directed signals go to the program's own threads.
template <typename F>
std::thread ThreadWithoutSignals(F&& fn) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread t(std::forward<F>(fn));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return t;
}

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

const char* ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case E2BIG: return "E2BIG";
    case ENOSPC: return "ENOSPC";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ESRCH: return "ESRCH";
    default: return "EIO";
  }
}

// A native error keeps the errno name in `code` and libbpf's words in
// `detail`; the TypeScript layer turns it into a message that names the fix.
Napi::Error BpfError(Napi::Env env, const char* what, int err, const std::string& log) {
  if (err < 0) err = -err;
  std::string msg = std::string(what) + ": " + strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("stage", Napi::String::New(env, what));
  e.Set("detail", Napi::String::New(env, log));
  return e;
}

// An optional whole-number option in [lo, hi] (the TypeScript layer has
// already checked it and named the fix; this only guards the types).
template <typename T>
T OptInt(const Napi::Object& o, const char* key, T def, T lo, T hi) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || d != T(d))
    throw Napi::RangeError::New(o.Env(), std::string(key) + " out of range");
  return T(d);
}

// Row of the per-slot counters for a record's target id: its slot, or the
// last row for everything that is not a target id (all-processes mode).
inline uint32_t RowOf(uint16_t target) {
  return target < SW_TARGET_ID_LIMIT ? uint32_t(target & SW_SLOT_MASK) : uint32_t(SW_MAX_TARGETS);
}

uint64_t ArgCgroupId(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsBigInt())
    throw Napi::TypeError::New(info.Env(), "cgroup id must be a bigint");
  bool lossless = false;
  uint64_t id = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless || id == 0) throw Napi::RangeError::New(info.Env(), "cgroup id out of range");
  return id;
}

}  // namespace

Napi::Function Collector::Init(Napi::Env env) {
  return DefineClass(env, "NativeCollector",
                     {
                         InstanceMethod("attachMode", &Collector::AttachMode),
                         InstanceMethod("setTarget", &Collector::SetTarget),
                         InstanceMethod("deleteTarget", &Collector::DeleteTarget),
                         InstanceMethod("setTargetLevels", &Collector::SetTargetLevels),
                         InstanceMethod("followProcesses", &Collector::FollowProcesses),
                         InstanceMethod("adoptUnder", &Collector::AdoptUnder),
                         InstanceMethod("reserveAdoptIds", &Collector::ReserveAdoptIds),
                         InstanceMethod("unfollowTarget", &Collector::UnfollowTarget),
                         InstanceMethod("stats", &Collector::Stats),
                         InstanceMethod("pause", &Collector::Pause),
                         InstanceMethod("setScoringBehind", &Collector::SetScoringBehind),
                         InstanceMethod("resume", &Collector::Resume),
                         InstanceMethod("close", &Collector::Close),
                         InstanceMethod("programId", &Collector::ProgramId),
                         InstanceMethod("route", &Collector::Route),
                         InstanceMethod("unroute", &Collector::Unroute),
                         InstanceMethod("routeTee", &Collector::RouteTee),
                         InstanceMethod("routeModel", &Collector::RouteModel),
                         InstanceMethod("queuedBatches", &Collector::QueuedBatches),
                         InstanceMethod("routedCounts", &Collector::RoutedCounts),
                     });
}

// new NativeCollector(options, onBatch(arrayBuffer, drainedNs, eventCount))
Collector::Collector(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Collector>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction())
    throw Napi::TypeError::New(env, "NativeCollector(options, onBatch)");
  Napi::Object opts = info[0].As<Napi::Object>();
  poll_ms_ = OptInt<uint32_t>(opts, "pollMs", 2, 1, 1000);
  deliver_ns_ = uint64_t(OptInt<uint32_t>(opts, "deliverMs", 10, 0, 1000)) * 1000000u;
  max_batch_events_ = OptInt<uint32_t>(opts, "maxBatchEvents", 65536, 1, 1u << 24);
  max_queued_batches_ = OptInt<uint32_t>(opts, "maxQueuedBatches", 64, 1, 1u << 16);
  // Absent: the consumer thread keeps the priority it inherits.
  if (!opts.Get("consumerNice").IsUndefined()) {
    consumer_nice_ = OptInt<int32_t>(opts, "consumerNice", 0, -20, 19);
    set_consumer_nice_ = true;
  }
  if (opts.Has("fairShare")) fair_share_ = opts.Get("fairShare").ToBoolean();

  Load(env, opts);

  // The TSFN owns a reference to the shared counters: batches still queued
  // when this object is collected decrement them safely.
  tsfn_ = Tsfn::New(env, info[1].As<Napi::Function>(), "syswarden-ring", 0, 1, new SharedRef(shared_),
                    [](Napi::Env, void*, SharedRef* ctx) { delete ctx; });
  closed_ = false;
  env_ = env;
  napi_add_env_cleanup_hook(env_, CleanupHook, this);
  current_.reset(new Batch());
  current_->bytes.reserve(InitialBatchBytes());
  sink_ = !cpus_per_ring_ ? current_.get() : &staged_;
  consumer_ = ThreadWithoutSignals([this] { ConsumeLoop(); });
}

Collector::~Collector() { Shutdown(false); }

// The environment is going away (process exit, worker termination) with the
// collector still open: detach now rather than leave it to the kernel.
void Collector::CleanupHook(void* arg) {
  Collector* self = static_cast<Collector*>(arg);
  self->hook_registered_ = false;
  self->Shutdown(false);
}

void Collector::Load(Napi::Env env, const Napi::Object& opts) {
  uint32_t ring_bytes = OptInt<uint32_t>(opts, "ringBytes", 1u << 22, 4096, 1u << 30);
  if (ring_bytes & (ring_bytes - 1))
    throw Napi::RangeError::New(env, "ringBytes must be a power of two");
  ring_bytes_ = ring_bytes;
  cpus_per_ring_ = OptInt<uint32_t>(opts, "cpusPerRing", 0, 0, 1u << 16);
  bool match_all = opts.Get("matchAll").ToBoolean();
  uint32_t self_tgid = OptInt<uint32_t>(opts, "selfTgid", uint32_t(getpid()), 0, 0xffffffffu);
  std::string attach = "auto";
  if (opts.Get("attach").IsString()) attach = opts.Get("attach").As<Napi::String>().Utf8Value();
  if (attach != "auto" && attach != "tp_btf" && attach != "tracepoint")
    throw Napi::RangeError::New(env, "attach must be 'auto', 'tp_btf' or 'tracepoint'");

  // The verifier gives up with EAGAIN when a signal is pending for the
  // loading thread, and libbpf retries only a few times: a program that
  // embeds syswarden and runs a profiler (SIGPROF every millisecond) or an
  // interval timer could not load it. Load on a thread no signal reaches.
  auto unload = [&] {
    if (link_) bpf_link__destroy(link_);
    link_ = nullptr;
    for (bpf_link* l : proc_links_) bpf_link__destroy(l);
    proc_links_.clear();
    if (skel_) syscalls_bpf__destroy(skel_);
    skel_ = nullptr;
    for (int fd : ring_fds_) close(fd);
    ring_fds_.clear();
  };
  ncpu_ = libbpf_num_possible_cpus();
  if (ncpu_ <= 0) throw BpfError(env, "count the possible CPUs", ncpu_ < 0 ? ncpu_ : -EINVAL, "");
  std::string stage, first_stage;
  std::string log_text;
  int err = -EINVAL, first_err = 0;
  int ring_err = 0;
  ThreadWithoutSignals([&] {
    // RLIMIT_MEMLOCK is left alone: kernels before 5.11 charge BPF memory to
    // it, and libbpf (>= 1.0, required by CMakeLists.txt) raises it itself
    // on exactly those kernels; on later ones the process keeps its limits.
    LogCapture log;

    auto try_load = [&](bool btf, std::string& stage) -> int {
      skel_ = syscalls_bpf__open();
      if (!skel_) { stage = "open BPF object"; return -errno; }
      skel_->rodata->match_all = match_all ? 1 : 0;
      skel_->rodata->self_tgid = self_tgid;
      skel_->rodata->cpus_per_ring = cpus_per_ring_;
      // The ring not in use keeps the smallest size the kernel takes.
      const uint32_t page = uint32_t(sysconf(_SC_PAGESIZE));
      const uint32_t groups = cpus_per_ring_ ? (uint32_t(ncpu_) + cpus_per_ring_ - 1) / cpus_per_ring_ : 1;
      bpf_map__set_max_entries(skel_->maps.events, cpus_per_ring_ ? page : ring_bytes);
      bpf_map__set_max_entries(skel_->maps.rings, groups);
      ring_count_ = groups;
      // The rings' template: the first group's ring (a page-sized stand-in
      // with one shared ring, closed after the load). libbpf cannot resize
      // the template declared in the object, so it is given one.
      int tmpl = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "sw_ring", 0, 0, cpus_per_ring_ ? ring_bytes : page, nullptr);
      if (tmpl < 0) { stage = "create a ring for CPU groups"; return -errno; }
      if (cpus_per_ring_) ring_fds_.push_back(tmpl);
      int set = bpf_map__set_inner_map_fd(skel_->maps.rings, tmpl);
      if (set != 0) {
        if (!cpus_per_ring_) close(tmpl);
        stage = "set the rings' template";
        return set;
      }
      // One block of counter rows, and of changed-row bits, per possible CPU.
      bpf_map__set_max_entries(skel_->maps.counters, uint32_t(ncpu_) * SW_COUNT_ROWS);
      bpf_map__set_max_entries(skel_->maps.counters_dirty, uint32_t(ncpu_) * SW_DIRTY_STRIDE);
      bpf_program__set_autoload(skel_->progs.sys_enter_btf, btf);
      bpf_program__set_autoload(skel_->progs.sys_enter_tp, !btf);
      // Process events come from BTF tracepoints: with the tracepoint fallback there are none (stats say so).
      bpf_program__set_autoload(skel_->progs.proc_exec, btf);
      bpf_program__set_autoload(skel_->progs.proc_fork, btf);
      bpf_program__set_autoload(skel_->progs.proc_exit, btf);
      bpf_program__set_autoload(skel_->progs.cgroup_attach, btf);
      bpf_program__set_autoload(skel_->progs.cgroup_mkdir, btf);
      // io_uring may be compiled out: without its tracepoint, rings go unseen (stats say so).
      uring_available_ = btf && libbpf_find_vmlinux_btf_id("io_uring_submit_req", BPF_TRACE_RAW_TP) > 0;
      bpf_program__set_autoload(skel_->progs.uring_submit, uring_available_);
      // The task iterator is run on its own (TaskIds), never by a collector.
      bpf_program__set_autoload(skel_->progs.task_ids, false);
      int err = syscalls_bpf__load(skel_);
      if (!cpus_per_ring_) close(tmpl);
      if (err) { stage = "load BPF program"; return err; }
      // Every group's ring is in place before anything is attached.
      for (uint32_t g = 0; cpus_per_ring_ && g < groups; g++) {
        if (g > 0) {
          int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "sw_ring", 0, 0, ring_bytes, nullptr);
          if (fd < 0) { stage = "create the ring of CPU group " + std::to_string(g); return -errno; }
          ring_fds_.push_back(fd);
        }
        const int fd = ring_fds_[g];
        if (bpf_map_update_elem(bpf_map__fd(skel_->maps.rings), &g, &fd, BPF_ANY) != 0) {
          stage = "install the ring of CPU group " + std::to_string(g);
          return -errno;
        }
      }
      link_ = bpf_program__attach(btf ? skel_->progs.sys_enter_btf : skel_->progs.sys_enter_tp);
      if (!link_) { stage = btf ? "attach tp_btf/sys_enter" : "attach tracepoint raw_syscalls/sys_enter"; return -errno; }
      if (btf) {
        const std::pair<bpf_program*, const char*> procs[] = {
            {skel_->progs.proc_exec, "attach tp_btf/sched_process_exec"},
            {skel_->progs.proc_fork, "attach tp_btf/sched_process_fork"},
            {skel_->progs.proc_exit, "attach tp_btf/sched_process_exit"},
            {skel_->progs.cgroup_attach, "attach tp_btf/cgroup_attach_task"},
            {skel_->progs.cgroup_mkdir, "attach tp_btf/cgroup_mkdir"},
            {uring_available_ ? skel_->progs.uring_submit : nullptr, "attach tp_btf/io_uring_submit_req"},
        };
        for (const auto& [prog, what] : procs) {
          if (!prog) continue;
          bpf_link* l = bpf_program__attach(prog);
          if (!l) { stage = what; return -errno; }
          proc_links_.push_back(l);
        }
      }
      return 0;
    };
    if (attach != "tracepoint") {
      err = try_load(true, stage);
      if (err == 0) attach_mode_ = "tp_btf";
      else unload();
    }
    // Permission problems are the same for both attach kinds: only fall back
    // when tp_btf itself is what the kernel lacks.
    if (err != 0 && attach == "auto" && err != -EPERM && err != -EACCES) {
      first_stage = stage;
      first_err = err;
      err = try_load(false, stage);
      if (err == 0) attach_mode_ = "tracepoint";
      else unload();
    } else if (err != 0 && attach == "tracepoint") {
      err = try_load(false, stage);
      if (err == 0) attach_mode_ = "tracepoint";
      else unload();
    }
    if (err == 0) {
      ring_ = ring_buffer__new(ring_fds_.empty() ? bpf_map__fd(skel_->maps.events) : ring_fds_[0], OnRecord, this, nullptr);
      for (size_t g = 1; ring_ && g < ring_fds_.size(); g++) {
        if (ring_buffer__add(ring_, ring_fds_[g], OnRecord, this) != 0) {
          ring_err = errno;
          ring_buffer__free(ring_);
          ring_ = nullptr;
        }
      }
      if (!ring_) {
        if (!ring_err) ring_err = errno;
        unload();
      }
    }
    log_text = log.text;
  }).join();
  if (err != 0) {
    Napi::Error e = BpfError(env, stage.c_str(), err, log_text);
    // Both attach kinds failed: the tp_btf failure is often the one that
    // explains it, so the error carries it too.
    if (first_err != 0) {
      e.Set("firstStage", Napi::String::New(env, first_stage));
      e.Set("firstMessage", Napi::String::New(env, first_stage + ": " + strerror(-first_err)));
    }
    throw e;
  }

  if (ring_err != 0) throw BpfError(env, "create ring buffer consumer", ring_err, log_text);
  MapCounters();
  if (!counts_map_ || !dirty_map_) {
    int e = errno;
    UnmapCounters();
    ring_buffer__free(ring_);
    ring_ = nullptr;
    unload();
    throw BpfError(env, "map the counters into memory", e ? e : EINVAL, "");
  }
}

void Collector::MapCounters() {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  auto round_up = [page](size_t n) { return (n + page - 1) / page * page; };
  counts_map_bytes_ = round_up(sizeof(sw_counts_user) * size_t(ncpu_) * SW_COUNT_ROWS);
  dirty_map_bytes_ = round_up(sizeof(uint64_t) * size_t(ncpu_) * SW_DIRTY_STRIDE);
  void* c = mmap(nullptr, counts_map_bytes_, PROT_READ, MAP_SHARED, bpf_map__fd(skel_->maps.counters), 0);
  counts_map_ = c == MAP_FAILED ? nullptr : static_cast<sw_counts_user*>(c);
  void* d = mmap(nullptr, dirty_map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(skel_->maps.counters_dirty), 0);
  dirty_map_ = d == MAP_FAILED ? nullptr : static_cast<uint64_t*>(d);
}

void Collector::UnmapCounters() {
  if (counts_map_) munmap(counts_map_, counts_map_bytes_);
  if (dirty_map_) munmap(dirty_map_, dirty_map_bytes_);
  counts_map_ = nullptr;
  dirty_map_ = nullptr;
}

sw_counts_user Collector::SumRow(uint32_t row) const {
  sw_counts_user sum{};
  for (int c = 0; c < ncpu_; c++) {
    const sw_counts_user& r = counts_map_[size_t(c) * SW_COUNT_ROWS + row];
    for (int k = 0; k < SW_CNT__MAX; k++) sum.n[k] += __atomic_load_n(&r.n[k], __ATOMIC_RELAXED);
  }
  return sum;
}

int Collector::OnRecord(void* ctx, void* data, size_t size) {
  Collector* self = static_cast<Collector*>(ctx);
  if (size == sizeof(sw_proc_event)) {
    // A process event: kept beside the syscall records, placed among them by `at`.
    self->proc_taken_++;
    std::vector<uint8_t>& proc = self->sink_->proc;
    size_t at = proc.size();
    proc.resize(at + sizeof(sw_proc_event));
    memcpy(proc.data() + at, data, sizeof(sw_proc_event));
    if (self->sink_ != self->current_.get()) return 0;  // placed when merged
    uint32_t next = uint32_t(self->current_->bytes.size() / sizeof(sw_event));
    memcpy(proc.data() + at + offsetof(sw_proc_event, at), &next, sizeof(next));
    if (proc.size() >= kMaxProcPerBatch * sizeof(sw_proc_event)) self->Flush(false);
    return 0;
  }
  if (size != sizeof(sw_event)) {
    self->shared_->malformed_records.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  uint32_t row = RowOf(static_cast<const sw_event*>(data)->slot);
  self->consumed_by_row_[row]++;
  if (row < SW_MAX_TARGETS && self->drain_counts_[row]++ == 0) self->drain_slots_.push_back(uint16_t(row));
  self->drain_records_++;
  std::vector<uint8_t>& bytes = self->sink_->bytes;
  size_t at = bytes.size();
  bytes.resize(at + sizeof(sw_event));
  memcpy(bytes.data() + at, data, sizeof(sw_event));
  if (self->sink_ == self->current_.get() && bytes.size() >= size_t(self->max_batch_events_) * sizeof(sw_event)) self->Flush(false);
  return 0;
}

void Collector::ConsumeRings(bool all) {
  if (!cpus_per_ring_) {
    ring_buffer__consume(ring_);
    return;
  }
  // Taken before the rings are read: whatever a thread wrote before this
  // instant was submitted before it, so is read now (see MergeStaged).
  const uint64_t cut = all ? ~0ull : MonotonicNs();
  ring_buffer__consume(ring_);
  MergeStaged(cut);
}

// Rings per group of CPUs: a thread that moves to another CPU writes its
// next records to another ring, and the rings are read one after another,
// so what was read is put in timestamp order (a thread's own timestamps
// rise call after call). A record stamped after the drain began (`cut`)
// may have an earlier record of its thread, in a ring read before it, still
// unread: records from `cut` on wait in staged_ for the next drain, which
// reads that one too. Process events are placed among the records by time.
void Collector::MergeStaged(uint64_t cut) {
  const size_t n = staged_.bytes.size() / sizeof(sw_event);
  const size_t np = staged_.proc.size() / sizeof(sw_proc_event);
  if (n == 0 && np == 0) return;
  sw_event* recs = reinterpret_cast<sw_event*>(staged_.bytes.data());
  sw_proc_event* procs = reinterpret_cast<sw_proc_event*>(staged_.proc.data());
  auto by_ts = [](const sw_event& a, const sw_event& b) { return a.ts_ns < b.ts_ns; };
  // Each ring's part is nearly in order already; stable, so equal stamps keep ring order.
  if (!std::is_sorted(recs, recs + n, by_ts)) std::stable_sort(recs, recs + n, by_ts);
  if (np > 1) std::stable_sort(procs, procs + np, [](const sw_proc_event& a, const sw_proc_event& b) { return a.head.ts_ns < b.head.ts_ns; });
  const size_t max_bytes = size_t(max_batch_events_) * sizeof(sw_event);
  size_t i = 0, k = 0;
  for (;;) {
    const bool rec_due = i < n && recs[i].ts_ns < cut;
    const bool proc_due = k < np && procs[k].head.ts_ns < cut;
    if (!rec_due && !proc_due) break;
    if (proc_due && (!rec_due || procs[k].head.ts_ns <= recs[i].ts_ns)) {
      sw_proc_event e = procs[k++];
      e.at = uint32_t(current_->bytes.size() / sizeof(sw_event));
      const uint8_t* p = reinterpret_cast<const uint8_t*>(&e);
      current_->proc.insert(current_->proc.end(), p, p + sizeof(e));
      if (current_->proc.size() >= kMaxProcPerBatch * sizeof(sw_proc_event)) Flush(false);
      continue;
    }
    // A run of records up to the next process event, the cut, or a full batch.
    const uint64_t until = k < np ? std::min<uint64_t>(cut, procs[k].head.ts_ns) : cut;
    size_t j = i + 1;
    const size_t room = (max_bytes - std::min(max_bytes, current_->bytes.size())) / sizeof(sw_event);
    while (j < n && j - i < room && recs[j].ts_ns < until) j++;
    const uint8_t* p = reinterpret_cast<const uint8_t*>(recs + i);
    current_->bytes.insert(current_->bytes.end(), p, p + (j - i) * sizeof(sw_event));
    i = j;
    if (current_->bytes.size() >= max_bytes) Flush(false);
  }
  staged_.bytes.erase(staged_.bytes.begin(), staged_.bytes.begin() + i * sizeof(sw_event));
  staged_.proc.erase(staged_.proc.begin(), staged_.proc.begin() + k * sizeof(sw_proc_event));
}

// Most drains are small: start a batch at up to 4096 records and let a busy
// drain grow it, instead of allocating the largest batch (1 MiB by default)
// every 2 ms on one thread and freeing it on another, which fragments the heap.
size_t Collector::InitialBatchBytes() const {
  return size_t(std::min<uint32_t>(max_batch_events_, 4096)) * sizeof(sw_event);
}

void Collector::Flush(bool coalesce) {
  // Records waiting for a worker's ring go in at every drain, new records or not.
  const bool waiting = route_waiting_.load(std::memory_order_relaxed) > 0;
  if (current_->bytes.empty() && current_->proc.empty() && !waiting) {
    gathering_since_ns_ = 0;
    return;
  }
  Shared& s = *shared_;
  // JavaScript is behind (batches are already waiting for it): grow this
  // batch instead of queueing another. What it costs JavaScript is mostly
  // per batch, so fewer, larger batches let a busy or starved main thread
  // catch up, and the queue bound below is reached only after a long stall
  // (max_queued batches of up to max_batch_events each) rather than after a
  // few drains' worth of tiny batches.
  std::unique_lock<std::mutex> routing(route_mu_);
  if (routes_.empty()) routing.unlock();
  if (coalesce && !routing.owns_lock() && s.in_flight.load(std::memory_order_acquire) >= kCoalesceWhenQueued) return;
  // Under a light load, gather the drains of deliver_ns_ into one batch:
  // each batch wakes the JavaScript thread and every worker, which costs
  // more than the records of a few drains (see docs/scaling.md). A batch
  // that grew large goes at once.
  if (coalesce && deliver_ns_ > 0 && current_->bytes.size() < kDeliverNowBytes && !waiting) {
    const uint64_t now = MonotonicNs();
    if (gathering_since_ns_ == 0) gathering_since_ns_ = now;
    if (now - gathering_since_ns_ < deliver_ns_) return;
  }
  gathering_since_ns_ = 0;
  // Routed: the records go to the workers' rings, JavaScript gets the
  // process events alone. They are queued for JavaScript before the records
  // are published to the workers, so that an alert from those records finds
  // the batch that names its process already queued (Pipeline holds the
  // alert until it has taken that batch).
  if (routing.owns_lock()) {
    RouteRecords();
    if (!current_->proc.empty() || !current_->bytes.empty()) Deliver();
    RoutePublish();
    return;
  }
  Deliver();
}

// Queue the current batch for JavaScript, or count it as dropped.
void Collector::Deliver() {
  Shared& s = *shared_;
  // The bound: when JavaScript has not taken the last max_queued batches, this
  // one is dropped and counted. The kernel side never waits on us.
  if (s.in_flight.load(std::memory_order_acquire) >= max_queued_batches_) {
    CountDropped(*current_);
    current_->bytes.clear();
    current_->proc.clear();
    return;
  }
  current_->drained_ns = MonotonicNs();
  Batch* batch = current_.release();
  s.in_flight.fetch_add(1, std::memory_order_acq_rel);
  if (tsfn_.NonBlockingCall(batch) != napi_ok) {
    s.in_flight.fetch_sub(1, std::memory_order_acq_rel);
    CountDropped(*batch);
    delete batch;
  }
  current_.reset(new Batch());
  current_->bytes.reserve(InitialBatchBytes());
  if (!cpus_per_ring_) sink_ = current_.get();
}

// A batch JavaScript could not take: counted in total and per target slot,
// so the report can name the container whose events were lost.
void Collector::CountDropped(const Batch& batch) { CountDroppedIn(*shared_, batch); }

void Collector::CountDroppedIn(Shared& s, const Batch& batch) {
  s.proc_user_dropped.fetch_add(batch.proc.size() / sizeof(sw_proc_event), std::memory_order_relaxed);
  size_t events = batch.bytes.size() / sizeof(sw_event);
  // Batches count batches of syscall records: one of process events only is counted in proc_user_dropped alone.
  if (events > 0) s.user_dropped_batches.fetch_add(1, std::memory_order_relaxed);
  s.user_dropped_events.fetch_add(events, std::memory_order_relaxed);
  const sw_event* ev = reinterpret_cast<const sw_event*>(batch.bytes.data());
  LossRuns lost(s);
  for (size_t i = 0; i < events; i++) lost.Add(RowOf(ev[i].slot));
}

// Fair share of the ring. All containers share one ring; when one floods
// it, reservations fail for everyone. When reservations failed since the
// last drain, the slots that brought more than their share of that drain
// (shares counted over the containers making calls) are shed in the kernel:
// their events are counted as dropped without taking ring space, so the
// others find room. A shed slot comes back once it makes fewer calls than
// a quarter of the ring holds per polling period (whatever the time since
// the last drain), in each of kCalmDrains drains in a row: shedding lasts
// as long as the flood and those few drains (16 ms at the default period), so
// a burst cannot buy a quiet moment for an attack, and a flood paused by
// the scheduler is not let back in to crowd the others out again. A lone
// container is never shed: there is nobody to make room for.
//
// The same holds one stage later: when JavaScript falls behind (a quarter
// of the batch queue waits for it: a stalled or starved main thread), the
// queue would fill and whole batches, every container's events in them,
// would be dropped. The slots above their share of the drain are shed in
// the kernel instead, where dropping costs least, and stay shed until the
// queue is down to an eighth, so the others' events keep their place.
bool Collector::Rebalance() {
  uint64_t full = 0;
  uint32_t zero = 0;
  if (!ring_full_cpus_.empty() &&
      bpf_map__lookup_elem(skel_->maps.ring_full, &zero, sizeof(zero), ring_full_cpus_.data(),
                           ring_full_cpus_.size() * sizeof(uint64_t), 0) == 0) {
    for (uint64_t v : ring_full_cpus_) full += v;
  }
  const bool ring_pressure = full > ring_full_seen_;
  ring_full_seen_ = full;
  const uint32_t queued = shared_->in_flight.load(std::memory_order_acquire);
  const bool js_behind = queued >= std::max<uint32_t>(2, max_queued_batches_ / 4);
  const bool scoring_behind = scoring_behind_.load(std::memory_order_acquire) || route_behind_.load(std::memory_order_acquire);
  const bool js_catching_up = scoring_behind || queued >= std::max<uint32_t>(1, max_queued_batches_ / 8);
  const bool pressure = ring_pressure || js_behind || scoring_behind;
  const uint64_t ring_records = uint64_t(ring_bytes_) * RingCount() / (sizeof(sw_event) + 8);  // 8: ring record header

  // A drain late by most of a period is followed by one early: the calls of
  // a shed slot are judged against the time since the last look, so a short
  // interval (a starved consumer catching up) never lets a flood back in.
  const auto now = std::chrono::steady_clock::now();
  const uint64_t period_ns = uint64_t(poll_ms_) * 1000000u;
  uint64_t elapsed_ns = last_rebalance_.time_since_epoch().count() == 0
                            ? period_ns
                            : uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_rebalance_).count());
  last_rebalance_ = now;
  if (elapsed_ns == 0) elapsed_ns = 1;

  std::lock_guard<std::mutex> lock(shed_mu_);
  bool changed = false, shed_now = false;
  // Each slot's demand: what it asked for over the last drains (drained
  // records, or calls shed in the kernel), decaying by an eighth a drain, so
  // that a container calling in bursts is judged by its rate, not by the one
  // drain that caught a burst.
  for (uint16_t sl : demand_slots_) demand_[sl] = demand_[sl] < 8 ? 0 : demand_[sl] - (demand_[sl] >> 3);
  auto want = [this](uint16_t sl, uint64_t n) {
    if (n == 0) return;
    if (demand_[sl] == 0) demand_slots_.push_back(sl);
    demand_[sl] += n;
  };
  for (uint16_t sl : drain_slots_) want(sl, drain_counts_[sl]);
  for (auto it = shed_slots_.begin(); it != shed_slots_.end();) {
    uint64_t matched = SlotMatched(it->slot);
    uint64_t calls = matched - it->matched;
    it->matched = matched;
    want(it->slot, calls);
    // Back in when it has called at less than a quarter of the ring per
    // period for kCalmDrains drains in a row: a flood whose threads were
    // merely descheduled for a drain or two (a busy host) stays out instead
    // of flooding the ring again as soon as they run.
    const bool calm = calls * 4 * period_ns <= ring_records * elapsed_ns && !js_catching_up;
    it->calm = calm ? it->calm + 1 : 0;
    if (it->calm >= kCalmDrains) {
      SetShed(it->slot, false);
      it = shed_slots_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  uint64_t total = 0;
  for (size_t i = 0; i < demand_slots_.size();) {
    const uint16_t sl = demand_slots_[i];
    if (demand_[sl] == 0) {
      demand_slots_[i] = demand_slots_.back();
      demand_slots_.pop_back();
      continue;
    }
    total += demand_[sl];
    ++i;
  }
  // The ring is shared among the containers making calls: those with a
  // demand (calls in the last few dozen drains, so one calling in bursts
  // counts between its bursts), or that counted any call since the last look
  // (one crowded out by a full ring), not among all watched ones: a hundred
  // idle targets take no share.
  const size_t sharers = std::max(demand_slots_.size(), TakeActiveRows());
  if (fair_share_ && pressure && sharers >= 2) {
    // Over its share of what the containers asked for, and of this drain.
    // Demand alone: while a backlog keeps the pressure on after a flood is
    // shed, the drain holds only the light containers, each well under a
    // share of the flood's demand. The drain as well: in the drain where a
    // flood begins, its demand has not caught up with its rate yet, and a
    // steady light container could look the heavier of the two.
    const uint64_t fair = total / sharers;
    for (uint16_t sl : drain_slots_) {
      if (demand_[sl] <= fair || drain_counts_[sl] * sharers <= drain_records_) continue;
      if (std::any_of(shed_slots_.begin(), shed_slots_.end(), [sl](const ShedSlot& x) { return x.slot == sl; })) continue;
      SetShed(sl, true);
      shed_slots_.push_back({sl, SlotMatched(sl), 0});
      shared_->shed_episodes.fetch_add(1, std::memory_order_relaxed);
      changed = shed_now = true;
    }
  }
  for (uint16_t s : drain_slots_) drain_counts_[s] = 0;
  drain_slots_.clear();
  drain_records_ = 0;
  // Cached verdicts carry the shed bit: recompute them.
  if (changed) __atomic_add_fetch(&skel_->bss->filter_gen, 1, __ATOMIC_RELEASE);
  return shed_now;
}

// Calls of one slot that passed the filter so far, summed over CPUs.
uint64_t Collector::SlotMatched(uint16_t slot) {
  return counts_map_ ? SumRow(slot).n[SW_CNT_MATCHED] : 0;
}

// Caller holds shed_mu_.
void Collector::SetShed(uint16_t slot, bool on) {
  uint32_t key = slot;
  uint8_t value = on ? 1 : 0;
  // A failed update only means the slot is not shed (or stays shed until
  // the next change); nothing is lost silently either way.
  bpf_map__update_elem(skel_->maps.shed, &key, sizeof(key), &value, sizeof(value), BPF_ANY);
}

void Collector::ConsumeLoop() {
  // Named so that top -H, ps -L and tests can tell it from the process's own threads.
  pthread_setname_np(pthread_self(), "sw-ring");
  // A watched container may flood the CPUs with syscalls; the thread that
  // empties the ring must still get its turn, or the ring fills and events
  // drop. Raising it is the embedding program's decision (consumerNice);
  // without CAP_SYS_NICE a raise quietly leaves it as it was.
  if (set_consumer_nice_) setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), consumer_nice_);
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu > 0) {
    ring_full_cpus_.assign(size_t(ncpu), 0);
  }
  using clock = std::chrono::steady_clock;
  auto next = clock::now();
  const auto period = std::chrono::milliseconds(poll_ms_);
  while (!stop_.load(std::memory_order_acquire)) {
    next += period;
    if (!paused_.load(std::memory_order_acquire)) {
      ++drain_seq_;
      // A flood just shed filled the ring again while the drain was being
      // handed over: empty it again at once, not a period later, so the
      // others find room from this moment.
      auto drain = [this] {
        ConsumeRings(false);
        Flush(true);
      };
      drain();
      if (Rebalance()) drain();
      // A drain counts once what it took has been handed over (or counted lost).
      if (current_->bytes.empty() && current_->proc.empty()) shared_->drains.store(drain_seq_, std::memory_order_relaxed);
    }
    auto now = clock::now();
    if (next > now) std::this_thread::sleep_until(next);
    else next = now;  // behind schedule: drain again at once rather than burst later
  }
  // Final drain so close() loses nothing that was already in the ring,
  // paused or not (Settle() drains again for what was still being written).
  ConsumeRings(true);
  Flush(false);
}

void Collector::Deliver(Napi::Env env, Napi::Function js_cb, SharedRef* ctx, Batch* batch) {
  std::unique_ptr<Batch> owned(batch);
  Shared& s = **ctx;
  s.in_flight.fetch_sub(1, std::memory_order_acq_rel);
  // Environment tearing down: nobody to deliver to, but the loss is still counted.
  if (env == nullptr) {
    CountDroppedIn(s, *owned);
    return;
  }
  size_t n = owned->bytes.size();
  size_t events = n / sizeof(sw_event);
  // Counted as delivered before the call, so that stats() read by a listener includes this batch.
  const size_t procs = owned->proc.size() / sizeof(sw_proc_event);
  const uint64_t counted = events > 0 ? 1 : 0;  // as in CountDroppedIn
  s.batches_delivered.fetch_add(counted, std::memory_order_relaxed);
  s.events_delivered.fetch_add(events, std::memory_order_relaxed);
  s.proc_delivered.fetch_add(procs, std::memory_order_relaxed);
  try {
    // Copy into a V8-owned buffer: it can then be transferred to a worker,
    // which an external buffer over our memory could not.
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n);
    memcpy(ab.Data(), owned->bytes.data(), n);
    Napi::Value proc = env.Undefined();
    if (procs > 0) {
      Napi::ArrayBuffer pb = Napi::ArrayBuffer::New(env, owned->proc.size());
      memcpy(pb.Data(), owned->proc.data(), owned->proc.size());
      proc = pb;
    }
    js_cb.Call({ab, Napi::BigInt::New(env, owned->drained_ns), proc});
  } catch (const Napi::Error&) {
    s.proc_delivered.fetch_sub(procs, std::memory_order_relaxed);
    // The JavaScript callback catches what its listeners throw; this is the
    // backstop. The exception (cleared by catching it) is counted instead of
    // left pending for N-API to warn about, and the batch counts as dropped.
    s.batches_delivered.fetch_sub(counted, std::memory_order_relaxed);
    s.events_delivered.fetch_sub(events, std::memory_order_relaxed);
    s.callback_errors.fetch_add(1, std::memory_order_relaxed);
    CountDroppedIn(s, *owned);
  }
}

Napi::Value Collector::AttachMode(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), attach_mode_);
}

void Collector::EnsureOpen(Napi::Env env) {
  if (closed_) throw Napi::Error::New(env, "collector is closed");
}

Napi::Value Collector::SetTarget(const Napi::CallbackInfo& info) {
  EnsureOpen(info.Env());
  uint64_t id = ArgCgroupId(info, 0);
  if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(info.Env(), "target id must be a number");
  double target = info[1].As<Napi::Number>().DoubleValue();
  if (!(target >= 0 && target < SW_TARGET_ID_LIMIT) || target != uint16_t(target))
    throw Napi::RangeError::New(info.Env(), "target id out of range");
  uint16_t value = uint16_t(target);
  uint16_t slot = value & SW_SLOT_MASK;
  std::lock_guard<std::mutex> lock(shed_mu_);
  // A slot may be reused by a new target: it starts unshed.
  auto it = std::find_if(shed_slots_.begin(), shed_slots_.end(), [slot](const ShedSlot& x) { return x.slot == slot; });
  if (it != shed_slots_.end()) {
    SetShed(slot, false);
    shed_slots_.erase(it);
  }
  int err = bpf_map__update_elem(skel_->maps.targets, &id, sizeof(id), &value, sizeof(value), BPF_ANY);
  if (err) throw BpfError(info.Env(), "add target to the filter map", err, "");
  targets_[id] = value;
  return info.Env().Undefined();
}

Napi::Value Collector::DeleteTarget(const Napi::CallbackInfo& info) {
  EnsureOpen(info.Env());
  uint64_t id = ArgCgroupId(info, 0);
  int err = bpf_map__delete_elem(skel_->maps.targets, &id, sizeof(id), 0);
  if (err && err != -ENOENT) throw BpfError(info.Env(), "remove target from the filter map", err, "");
  {
    std::lock_guard<std::mutex> lock(shed_mu_);
    targets_.erase(id);
  }
  // A syscall between the level update and the delete may have cached a
  // verdict from the old entry under the new generation: invalidate again.
  __atomic_add_fetch(&skel_->bss->filter_gen, 1, __ATOMIC_RELEASE);
  return Napi::Boolean::New(info.Env(), err == 0);
}

// The level list lives in the program's .bss, which libbpf maps into our
// memory: plain stores are seen by the next syscall on any CPU. Entries go
// first, the count last; a syscall that races the update sees either list,
// and the map entries were written before either.
Napi::Value Collector::SetTargetLevels(const Napi::CallbackInfo& info) {
  EnsureOpen(info.Env());
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "levels mask must be a number");
  uint32_t mask = info[0].As<Napi::Number>().Uint32Value();
  uint32_t n = 0;
  for (uint32_t level = 0; level <= SW_MAX_CGROUP_LEVEL; level++) {
    if (!(mask & (1u << level))) continue;
    if (n == SW_MAX_LEVELS) throw Napi::RangeError::New(info.Env(), "targets sit at too many different cgroup depths");
    __atomic_store_n(&skel_->bss->level_list[n++], level, __ATOMIC_RELAXED);
  }
  __atomic_store_n(&skel_->bss->level_count, n, __ATOMIC_RELEASE);
  // Every change of targets ends here (map entries first): drop cached verdicts.
  __atomic_add_fetch(&skel_->bss->filter_gen, 1, __ATOMIC_RELEASE);
  return info.Env().Undefined();
}

static uint16_t ArgTargetId(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "target id must be a number");
  double target = info[i].As<Napi::Number>().DoubleValue();
  if (!(target >= 0 && target < SW_TARGET_ID_LIMIT) || target != uint16_t(target))
    throw Napi::RangeError::New(info.Env(), "target id out of range");
  return uint16_t(target);
}

// Adoption (auto-watch): the kernel makes each new child cgroup of these
// parents a target when it is created, with an id taken from the reserved
// queue, and says so with an SW_REC_ADOPT process event. Policy (which
// parents, which ids) is the TypeScript collector's.
Napi::Value Collector::AdoptUnder(const Napi::CallbackInfo& info) {
  EnsureOpen(info.Env());
  uint64_t id = ArgCgroupId(info, 0);
  if (info.Length() < 2 || !info[1].IsBoolean()) throw Napi::TypeError::New(info.Env(), "adopt must be a boolean");
  if (info[1].As<Napi::Boolean>().Value()) {
    uint8_t one = 1;
    int err = bpf_map__update_elem(skel_->maps.adopt_parents, &id, sizeof(id), &one, sizeof(one), BPF_ANY);
    if (err) throw BpfError(info.Env(), "add a parent to the adoption map", err, "");
    return Napi::Boolean::New(info.Env(), true);
  }
  int err = bpf_map__delete_elem(skel_->maps.adopt_parents, &id, sizeof(id), 0);
  if (err && err != -ENOENT) throw BpfError(info.Env(), "remove a parent from the adoption map", err, "");
  return Napi::Boolean::New(info.Env(), err == 0);
}

// Push target ids for the kernel to give adopted cgroups; returns how many
// the queue took (it holds SW_MAX_ADOPT_IDS). With no argument, empties the
// queue and returns the ids it held (none is given out after this returns).
Napi::Value Collector::ReserveAdoptIds(const Napi::CallbackInfo& info) {
  EnsureOpen(info.Env());
  const int fd = bpf_map__fd(skel_->maps.adopt_ids);
  if (info.Length() < 1 || info[0].IsUndefined()) {
    Napi::Array out = Napi::Array::New(info.Env());
    uint16_t v;
    for (uint32_t n = 0; n < SW_MAX_ADOPT_IDS && bpf_map_lookup_and_delete_elem(fd, nullptr, &v) == 0; n++) out.Set(n, Napi::Number::New(info.Env(), v));
    return out;
  }
  if (!info[0].IsArray()) throw Napi::TypeError::New(info.Env(), "ids must be an array");
  Napi::Array ids = info[0].As<Napi::Array>();
  uint32_t taken = 0;
  for (uint32_t i = 0; i < ids.Length(); i++) {
    Napi::Value v = ids.Get(i);
    if (!v.IsNumber()) throw Napi::TypeError::New(info.Env(), "target id must be a number");
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d < SW_TARGET_ID_LIMIT) || d != uint16_t(d)) throw Napi::RangeError::New(info.Env(), "target id out of range");
    uint16_t value = uint16_t(d);
    if (bpf_map_update_elem(fd, nullptr, &value, BPF_ANY) != 0) break;
    taken++;
  }
  return Napi::Number::New(info.Env(), taken);
}

// The processes already in a target's cgroups when it was added (the kernel
// follows the ones that start or join later): what lets a move out of the
// target be told from any other move. Returns how many the map took (a full
// map, or a process followed already, takes none).
Napi::Value Collector::FollowProcesses(const Napi::CallbackInfo& info) {
  EnsureOpen(info.Env());
  uint16_t value = ArgTargetId(info, 0);
  if (info.Length() < 2 || !info[1].IsArray()) throw Napi::TypeError::New(info.Env(), "pids must be an array");
  Napi::Array pids = info[1].As<Napi::Array>();
  uint32_t taken = 0;
  for (uint32_t i = 0; i < pids.Length(); i++) {
    Napi::Value v = pids.Get(i);
    if (!v.IsNumber()) continue;
    uint32_t pid = v.As<Napi::Number>().Uint32Value();
    if (pid == 0) continue;
    if (bpf_map__update_elem(skel_->maps.followed, &pid, sizeof(pid), &value, sizeof(value), BPF_NOEXIST) == 0) taken++;
  }
  return Napi::Number::New(info.Env(), taken);
}

// A removed target's processes are followed no more (its id may be given to
// another target). Returns how many were.
Napi::Value Collector::UnfollowTarget(const Napi::CallbackInfo& info) {
  EnsureOpen(info.Env());
  uint16_t target = ArgTargetId(info, 0);
  std::vector<uint32_t> gone;
  uint32_t escaped = 0;
  uint32_t key = 0, next = 0;
  uint32_t* prev = nullptr;
  while (bpf_map__get_next_key(skel_->maps.followed, prev, &next, sizeof(next)) == 0) {
    uint16_t value = 0;
    if (bpf_map__lookup_elem(skel_->maps.followed, &next, sizeof(next), &value, sizeof(value), 0) == 0 &&
        (value & ~SW_FOLLOW_ESCAPED) == target) {
      gone.push_back(next);
    }
    key = next;
    prev = &key;
  }
  for (uint32_t pid : gone) {
    uint16_t value = 0;
    if (bpf_map__lookup_elem(skel_->maps.followed, &pid, sizeof(pid), &value, sizeof(value), 0) != 0) continue;
    if (bpf_map__delete_elem(skel_->maps.followed, &pid, sizeof(pid), 0) == 0 && (value & SW_FOLLOW_ESCAPED)) escaped++;
  }
  if (escaped) __atomic_sub_fetch(&skel_->bss->escaped_count, escaped, __ATOMIC_RELEASE);
  return Napi::Number::New(info.Env(), double(gone.size()));
}

// Reads the rows the kernel marked changed since the last reading (on any
// CPU), summed over CPUs; keeps the result so stats() after close() still
// works. Each marked word is swapped for zero before its rows are read (the
// kernel sets a bit after counting): what was counted before the swap is
// read now, what is counted after it is marked again. The cost is the
// bitmap (SW_DIRTY_WORDS words per CPU) and the changed rows, not every row
// of every CPU.
void Collector::ReadKernelCounters() {
  if (counts_map_ && dirty_map_) {
    std::lock_guard<std::mutex> lock(dirty_mu_);
    TakeKernelDirty();
    for (uint32_t w = 0; w < SW_DIRTY_WORDS; w++) {
      for (uint64_t bits = rows_to_read_[w]; bits != 0; bits &= bits - 1) {
        const uint32_t row = w * 64 + uint32_t(__builtin_ctzll(bits));
        if (row >= SW_COUNT_ROWS) continue;
        const sw_counts_user sum = SumRow(row);
        uint64_t* kept = &kernel_counts_[size_t(row) * SW_CNT__MAX];
        for (int k = 0; k < SW_CNT__MAX; k++) {
          kernel_totals_[k] += sum.n[k] - kept[k];
          kept[k] = sum.n[k];
        }
      }
      stats_changed_[w] |= rows_to_read_[w];
      rows_to_read_[w] = 0;
    }
  }
  ReadProcCounters();
}

// Swaps the kernel's bitmap (every CPU) for zero, the summary words first
// and then the row words they name, and keeps the rows' bits for both
// readers. A CPU that counted nothing costs SW_DIRTY_SUMMARY loads.
void Collector::TakeKernelDirty() {
  if (!dirty_map_) return;
  for (int c = 0; c < ncpu_; c++) {
    uint64_t* summary = dirty_map_ + size_t(c) * SW_DIRTY_STRIDE;
    uint64_t* words = summary + SW_DIRTY_SUMMARY;
    for (uint32_t s = 0; s < SW_DIRTY_SUMMARY; s++) {
      if (__atomic_load_n(&summary[s], __ATOMIC_RELAXED) == 0) continue;
      for (uint64_t named = __atomic_exchange_n(&summary[s], 0, __ATOMIC_SEQ_CST); named != 0; named &= named - 1) {
        const uint32_t w = s * 64 + uint32_t(__builtin_ctzll(named));
        if (w >= SW_DIRTY_WORDS || __atomic_load_n(&words[w], __ATOMIC_RELAXED) == 0) continue;
        const uint64_t bits = __atomic_exchange_n(&words[w], 0, __ATOMIC_SEQ_CST);
        rows_to_read_[w] |= bits;
        rows_active_[w] |= bits;
      }
    }
  }
}

// Rows that counted a call (emitted, shed or lost to a full ring) since the
// last call, and forgets them.
size_t Collector::TakeActiveRows() {
  std::lock_guard<std::mutex> lock(dirty_mu_);
  TakeKernelDirty();
  size_t n = 0;
  for (uint32_t w = 0; w < SW_DIRTY_WORDS; w++) {
    n += size_t(__builtin_popcountll(rows_active_[w]));
    rows_active_[w] = 0;
  }
  return n;
}

void Collector::ReadProcCounters() {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return;
  std::vector<uint64_t> per_cpu(size_t(ncpu) * SW_PROC_CNT__MAX);
  uint32_t zero = 0;
  if (bpf_map__lookup_elem(skel_->maps.proc_counters, &zero, sizeof(zero), per_cpu.data(), per_cpu.size() * sizeof(uint64_t), 0) != 0) return;
  for (int k = 0; k < SW_PROC_CNT__MAX; k++) proc_kernel_[k] = 0;
  for (int c = 0; c < ncpu; c++)
    for (int k = 0; k < SW_PROC_CNT__MAX; k++) proc_kernel_[k] += per_cpu[size_t(c) * SW_PROC_CNT__MAX + k];
}

Napi::Value Collector::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  const Shared& s = *shared_;
  const uint32_t rows = SW_MAX_TARGETS + 1;
  // What user space took is read before what the kernel emitted: a record
  // is counted as emitted before it can be taken, so then
  // delivered + dropped <= emitted holds in every reading.
  const uint64_t batches_delivered = s.batches_delivered.load();
  const uint64_t events_delivered = s.events_delivered.load();
  const uint64_t user_dropped_batches = s.user_dropped_batches.load();
  const uint64_t user_dropped_events = s.user_dropped_events.load();
  // Rows whose user-space losses changed: swapped out before the counts are read.
  for (uint32_t w = 0; w < SW_DIRTY_WORDS; w++) {
    if (shared_->user_dropped_changed[w].load(std::memory_order_relaxed) == 0) continue;
    const uint64_t bits = shared_->user_dropped_changed[w].exchange(0, std::memory_order_acq_rel);
    for (uint64_t b = bits; b != 0; b &= b - 1) {
      const uint32_t row = w * 64 + uint32_t(__builtin_ctzll(b));
      if (row < rows) reported_user_dropped_[row] = s.user_dropped_by_slot[row].load(std::memory_order_relaxed);
    }
    stats_changed_[w] |= bits;
  }
  if (!closed_) ReadKernelCounters();
  // Per slot: only the rows that changed since the last stats(), as
  // [slot, matched, emitted, dropped, userDropped] runs of one Float64Array
  // (one allocation, not an object per row): the caller keeps the totals.
  // 'matched' is what the program finished deciding about. Its own matched
  // counter runs ahead while an invocation is half-way (it only tells
  // Settle() and the fair share when one is), and a reading of per-CPU
  // counters is not atomic across them.
  std::vector<uint32_t> changed_rows;
  for (uint32_t w = 0; w < SW_DIRTY_WORDS; w++) {
    for (uint64_t b = stats_changed_[w]; b != 0; b &= b - 1) {
      const uint32_t row = w * 64 + uint32_t(__builtin_ctzll(b));
      if (row < rows) changed_rows.push_back(row);
    }
    stats_changed_[w] = 0;
  }
  Napi::Float64Array per_slot = Napi::Float64Array::New(env, changed_rows.size() * 5);
  double* o = per_slot.Data();
  for (uint32_t row : changed_rows) {
    const uint64_t em = kernel_counts_[size_t(row) * SW_CNT__MAX + SW_CNT_EMITTED];
    const uint64_t dr = kernel_counts_[size_t(row) * SW_CNT__MAX + SW_CNT_DROPPED];
    *o++ = row == SW_MAX_TARGETS ? SW_SLOT_ALL : row;
    *o++ = double(em + dr);
    *o++ = double(em);
    *o++ = double(dr);
    *o++ = double(reported_user_dropped_[row]);
  }
  out.Set("matched", Napi::BigInt::New(env, kernel_totals_[SW_CNT_EMITTED] + kernel_totals_[SW_CNT_DROPPED]));
  out.Set("emitted", Napi::BigInt::New(env, kernel_totals_[SW_CNT_EMITTED]));
  out.Set("dropped", Napi::BigInt::New(env, kernel_totals_[SW_CNT_DROPPED]));
  out.Set("slotChanges", per_slot);
  out.Set("batchesDelivered", Napi::BigInt::New(env, batches_delivered));
  out.Set("eventsDelivered", Napi::BigInt::New(env, events_delivered));
  out.Set("userDroppedBatches", Napi::BigInt::New(env, user_dropped_batches));
  out.Set("userDroppedEvents", Napi::BigInt::New(env, user_dropped_events));
  out.Set("malformedRecords", Napi::BigInt::New(env, s.malformed_records.load()));
  // Process events: counted apart from syscall records (event.h). Delivered is read first, as above.
  {
    Napi::Object p = Napi::Object::New(env);
    const uint64_t delivered = s.proc_delivered.load();
    const uint64_t user_dropped = s.proc_user_dropped.load();
    p.Set("available", Napi::Boolean::New(env, attach_mode_ == "tp_btf"));
    p.Set("emitted", Napi::Number::New(env, double(proc_kernel_[SW_PROC_CNT_EMITTED])));
    p.Set("kernelDropped", Napi::Number::New(env, double(proc_kernel_[SW_PROC_CNT_DROPPED])));
    p.Set("delivered", Napi::Number::New(env, double(delivered)));
    p.Set("userDropped", Napi::Number::New(env, double(user_dropped)));
    p.Set("unfollowed", Napi::Number::New(env, double(proc_kernel_[SW_PROC_CNT_UNFOLLOWED])));
    out.Set("proc", p);
    out.Set("uring", Napi::Boolean::New(env, uring_available_));
  }
  out.Set("callbackErrors", Napi::Number::New(env, double(s.callback_errors.load())));
  out.Set("drains", Napi::BigInt::New(env, s.drains.load()));
  {
    Napi::Object r = Napi::Object::New(env);
    r.Set("events", Napi::Number::New(env, double(s.routed_events.load())));
    r.Set("dropped", Napi::Number::New(env, double(s.route_dropped.load())));
    r.Set("marksDropped", Napi::Number::New(env, double(s.route_marks_dropped.load())));
    r.Set("behind", Napi::Boolean::New(env, route_behind_.load()));
    out.Set("routed", r);
  }
  out.Set("shedEpisodes", Napi::Number::New(env, double(s.shed_episodes.load())));
  {
    std::lock_guard<std::mutex> lock(shed_mu_);
    out.Set("shedNow", Napi::Number::New(env, double(shed_slots_.size())));
  }
  out.Set("inFlight", Napi::Number::New(env, s.in_flight.load()));
  out.Set("settled", Napi::Boolean::New(env, settled_));
  // Failed reservations per ring (the sum over its CPUs): which ring ran full.
  if (!closed_) ReadRingFull();
  {
    const uint32_t per = cpus_per_ring_ ? cpus_per_ring_ : uint32_t(std::max(ncpu_, 1));
    Napi::Array full = Napi::Array::New(env, RingCount());
    for (uint32_t g = 0; g < RingCount(); g++) {
      uint64_t sum = 0;
      for (uint32_t c = g * per; c < std::min<uint32_t>((g + 1) * per, uint32_t(ring_full_read_.size())); c++) sum += ring_full_read_[c];
      full.Set(g, Napi::Number::New(env, double(sum)));
    }
    out.Set("ringFull", full);
    out.Set("cpusPerRing", Napi::Number::New(env, cpus_per_ring_));
  }
  return out;
}

void Collector::ReadRingFull() {
  if (!skel_) return;
  std::vector<uint64_t> v(size_t(std::max(ncpu_, 1)), 0);
  uint32_t zero = 0;
  if (bpf_map__lookup_elem(skel_->maps.ring_full, &zero, sizeof(zero), v.data(), v.size() * sizeof(uint64_t), 0) == 0) ring_full_read_ = std::move(v);
}

Napi::Value Collector::Pause(const Napi::CallbackInfo& info) {
  paused_.store(true, std::memory_order_release);
  return info.Env().Undefined();
}

Napi::Value Collector::SetScoringBehind(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsBoolean()) {
    Napi::TypeError::New(info.Env(), "setScoringBehind takes true or false").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  scoring_behind_.store(info[0].As<Napi::Boolean>().Value(), std::memory_order_release);
  return info.Env().Undefined();
}

Napi::Value Collector::Resume(const Napi::CallbackInfo& info) {
  paused_.store(false, std::memory_order_release);
  return info.Env().Undefined();
}

Napi::Value Collector::ProgramId(const Napi::CallbackInfo& info) {
  EnsureOpen(info.Env());
  const bpf_program* prog = attach_mode_ == "tp_btf" ? skel_->progs.sys_enter_btf : skel_->progs.sys_enter_tp;
  bpf_prog_info pinfo;
  memset(&pinfo, 0, sizeof(pinfo));
  uint32_t len = sizeof(pinfo);
  if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &pinfo, &len) != 0)
    throw BpfError(info.Env(), "read program info", errno, "");
  return Napi::Number::New(info.Env(), pinfo.id);
}

Napi::Value Collector::Close(const Napi::CallbackInfo& info) {
  Shutdown(true);
  return info.Env().Undefined();
}

// After the detach no invocation of the program starts, but one that began
// before may still run on another CPU (syscall tracepoints are preemptible):
// it may have counted an event as matched and not yet as emitted, or
// reserved a record and not yet submitted it. Drain and read until the
// counters agree (matched = emitted + dropped, every emitted record taken)
// twice in a row, a bounded number of times. The last reading is the final
// one; whatever was emitted and still not taken by then is counted as
// dropped in user space, per slot, so the totals agree whatever happens.
void Collector::Settle() {
  constexpr int kMaxRounds = 500;  // 1 ms apart: half a second at most
  const uint32_t rows = SW_COUNT_ROWS;
  if (!counts_map_) return;
  uint64_t last_emitted = ~0ull, last_dropped = ~0ull;
  for (int round = 0; round < kMaxRounds; round++) {
    ConsumeRings(true);
    Flush(false);
    ReadKernelCounters();
    const uint64_t m = kernel_totals_[SW_CNT_MATCHED], e = kernel_totals_[SW_CNT_EMITTED], d = kernel_totals_[SW_CNT_DROPPED];
    uint64_t taken = 0;
    for (uint32_t row = 0; row < rows; row++) taken += consumed_by_row_[row];
    const bool agree = m == e + d && taken == e && proc_taken_ == proc_kernel_[SW_PROC_CNT_EMITTED];
    if (agree && e == last_emitted && d == last_dropped) {
      settled_ = true;
      break;
    }
    last_emitted = agree ? e : ~0ull;
    last_dropped = agree ? d : ~0ull;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ReadRingFull();
  if (proc_kernel_[SW_PROC_CNT_EMITTED] > proc_taken_)
    shared_->proc_user_dropped.fetch_add(proc_kernel_[SW_PROC_CNT_EMITTED] - proc_taken_, std::memory_order_relaxed);
  for (uint32_t row = 0; row < rows; row++) {
    uint64_t e = kernel_counts_[size_t(row) * SW_CNT__MAX + SW_CNT_EMITTED];
    if (e <= consumed_by_row_[row]) continue;
    uint64_t lost = e - consumed_by_row_[row];
    shared_->user_dropped_events.fetch_add(lost, std::memory_order_relaxed);
    shared_->AddUserDropped(row, lost);
  }
}

// One cleanup path for close(), garbage collection and environment teardown:
// detach the program first (no new events), stop and join the consumer (it
// drains the ring a last time), settle the final counters when the caller
// will read them, release the TSFN, then free the kernel objects.
void Collector::Shutdown(bool settle) {
  if (closed_) return;
  closed_ = true;
  if (link_) bpf_link__destroy(link_);
  link_ = nullptr;
  for (bpf_link* l : proc_links_) bpf_link__destroy(l);
  proc_links_.clear();
  stop_.store(true, std::memory_order_release);
  if (consumer_.joinable()) consumer_.join();
  if (settle && ring_ && skel_) Settle();
  if (settle) RouteSettle();
  else {
    std::lock_guard<std::mutex> lock(route_mu_);
    RouteDropWaiting(routes_);
  }
  UnmapCounters();
  tsfn_.Release();
  if (ring_) ring_buffer__free(ring_);
  ring_ = nullptr;
  if (skel_) syscalls_bpf__destroy(skel_);
  skel_ = nullptr;
  for (int fd : ring_fds_) close(fd);
  ring_fds_.clear();
  if (hook_registered_) napi_remove_env_cleanup_hook(env_, CleanupHook, this);
  hook_registered_ = false;
}

// Which worker owns a thread: the same hash as ownerOf() in src/pipeline/protocol.ts.
static inline uint32_t OwnerOf(uint32_t tid, uint32_t workers) {
  return (tid * 0x9e3779b1u) % workers;
}

static inline bool IsMark(const sw_event& u) { return u.nr == SW_REC_EXIT || u.nr == SW_REC_EXEC || u.nr == SW_REC_FORK || u.nr == kRouteMarkModel; }

bool Collector::RoutePut(RouteRing& r, const sw_event& unit) {
  if (r.free == 0) return false;
  r.units[r.write & (r.cap - 1)] = unit;
  r.write++;
  r.free--;
  return true;
}

// What waits for room is bounded as the batches queued for JavaScript are
// (maxQueuedBatches of maxBatchEvents): routed or not, a starved scorer has
// the same room before anything is lost. Markers may go a sixteenth over
// it: a thread's end is worth more than its records.
Collector::Sent Collector::RouteSend(RouteRing& r, const sw_event& unit) {
  if (r.head == r.waiting.size() && RoutePut(r, unit)) return Sent::kIn;
  const size_t bound = size_t(max_queued_batches_) * max_batch_events_;
  const size_t n = route_waiting_.load(std::memory_order_relaxed);
  if (n >= (IsMark(unit) ? bound + bound / 16 : bound)) return Sent::kDropped;
  r.waiting.push_back(unit);
  route_waiting_.store(n + 1, std::memory_order_relaxed);
  return Sent::kWaiting;
}

// Where each ring stands: what the consumer wrote, what the worker read.
void Collector::RouteBegin() {
  for (RouteRing& r : routes_) {
    r.write = r.published = __atomic_load_n(&r.hdr[kRouteWrite], __ATOMIC_RELAXED);
    const uint32_t used = r.write - __atomic_load_n(&r.hdr[kRouteRead], __ATOMIC_ACQUIRE);
    // A reader claiming more than was written is broken: give it nothing.
    r.free = used <= r.cap ? r.cap - used : 0;
  }
}

uint64_t Collector::RouteCatchUp() {
  uint64_t records = 0;
  size_t moved = 0;
  for (RouteRing& r : routes_) {
    while (r.head < r.waiting.size() && RoutePut(r, r.waiting[r.head])) {
      if (!IsMark(r.waiting[r.head])) records++;
      r.head++;
      moved++;
    }
    if (r.head == r.waiting.size()) {
      // A long wait's memory goes back once it is over.
      if (r.waiting.capacity() > (size_t(1) << 16)) std::vector<sw_event>().swap(r.waiting);
      else r.waiting.clear();
      r.head = 0;
    } else if (r.head >= (size_t(1) << 16) && r.head * 2 >= r.waiting.size()) {
      r.waiting.erase(r.waiting.begin(), r.waiting.begin() + std::ptrdiff_t(r.head));
      r.head = 0;
    }
  }
  if (moved > 0) route_waiting_.store(route_waiting_.load(std::memory_order_relaxed) - moved, std::memory_order_relaxed);
  return records;
}

void Collector::RouteDropWaiting(std::vector<RouteRing>& rings) {
  Shared& s = *shared_;
  uint64_t records = 0, marks = 0;
  size_t gone = 0;
  LossRuns lost(s);
  for (RouteRing& r : rings) {
    for (size_t i = r.head; i < r.waiting.size(); i++) {
      const sw_event& u = r.waiting[i];
      if (IsMark(u)) {
        marks++;
      } else {
        records++;
        lost.Add(RowOf(u.slot));
      }
    }
    gone += r.waiting.size() - r.head;
    std::vector<sw_event>().swap(r.waiting);
    r.head = 0;
  }
  if (gone > 0) route_waiting_.store(route_waiting_.load(std::memory_order_relaxed) - gone, std::memory_order_relaxed);
  s.user_dropped_events.fetch_add(records, std::memory_order_relaxed);
  s.route_dropped.fetch_add(records, std::memory_order_relaxed);
  s.route_marks_dropped.fetch_add(marks, std::memory_order_relaxed);
}

// Records that went into the workers' rings: routed, and delivered unless
// JavaScript gets them too (teed), which counts them when it does.
void Collector::RouteCountIn(uint64_t records) {
  if (records == 0) return;
  Shared& s = *shared_;
  s.routed_events.fetch_add(records, std::memory_order_relaxed);
  if (!route_tee_) {
    s.batches_delivered.fetch_add(1, std::memory_order_relaxed);
    s.events_delivered.fetch_add(records, std::memory_order_relaxed);
  }
}

// A process event the workers act on, as a marker among the records
// (route_ring.h). One that finds no room, not even to wait, is counted.
void Collector::RouteMark(const sw_proc_event& e) {
  sw_event u = e.head;
  const uint32_t workers = uint32_t(routes_.size());
  if (u.nr == SW_REC_EXIT) {
    if (RouteSend(routes_[OwnerOf(u.tid, workers)], u) == Sent::kDropped) shared_->route_marks_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!route_per_exe_) return;
  if (u.nr == SW_REC_EXEC) {
    auto it = route_profiles_.find(std::string(e.path, strnlen(e.path, sizeof(e.path))));
    u.slot = uint16_t(it == route_profiles_.end() ? 0 : it->second + 1);
  } else if (u.nr == SW_REC_FORK) {
    u.ts_ns = e.head.tid;
    u.tid = e.child_tid;
  } else {
    return;
  }
  // Every worker keeps every thread's profile: a fork's parent may be another worker's.
  for (RouteRing& r : routes_) {
    if (RouteSend(r, u) == Sent::kDropped) shared_->route_marks_dropped.fetch_add(1, std::memory_order_relaxed);
  }
}

// Native demultiplexing: each record goes straight into the ring of the
// worker that owns its thread, in order, with the process events the
// workers act on placed among them (route_ring.h). The only copy after the
// kernel's ring. A record that finds its worker's ring full waits, in
// order, with everything after it for that worker, until the worker makes
// room (RouteSend's bound; past it the record is dropped, counted against
// its container as a user-space loss). A ring a quarter full, or anything
// waiting, is pressure for the fair share, which then sheds the flooding
// containers in the kernel: one policy, in one place.
void Collector::RouteRecords() {
  Batch& b = *current_;
  Shared& s = *shared_;
  const size_t n = b.bytes.size() / sizeof(sw_event);
  const size_t np = b.proc.size() / sizeof(sw_proc_event);
  const sw_event* ev = reinterpret_cast<const sw_event*>(b.bytes.data());
  sw_proc_event* pe = reinterpret_cast<sw_proc_event*>(b.proc.data());
  const uint32_t workers = uint32_t(routes_.size());
  RouteBegin();
  uint64_t in = RouteCatchUp();
  uint64_t dropped = 0;
  size_t k = 0;
  {
    LossRuns lost(s);
    for (size_t i = 0; i < n; i++) {
      while (k < np && pe[k].at <= i) RouteMark(pe[k++]);
      const Sent sent = RouteSend(routes_[OwnerOf(ev[i].tid, workers)], ev[i]);
      if (sent == Sent::kIn) in++;
      if (sent != Sent::kDropped) continue;
      dropped++;
      lost.Add(RowOf(ev[i].slot));
    }
  }
  while (k < np) RouteMark(pe[k++]);
  if (dropped > 0) {
    s.user_dropped_events.fetch_add(dropped, std::memory_order_relaxed);
    s.route_dropped.fetch_add(dropped, std::memory_order_relaxed);
  }
  RouteCountIn(in);
  // Teed, JavaScript gets the whole batch as well, and counts it as delivered when it does.
  if (!route_tee_) {
    b.bytes.clear();
    // What JavaScript still gets is process events alone: none is placed after a record.
    for (size_t j = 0; j < np; j++) pe[j].at = 0;
  }
}

// close(): the workers read on their own threads; what waits goes in as
// they make room, for as long as they keep reading. What a worker that
// stopped reading leaves is counted lost.
void Collector::RouteSettle() {
  constexpr auto kNoProgress = std::chrono::seconds(2);
  auto last_progress = std::chrono::steady_clock::now();
  uint64_t last_read = ~0ull;
  while (route_waiting_.load(std::memory_order_relaxed) > 0) {
    uint64_t read = 0;
    {
      std::lock_guard<std::mutex> lock(route_mu_);
      RouteBegin();
      RouteCountIn(RouteCatchUp());
      RoutePublish();
      for (RouteRing& r : routes_) read += __atomic_load_n(&r.hdr[kRouteRead], __ATOMIC_ACQUIRE);
    }
    const auto now = std::chrono::steady_clock::now();
    if (read != last_read) {
      last_read = read;
      last_progress = now;
    } else if (now - last_progress > kNoProgress) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::lock_guard<std::mutex> lock(route_mu_);
  RouteDropWaiting(routes_);
}

// Publish what RouteRecords wrote, then wake the workers that sleep. Both
// sequentially consistent: a worker stores its want-wake flag, then looks
// at the write count again.
void Collector::RoutePublish() {
  bool any_quarter = false, all_under_eighth = true;
  for (RouteRing& r : routes_) {
    if (r.write != r.published) {
      r.published = r.write;
      __atomic_store_n(&r.hdr[kRouteWrite], r.write, __ATOMIC_SEQ_CST);
      if (__atomic_exchange_n(&r.hdr[kRouteWantWake], 0u, __ATOMIC_SEQ_CST) != 0) WakeRingReader(r.hdr);
    }
    const uint32_t used = r.write - __atomic_load_n(&r.hdr[kRouteRead], __ATOMIC_ACQUIRE);
    if (uint64_t(used) * 4 >= r.cap) any_quarter = true;
    if (uint64_t(used) * 8 >= r.cap) all_under_eighth = false;
  }
  if (any_quarter || route_waiting_.load(std::memory_order_relaxed) > 0) route_behind_.store(true, std::memory_order_release);
  else if (all_under_eighth) route_behind_.store(false, std::memory_order_release);
}

// route(rings: Uint8Array[] | null, profiles: string[] | null): write
// records to these rings (one per worker, route_ring.h), or stop (null).
// With profiles (a model with per-executable profiles, possibly none),
// exec and fork markers go to every worker, an exec naming its profile.
Napi::Value Collector::Route(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<RouteRing> rings;
  std::vector<Napi::Reference<Napi::Uint8Array>> refs;
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "route takes an array of rings");
  Napi::Array arr = info[0].As<Napi::Array>();
  if (arr.Length() == 0 || arr.Length() > 256) throw Napi::RangeError::New(env, "route takes 1 to 256 rings");
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) throw Napi::TypeError::New(env, "each ring must be a Uint8Array");
    Napi::Uint8Array u = v.As<Napi::Uint8Array>();
    if (u.ByteOffset() != 0 || u.ByteLength() < kRouteHeaderBytes + 64 * sizeof(sw_event)) throw Napi::RangeError::New(env, "a ring must be a view of a whole ring buffer");
    uint32_t* hdr = reinterpret_cast<uint32_t*>(u.Data());
    const uint32_t cap = __atomic_load_n(&hdr[kRouteCapacity], __ATOMIC_ACQUIRE);
    if (cap < 64 || (cap & (cap - 1)) != 0 || kRouteHeaderBytes + size_t(cap) * sizeof(sw_event) > u.ByteLength())
      throw Napi::RangeError::New(env, "a ring's capacity must be a power of two its buffer holds");
    rings.push_back({hdr, reinterpret_cast<sw_event*>(u.Data() + kRouteHeaderBytes), cap, 0, 0, 0, {}, 0});
    refs.push_back(Napi::Persistent(u));
  }
  std::unordered_map<std::string, int32_t> profiles;
  const bool per_exe = info.Length() > 1 && info[1].IsArray();
  if (per_exe) {
    Napi::Array p = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < p.Length(); i++) {
      Napi::Value v = p.Get(i);
      if (!v.IsString()) throw Napi::TypeError::New(env, "profiles must be executable paths");
      profiles.emplace(v.As<Napi::String>().Utf8Value(), int32_t(i));
    }
  }
  std::vector<Napi::Reference<Napi::Uint8Array>> old;
  {
    std::lock_guard<std::mutex> lock(route_mu_);
    // A ring that stays keeps what waits for it; what waited for one that goes is lost, and counted.
    for (RouteRing& was : routes_) {
      for (RouteRing& now : rings) {
        if (now.hdr != was.hdr) continue;
        now.waiting.swap(was.waiting);
        now.head = was.head;
        was.head = 0;
      }
    }
    RouteDropWaiting(routes_);
    routes_ = std::move(rings);
    route_per_exe_ = per_exe;
    route_profiles_ = std::move(profiles);
    old.swap(route_refs_);
    route_refs_ = std::move(refs);
  }
  return env.Undefined();
}

// Stop routing: records go to JavaScript again. Nothing is written to the
// rings once this returns.
Napi::Value Collector::Unroute(const Napi::CallbackInfo& info) {
  std::vector<Napi::Reference<Napi::Uint8Array>> old;
  {
    std::lock_guard<std::mutex> lock(route_mu_);
    RouteDropWaiting(routes_);
    routes_.clear();
    route_profiles_.clear();
    route_per_exe_ = false;
    route_tee_ = false;
    old.swap(route_refs_);
  }
  route_behind_.store(false, std::memory_order_release);
  return info.Env().Undefined();
}

// routeTee(on): JavaScript gets every routed batch whole too (a recording
// or another listener wants the records), or process events alone.
Napi::Value Collector::RouteTee(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsBoolean()) throw Napi::TypeError::New(info.Env(), "routeTee takes true or false");
  std::lock_guard<std::mutex> lock(route_mu_);
  route_tee_ = info[0].As<Napi::Boolean>().Value();
  return info.Env().Undefined();
}

// routeModel(target, model, op): a model marker (route_ring.h) to every
// worker's ring, after every unit routed so far, so that the workers change
// a target's model exactly there in its records. Never dropped: what waits
// for room waits in order, bounded by the pipeline's table (a few markers
// per assignment), not by the records' bound. Returns false when not routing.
Napi::Value Collector::RouteModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) throw Napi::TypeError::New(env, "routeModel takes a target id, a model id and an operation");
  const double target = info[0].As<Napi::Number>().DoubleValue();
  const double model = info[1].As<Napi::Number>().DoubleValue();
  const double op = info[2].As<Napi::Number>().DoubleValue();
  if (!(target >= 0 && target <= 0xffff) || !(model >= 0 && model <= 0xffffffffu) || !(op >= 0 && op <= 0xff)) throw Napi::RangeError::New(env, "routeModel: target, model or operation out of range");
  sw_event u{};
  u.nr = kRouteMarkModel;
  u.slot = uint16_t(target);
  u.tid = uint32_t(model);
  u.ts_ns = uint64_t(op);
  std::lock_guard<std::mutex> lock(route_mu_);
  if (routes_.empty()) return Napi::Boolean::New(env, false);
  RouteBegin();
  const uint64_t in = RouteCatchUp();
  for (RouteRing& r : routes_) {
    if (r.head == r.waiting.size() && RoutePut(r, u)) continue;
    r.waiting.push_back(u);
    route_waiting_.store(route_waiting_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  RouteCountIn(in);
  RoutePublish();
  return Napi::Boolean::New(env, true);
}

// Batches queued for JavaScript and not yet taken (cheap, unlike stats()).
Napi::Value Collector::QueuedBatches(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(shared_->in_flight.load(std::memory_order_acquire)));
}

// [records routed, records a full worker ring dropped] (cheap, unlike stats()).
Napi::Value Collector::RoutedCounts(const Napi::CallbackInfo& info) {
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), double(shared_->routed_events.load(std::memory_order_relaxed))));
  out.Set(1u, Napi::Number::New(info.Env(), double(shared_->route_dropped.load(std::memory_order_relaxed))));
  return out;
}

namespace {

// The task iterator's own instance of the object: loaded on first use and
// kept for the life of the process (a few kilobytes of kernel memory; the
// kernel frees it at exit), shared by every thread under task_iter_mu.
std::mutex task_iter_mu;
bpf_object* task_iter_obj = nullptr;
bpf_program* task_iter_prog = nullptr;

// Loads it, or says why not (the stage and errno; the libbpf log in `log`).
int LoadTaskIter(std::string& stage, std::string& log) {
  LogCapture capture;
  size_t size = 0;
  const void* bytes = syscalls_bpf__elf_bytes(&size);
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "syswarden_task_ids");
  bpf_object* obj = bpf_object__open_mem(bytes, size, &opts);
  if (!obj) {
    stage = "open the task iterator";
    log = capture.text;
    return -errno;
  }
  bpf_program* found = nullptr;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    const bool mine = std::strcmp(bpf_program__name(prog), "task_ids") == 0;
    bpf_program__set_autoload(prog, mine);
    if (mine) found = prog;
  }
  bpf_map* map;
  bpf_object__for_each_map(map, obj) bpf_map__set_autocreate(map, false);
  int err = found ? bpf_object__load(obj) : -ENOENT;
  if (err) {
    bpf_object__close(obj);
    stage = found ? "load the task iterator" : "find the task iterator in the BPF object";
    log = capture.text;
    return err;
  }
  task_iter_obj = obj;
  task_iter_prog = found;
  return 0;
}

}  // namespace

Napi::Value TaskIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "taskIds(by, value) takes two numbers");
  const double by = info[0].As<Napi::Number>().DoubleValue();
  const double value = info[1].As<Napi::Number>().DoubleValue();
  if (!(by == 0 || by == 1 || by == 2)) throw Napi::RangeError::New(env, "by must be 0 (all), 1 (pid) or 2 (pidfd)");
  if (by != 0 && !(value >= (by == 2 ? 0 : 1) && value <= 0x7fffffff && value == double(uint32_t(value)))) throw Napi::RangeError::New(env, "value out of range");
  std::vector<uint8_t> out;
  std::string stage, log;
  int err = 0;
  {
    std::lock_guard<std::mutex> lock(task_iter_mu);
    if (!task_iter_obj) err = LoadTaskIter(stage, log);
    if (!err) {
      union bpf_iter_link_info linfo;
      std::memset(&linfo, 0, sizeof(linfo));
      if (by == 1) linfo.task.pid = uint32_t(value);
      if (by == 2) linfo.task.pid_fd = uint32_t(value);
      LIBBPF_OPTS(bpf_iter_attach_opts, opts);
      if (by != 0) {
        opts.link_info = &linfo;
        opts.link_info_len = sizeof(linfo);
      }
      bpf_link* link = bpf_program__attach_iter(task_iter_prog, &opts);
      if (!link) {
        err = -errno;
        stage = "attach the task iterator";
      } else {
        int fd = bpf_iter_create(bpf_link__fd(link));
        if (fd < 0) {
          err = -errno;
          stage = "create the task iterator";
        } else {
          uint8_t chunk[4096];
          // Bounded by the tasks of one namespace: read() ends with 0.
          for (;;) {
            ssize_t n = read(fd, chunk, sizeof(chunk));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
              err = -errno;
              stage = "read the task iterator";
              break;
            }
            if (n == 0) break;
            out.insert(out.end(), chunk, chunk + n);
          }
          close(fd);
        }
        bpf_link__destroy(link);
      }
    }
  }
  if (err) throw BpfError(env, stage.c_str(), err, log);
  const size_t records = out.size() / sizeof(sw_task_ids);
  Napi::Uint32Array a = Napi::Uint32Array::New(env, records * (sizeof(sw_task_ids) / sizeof(uint32_t)));
  if (records > 0) std::memcpy(a.Data(), out.data(), records * sizeof(sw_task_ids));
  return a;
}

