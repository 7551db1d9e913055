#include "wake.h"

#include <memory>
#include <mutex>
#include <unordered_map>

namespace {

struct Waker {
  std::mutex mu;
  napi_threadsafe_function tsfn = nullptr;  // null once finalized
};

struct Registration {
  const void* ring;
  std::shared_ptr<Waker> waker;
};

std::mutex registry_mu;
// Never destroyed: a consumer thread may still look here while the process exits.
auto* registry = new std::unordered_map<const void*, std::shared_ptr<Waker>>();

void CallJs(napi_env env, napi_value callback, void*, void*) {
  if (env == nullptr || callback == nullptr) return;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  // An exception is the worker's own to report (its callback catches); none may stay pending here.
  if (napi_call_function(env, undefined, callback, 0, nullptr, nullptr) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
  }
}

// Runs on the registering thread when its environment ends (or the function is released).
void Finalize(napi_env, void* data, void*) {
  std::unique_ptr<Registration> reg(static_cast<Registration*>(data));
  {
    std::lock_guard<std::mutex> lock(registry_mu);
    auto it = registry->find(reg->ring);
    if (it != registry->end() && it->second == reg->waker) registry->erase(it);
  }
  std::lock_guard<std::mutex> lock(reg->waker->mu);
  reg->waker->tsfn = nullptr;
}

}  // namespace

Napi::Value WakeOn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsFunction())
    throw Napi::TypeError::New(env, "wakeOn takes a Uint8Array over a ring and a function");
  Napi::Uint8Array ring = info[0].As<Napi::Uint8Array>();
  if (ring.ByteOffset() != 0 || ring.ByteLength() == 0) throw Napi::RangeError::New(env, "wakeOn needs a view of the whole ring");
  const void* key = ring.Data();
  auto waker = std::make_shared<Waker>();
  auto* reg = new Registration{key, waker};
  napi_threadsafe_function tsfn = nullptr;
  napi_value name = Napi::String::New(env, "syswarden-ring-wake");
  // A queue of one: a wake that is already pending covers the next.
  napi_status st = napi_create_threadsafe_function(env, info[1], nullptr, name, 1, 1, reg, Finalize, nullptr, CallJs, &tsfn);
  if (st != napi_ok) {
    delete reg;
    throw Napi::Error::New(env, "could not create the ring's wake function");
  }
  napi_unref_threadsafe_function(env, tsfn);
  {
    std::lock_guard<std::mutex> lock(waker->mu);
    waker->tsfn = tsfn;
  }
  std::lock_guard<std::mutex> lock(registry_mu);
  (*registry)[key] = waker;
  return env.Undefined();
}

void WakeRingReader(const void* ring) {
  std::shared_ptr<Waker> waker;
  {
    std::lock_guard<std::mutex> lock(registry_mu);
    auto it = registry->find(ring);
    if (it == registry->end()) return;
    waker = it->second;
  }
  std::lock_guard<std::mutex> lock(waker->mu);
  // napi_queue_full: a wake is pending already; napi_closing: the thread is ending.
  if (waker->tsfn) napi_call_threadsafe_function(waker->tsfn, nullptr, napi_tsfn_nonblocking);
}
