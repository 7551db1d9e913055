// Signals through a pidfd (safe against pid reuse): see pidfd.cc.
#pragma once

#include <napi.h>

Napi::Value PidfdOpen(const Napi::CallbackInfo& info);
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info);
