// A scoring worker's ring: a SharedArrayBuffer the ring consumer writes the
// worker's records into and the worker reads (single producer, single
// consumer). src/pipeline/route-ring.ts mirrors this layout.
//
//   bytes 0..255   header, u32 words (each on its own cache line):
//                    [kRouteWrite]    units written (wraps at 2^32; the consumer)
//                    [kRouteRead]     units read (the worker)
//                    [kRouteWantWake] 1: the worker found the ring empty and sleeps
//                    [kRouteCapacity] units the ring holds, a power of two (set at creation)
//   bytes 256..    capacity units of 16 bytes: struct sw_event records, and
//                  markers, units whose nr is a SW_REC_* tag:
//                    SW_REC_EXIT  tid ended (sent to its owner only)
//                    SW_REC_EXEC  tid exec'd; slot = 1 + its profile (0: the container-wide one)
//                    SW_REC_FORK  tid is a new thread of the thread in ts_ns's low 32 bits
//                  (exec and fork only for a model with per-executable profiles, to every worker),
//                    kRouteMarkModel  user space only (routeModel()), to every worker, in order with
//                                     the records: slot = a target id, tid = a model id of the
//                                     pipeline's table, ts_ns = what happens (src/pipeline/route-ring.ts
//                                     MODEL_ASSIGN: records of the target after it are scored by that
//                                     model; MODEL_RELEASE: no later unit names the model).
#pragma once

#include <cstdint>

constexpr uint32_t kRouteHeaderBytes = 256;
constexpr uint32_t kRouteWrite = 0;
constexpr uint32_t kRouteRead = 16;
constexpr uint32_t kRouteWantWake = 32;
constexpr uint32_t kRouteCapacity = 48;
// No kernel record carries this tag (bpf/event.h's SW_REC_* end below it).
constexpr uint16_t kRouteMarkModel = 0xfffe;
