// Waking a scoring worker from the ring consumer thread.
//
// The consumer writes each worker's records into that worker's ring, a
// SharedArrayBuffer (see route_ring.h). A worker that found its ring empty
// sleeps in its event loop; JavaScript's Atomics.notify cannot be called
// from C++, so the worker registers a thread-safe function for its ring
// (wakeOn, from the worker's own thread) and the consumer calls it after
// writing. The registry is keyed by the ring's address: a worker that
// replaces a dead one registers again for the same ring.
#pragma once

#include <napi.h>

// wakeOn(ring: Uint8Array over the whole SharedArrayBuffer, callback): the
// callback runs on the calling thread each time the ring is woken. It holds
// no reference on the thread's event loop, and ends with the thread.
Napi::Value WakeOn(const Napi::CallbackInfo& info);

// Any thread: run the callback registered for this ring (if any), at most
// once per wake already pending.
void WakeRingReader(const void* ring);
