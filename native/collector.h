// The native half of the Collector: owns the BPF skeleton, its maps and the
// ring-buffer consumer thread, and hands whole batches of raw sw_event records
// to JavaScript through a ThreadSafeFunction.
#pragma once

#include <napi.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "event.h"

// User-space mirror of the BPF side's struct sw_counts (one CPU's row of
// the counters map): both are SW_CNT__MAX u64 counters from event.h.
struct sw_counts_user {
  uint64_t n[SW_CNT__MAX];
};

struct syscalls_bpf;
struct ring_buffer;
struct bpf_link;

class Collector : public Napi::ObjectWrap<Collector> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Collector(const Napi::CallbackInfo& info);
  ~Collector() override;

 private:
  struct Batch {
    std::vector<uint8_t> bytes;  // raw sw_event records, in ring order
    std::vector<uint8_t> proc;   // raw sw_proc_event records, in ring order; each one's `at` places it among `bytes`
    uint64_t drained_ns = 0;     // CLOCK_MONOTONIC when the consumer took them
  };
  // Counters shared by the consumer thread, the JS thread and batches still
  // queued in the ThreadSafeFunction, which may outlive this object.
  struct Shared {
    // Batches handed to the TSFN but not yet run on the JS thread: the bound
    // on memory between the consumer and JavaScript.
    std::atomic<uint32_t> in_flight{0};
    std::atomic<uint64_t> batches_delivered{0};
    std::atomic<uint64_t> events_delivered{0};
    std::atomic<uint64_t> user_dropped_batches{0};
    std::atomic<uint64_t> user_dropped_events{0};
    std::atomic<uint64_t> malformed_records{0};
    std::atomic<uint64_t> proc_delivered{0};
    std::atomic<uint64_t> proc_user_dropped{0};
    // Batches whose JavaScript callback threw (counted as dropped too).
    std::atomic<uint64_t> callback_errors{0};
    std::atomic<uint64_t> drains{0};
    // Fair share: times a slot started being shed.
    std::atomic<uint64_t> shed_episodes{0};
    // Per target slot, i.e. target id & SW_SLOT_MASK (last row: all-processes mode).
    std::array<std::atomic<uint64_t>, SW_MAX_TARGETS + 1> user_dropped_by_slot{};
    // A bit per row, set after adding to its user_dropped_by_slot: what
    // stats() reads again (the same swap-then-read order as the kernel's).
    std::array<std::atomic<uint64_t>, SW_DIRTY_WORDS> user_dropped_changed{};
    // Routed to the workers' rings (route_ring.h): records written, records
    // no ring could take, full with the room to wait used up (counted in
    // user_dropped too), markers lost.
    std::atomic<uint64_t> routed_events{0};
    std::atomic<uint64_t> route_dropped{0};
    std::atomic<uint64_t> route_marks_dropped{0};
    void AddUserDropped(uint32_t row, uint64_t n) {
      user_dropped_by_slot[row].fetch_add(n, std::memory_order_relaxed);
      user_dropped_changed[row / 64].fetch_or(uint64_t(1) << (row % 64), std::memory_order_release);
    }
  };
  // User-space losses per container, added per run of one row rather than
  // per record: records of one container come in runs, and these are the
  // paths taken when the process is already behind.
  class LossRuns {
   public:
    explicit LossRuns(Shared& s) : s_(s) {}
    LossRuns(const LossRuns&) = delete;
    LossRuns& operator=(const LossRuns&) = delete;
    ~LossRuns() { Flush(); }
    void Add(uint32_t row) {
      if (row != row_) Flush();
      row_ = row;
      run_++;
    }

   private:
    void Flush() {
      if (run_ > 0) s_.AddUserDropped(row_, run_);
      run_ = 0;
    }
    Shared& s_;
    uint32_t row_ = 0;
    uint64_t run_ = 0;
  };
  using SharedRef = std::shared_ptr<Shared>;
  static void Deliver(Napi::Env env, Napi::Function js_cb, SharedRef* ctx, Batch* batch);
  using Tsfn = Napi::TypedThreadSafeFunction<SharedRef, Batch, Deliver>;

  Napi::Value AttachMode(const Napi::CallbackInfo& info);
  Napi::Value SetTarget(const Napi::CallbackInfo& info);
  Napi::Value DeleteTarget(const Napi::CallbackInfo& info);
  Napi::Value SetTargetLevels(const Napi::CallbackInfo& info);
  Napi::Value FollowProcesses(const Napi::CallbackInfo& info);
  Napi::Value AdoptUnder(const Napi::CallbackInfo& info);
  Napi::Value ReserveAdoptIds(const Napi::CallbackInfo& info);
  Napi::Value UnfollowTarget(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Pause(const Napi::CallbackInfo& info);
  Napi::Value SetScoringBehind(const Napi::CallbackInfo& info);
  Napi::Value Resume(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value ProgramId(const Napi::CallbackInfo& info);
  Napi::Value Route(const Napi::CallbackInfo& info);
  Napi::Value Unroute(const Napi::CallbackInfo& info);
  Napi::Value RouteTee(const Napi::CallbackInfo& info);
  Napi::Value RouteModel(const Napi::CallbackInfo& info);
  Napi::Value QueuedBatches(const Napi::CallbackInfo& info);
  Napi::Value RoutedCounts(const Napi::CallbackInfo& info);

  void Load(Napi::Env env, const Napi::Object& opts);
  void ConsumeLoop();
  // Hand the current batch to JavaScript; with `coalesce`, keep growing it
  // instead while JavaScript has batches waiting.
  void Flush(bool coalesce);
  void Deliver();
  static constexpr uint32_t kCoalesceWhenQueued = 2;
  // Process events per batch before it is handed over (a fork bomb must not grow one batch without bound).
  static constexpr size_t kMaxProcPerBatch = 1024;
  size_t InitialBatchBytes() const;
  void CountDropped(const Batch& batch);
  static void CountDroppedIn(Shared& s, const Batch& batch);
  // True when it shed a slot that was not shed before.
  bool Rebalance();
  void SetShed(uint16_t slot, bool on);
  uint64_t SlotMatched(uint16_t slot);
  void ReadKernelCounters();
  void Settle();
  void Shutdown(bool settle);
  void EnsureOpen(Napi::Env env);
  static int OnRecord(void* ctx, void* data, size_t size);
  static void CleanupHook(void* arg);

  syscalls_bpf* skel_ = nullptr;
  bpf_link* link_ = nullptr;
  std::vector<bpf_link*> proc_links_;  // exec, fork, exit (tp_btf only)
  uint64_t proc_taken_ = 0;           // process events the consumer took from the ring
  uint64_t proc_kernel_[SW_PROC_CNT__MAX] = {};
  // The kernel has io_uring's submit tracepoint (and the program is attached).
  bool uring_available_ = false;
  void ReadProcCounters();
  ring_buffer* ring_ = nullptr;
  std::string attach_mode_;

  uint32_t poll_ms_ = 2;
  // Gather drains for up to this long into one batch (0: a batch per drain),
  // unless the batch reaches kDeliverNowBytes; since when this one gathers.
  uint64_t deliver_ns_ = 10000000;
  uint64_t gathering_since_ns_ = 0;
  static constexpr size_t kDeliverNowBytes = size_t(16384) * sizeof(sw_event);
  uint64_t drain_seq_ = 0;  // drains begun (consumer thread); stats' drains: those handed over
  uint32_t max_batch_events_ = 65536;
  uint32_t max_queued_batches_ = 64;
  // Nice value for the consumer thread, set only when the caller asked.
  int consumer_nice_ = 0;
  bool set_consumer_nice_ = false;
  uint32_t ring_bytes_ = 1u << 22;
  // 0: one ring shared by every CPU. N: a ring per group of N CPUs, their
  // records merged by timestamp (MergeStaged) so each thread's stay in order.
  uint32_t cpus_per_ring_ = 0;
  std::vector<int> ring_fds_;  // the group rings, owned here (closed after ring_ is freed)
  uint32_t ring_count_ = 1;  // rings the program writes (1: the shared one); kept after close for stats()
  uint32_t RingCount() const { return ring_count_; }
  // Multi-ring mode: what the rings gave, not yet in current_. A record
  // stays here until the drain after it was written (see MergeStaged).
  Batch staged_;
  // Where OnRecord puts what it takes: current_ (one ring) or &staged_.
  Batch* sink_ = nullptr;
  void MergeStaged(uint64_t cut);
  // Failed reservations per CPU as last read (kept for stats() after close).
  std::vector<uint64_t> ring_full_read_;
  void ReadRingFull();
  // Drain every ring; in multi-ring mode merge what is due into current_.
  void ConsumeRings(bool all);

  // Records taken from the ring per counter row (slot, or the last row for
  // all-processes mode): the consumer thread's, read by Settle() after it ends.
  std::vector<uint64_t> consumed_by_row_ = std::vector<uint64_t>(SW_MAX_TARGETS + 1, 0);
  // Fair share of the ring (consumer thread, except where shed_mu_ says).
  // Records of each slot (target id & SW_SLOT_MASK) in the current drain,
  // and which slots had any.
  bool fair_share_ = true;
  // Set by whoever scores the batches (the pipeline) while its queues are
  // behind: the same pressure as a full ring or a late JavaScript thread,
  // so the one fair-share decision sheds in the kernel, before the events
  // cost the consumer, the main thread and the workers anything.
  std::atomic<bool> scoring_behind_{false};
  std::vector<uint32_t> drain_counts_ = std::vector<uint32_t>(SW_MAX_TARGETS, 0);
  std::vector<uint16_t> drain_slots_;
  size_t drain_records_ = 0;
  // Each slot's decaying demand (see Rebalance), and the slots that have one.
  std::vector<uint64_t> demand_ = std::vector<uint64_t>(SW_MAX_TARGETS, 0);
  std::vector<uint16_t> demand_slots_;
  uint64_t ring_full_seen_ = 0;  // failed reservations as of the last drain
  // When Rebalance last ran: a shed slot's calls are judged per unit of time, not per drain.
  std::chrono::steady_clock::time_point last_rebalance_{};
  std::vector<uint64_t> ring_full_cpus_;
  // Slots being shed, each with its kernel 'matched' count at the last
  // drain (its rate decides when it comes back).
  struct ShedSlot {
    uint16_t slot;  // target id & SW_SLOT_MASK
    uint64_t matched;
    uint32_t calm;  // drains in a row in which it called below the bar to come back
  };
  // Calm drains in a row a shed slot needs to come back.
  static constexpr uint32_t kCalmDrains = 8;
  std::mutex shed_mu_;
  std::unordered_map<uint64_t, uint16_t> targets_;  // cgroup id -> target id, as in the filter map
  std::vector<ShedSlot> shed_slots_;

  // Native demultiplexing: with routes set (Route), the consumer writes
  // each record straight into the ring of the worker that owns its thread,
  // and JavaScript gets only the process events. Under route_mu_.
  struct RouteRing {
    uint32_t* hdr;   // the SharedArrayBuffer's header words
    sw_event* units;
    uint32_t cap;    // units, a power of two
    uint32_t write;  // units written, as the consumer counts (published to hdr)
    uint32_t free;   // room as of this routing
    uint32_t published;  // units written as the worker sees them (hdr's write word)
    // Units (records and markers, in order) that found the ring full: they
    // go in, before anything newer, as the worker makes room.
    std::vector<sw_event> waiting;
    size_t head = 0;  // the first of them still waiting
  };
  std::mutex route_mu_;
  std::vector<RouteRing> routes_;
  bool route_per_exe_ = false;
  // Something besides the workers wants the records (a recording, another
  // listener): JavaScript gets them too, as without routing.
  bool route_tee_ = false;
  std::unordered_map<std::string, int32_t> route_profiles_;
  std::vector<Napi::Reference<Napi::Uint8Array>> route_refs_;  // JS thread only: keep the buffers alive
  // A worker's ring is a quarter full (until all are under an eighth): pressure for the fair share.
  std::atomic<bool> route_behind_{false};
  // Caller holds route_mu_ with routes set: write current_'s records and markers to the rings.
  void RouteRecords();
  void RoutePublish();
  void RouteMark(const sw_proc_event& e);
  enum class Sent { kIn, kWaiting, kDropped };
  void RouteBegin();
  bool RoutePut(RouteRing& r, const sw_event& unit);
  void RouteCountIn(uint64_t records);
  void RouteSettle();
  // Into the ring, or to wait behind what already waits; false: dropped
  // (what waits, over all rings, is at its bound).
  Sent RouteSend(RouteRing& r, const sw_event& unit);
  // Move waiting units into their rings as far as there is room; returns the records moved.
  uint64_t RouteCatchUp();
  // Count what still waits as lost and forget it (routing stops, or close() found no worker reading).
  void RouteDropWaiting(std::vector<RouteRing>& rings);
  // Units waiting over all rings (written under route_mu_, read without it).
  std::atomic<size_t> route_waiting_{0};

  std::thread consumer_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::unique_ptr<Batch> current_;
  Tsfn tsfn_;
  SharedRef shared_ = std::make_shared<Shared>();
  bool closed_ = true;
  // The kernel's counters, memory-mapped: SW_COUNT_ROWS rows of
  // sw_counts_user per possible CPU, and SW_DIRTY_STRIDE words of the
  // changed-row bitmap per CPU (bpf/event.h).
  int ncpu_ = 0;
  sw_counts_user* counts_map_ = nullptr;
  size_t counts_map_bytes_ = 0;
  uint64_t* dirty_map_ = nullptr;
  size_t dirty_map_bytes_ = 0;
  void MapCounters();
  void UnmapCounters();
  // A row's counters summed over CPUs, read from the mapping.
  sw_counts_user SumRow(uint32_t row) const;
  // Kernel counters summed over CPUs, row-major [row][counter], as last read
  // (only rows the kernel marked changed are read again), and their totals.
  std::vector<uint64_t> kernel_counts_ = std::vector<uint64_t>(size_t(SW_COUNT_ROWS) * SW_CNT__MAX, 0);
  uint64_t kernel_totals_[SW_CNT__MAX] = {};
  // Rows changed since the last stats() (kernel counters or user-space
  // losses), and each row's user-space losses as stats() last read them.
  std::vector<uint64_t> stats_changed_ = std::vector<uint64_t>(SW_DIRTY_WORDS, 0);
  // The kernel's changed-row bits have two readers: stats() (rows to read
  // again) and the fair share (rows that made calls since the last
  // rebalance, shed or crowded-out ones included). TakeKernelDirty() moves
  // the kernel's bits into both, under dirty_mu_, so a row's bit is never
  // out of the kernel's map and in neither set while stats() reads.
  std::mutex dirty_mu_;
  std::vector<uint64_t> rows_to_read_ = std::vector<uint64_t>(SW_DIRTY_WORDS, 0);
  std::vector<uint64_t> rows_active_ = std::vector<uint64_t>(SW_DIRTY_WORDS, 0);
  void TakeKernelDirty();  // caller holds dirty_mu_
  size_t TakeActiveRows();
  std::vector<uint64_t> reported_user_dropped_ = std::vector<uint64_t>(SW_COUNT_ROWS, 0);
  // The final counters agreed (see Settle()).
  bool settled_ = false;
  napi_env env_ = nullptr;
  bool hook_registered_ = true;
};

// taskIds(by, value): the task_ids iterator of the BPF object (bpf/event.h
// struct sw_task_ids), as a Uint32Array of whole records. by 0: every task
// of the caller's pid namespace; 1: the threads of process `value` (a pid in
// the caller's namespace); 2: those of the process pidfd `value` holds.
// The iterator is loaded once per process, alone (no map or other program
// of the object is created).
Napi::Value TaskIds(const Napi::CallbackInfo& info);

