// Addon entry: one class, and one process-wide registry (wake.h: which
// worker thread to wake for which ring), so it loads in any number of
// worker threads.
#include <napi.h>

#include "collector.h"
#include "event.h"
#include "pidfd.h"
#include "wake.h"

namespace {

// The record layout as the C++ compiler sees it, for the decoder check.
Napi::Object RecordLayout(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("size", Napi::Number::New(env, sizeof(sw_event)));
  o.Set("ts_ns", Napi::Number::New(env, offsetof(sw_event, ts_ns)));
  o.Set("tid", Napi::Number::New(env, offsetof(sw_event, tid)));
  o.Set("nr", Napi::Number::New(env, offsetof(sw_event, nr)));
  o.Set("slot", Napi::Number::New(env, offsetof(sw_event, slot)));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeCollector", Collector::Init(env));
  exports.Set("wakeOn", Napi::Function::New(env, WakeOn, "wakeOn"));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal, "pidfdSendSignal"));
  exports.Set("taskIds", Napi::Function::New(env, TaskIds, "taskIds"));
  exports.Set("taskIdsFields", Napi::Number::New(env, sizeof(sw_task_ids) / sizeof(uint32_t)));
  exports.Set("recordLayout", RecordLayout(env));
  exports.Set("slotAll", Napi::Number::New(env, SW_SLOT_ALL));
  // How a target id packs slot and generation, for the decoder check.
  Napi::Object id = Napi::Object::New(env);
  id.Set("slotBits", Napi::Number::New(env, SW_SLOT_BITS));
  id.Set("slotMask", Napi::Number::New(env, SW_SLOT_MASK));
  id.Set("generationMask", Napi::Number::New(env, SW_GEN_MASK));
  id.Set("limit", Napi::Number::New(env, SW_TARGET_ID_LIMIT));
  exports.Set("targetId", id);
  return exports;
}

}  // namespace

NODE_API_MODULE(syswarden, Init)
