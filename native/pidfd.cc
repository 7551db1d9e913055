// Signals a process through a pidfd: the fd pins the process it was opened
// for, so a signal sent through it can never reach another process that was
// given the same pid number after the first one exited (pid reuse). The
// policy (which process, after which checks) lives in TypeScript
// (src/response/kill.ts); this is the mechanism alone.
#include "pidfd.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace {

const char* ErrnoName(int err) {
  switch (err) {
    case ESRCH: return "ESRCH";
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case ENOSYS: return "ENOSYS";
    case EBADF: return "EBADF";
    default: return "EUNKNOWN";
  }
}

Napi::Error ErrnoError(Napi::Env env, const char* call, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(call) + ": " + std::strerror(err));
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, call));
  return e;
}

int32_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* what, int32_t min) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d != static_cast<int32_t>(d) || d < min) throw Napi::RangeError::New(info.Env(), std::string(what) + " is out of range");
  return static_cast<int32_t>(d);
}

}  // namespace

// pidfdOpen(pid): a close-on-exec fd for the process (close it with fs.closeSync).
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  int32_t pid = IntArg(info, 0, "pid", 1);
  long fd = syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0u);
  if (fd < 0) throw ErrnoError(info.Env(), "pidfd_open", errno);
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

// pidfdSendSignal(fd, sig): sig 0 checks that the process has not been reaped.
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  int32_t fd = IntArg(info, 0, "fd", 0);
  int32_t sig = IntArg(info, 1, "signal", 0);
  if (syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0u) != 0) throw ErrnoError(info.Env(), "pidfd_send_signal", errno);
  return info.Env().Undefined();
}
