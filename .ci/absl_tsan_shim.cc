// File: .ci/absl_tsan_shim.cc
//
// Lets ThreadSanitizer see absl::Mutex and absl::CondVar when Abseil itself
// was not built with -fsanitize=thread (Debian's libabsl is not). Without it
// TSan sees none of the happens-before edges those locks create and reports
// every access guarded by them as a data race.
//
// Built as a shared library and LD_PRELOADed into a TSan test binary by
// .ci/run. It interposes the (exported, non-inline) lock functions of
// libabsl_synchronization.so, calls the real ones through dlsym(RTLD_NEXT),
// and tells TSan about each acquire/release with __tsan_acquire/__tsan_release
// (resolved from the binary's libtsan at load time). Readers are modelled as
// writers: that can hide a race between two readers, never invent one.
//
// It also turns off Abseil's own deadlock detection (on in Debian's build):
// its lock graph is guarded by an internal spin lock TSan cannot see either,
// so every Mutex destructor racing with a Lock elsewhere would be reported.
//
// Not modelled: absl::Condition evaluation outside a held lock annotation
// (Await/LockWhen), absl::Notification::HasBeenNotified's fast path. brook's
// engine uses neither.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/config.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace {

#define BROOK_STR2(x) #x
#define BROOK_STR(x) BROOK_STR2(x)

// Itanium mangling of absl::<inline ns>::<cls>::<rest>, e.g. "5Mutex4LockEv".
std::string Mangled(const char* cls_and_rest) {
#ifdef ABSL_OPTION_INLINE_NAMESPACE_NAME
  const std::string ns = BROOK_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  return "_ZN4absl" + std::to_string(ns.size()) + ns + cls_and_rest;
#else
  return std::string("_ZN4absl") + cls_and_rest;
#endif
}

template <typename Fn>
Fn Real(const char* cls_and_rest) {
  const std::string name = Mangled(cls_and_rest);
  void* sym = dlsym(RTLD_NEXT, name.c_str());
  if (sym == nullptr) {
    std::fprintf(stderr, "absl_tsan_shim: cannot find %s\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(sym);
}

__attribute__((constructor)) void DisableAbslDeadlockGraph() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex4LockEv");
  real(this);
  __tsan_acquire(this);
}
void Mutex::ReaderLock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  real(this);
  __tsan_acquire(this);
}
bool Mutex::TryLock() {
  static auto real = Real<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}
bool Mutex::ReaderTryLock() {
  static auto real = Real<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}
void Mutex::Unlock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex6UnlockEv");
  __tsan_release(this);
  real(this);
}
void Mutex::ReaderUnlock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  __tsan_release(this);
  real(this);
}
void Mutex::LockWhen(const Condition& cond) {
  static auto real = Real<void (*)(Mutex*, const Condition&)>("5Mutex8LockWhenERKNS0_9ConditionE");
  real(this, cond);
  __tsan_acquire(this);
}
void Mutex::Await(const Condition& cond) {
  static auto real = Real<void (*)(Mutex*, const Condition&)>("5Mutex5AwaitERKNS0_9ConditionE");
  __tsan_release(this);
  real(this, cond);
  __tsan_acquire(this);
}

void CondVar::Wait(Mutex* mu) {
  static auto real = Real<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  real(this, mu);
  __tsan_acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(mu);
  const bool timed_out = real(this, mu, timeout);
  __tsan_acquire(mu);
  return timed_out;
}
bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  __tsan_release(mu);
  const bool timed_out = real(this, mu, deadline);
  __tsan_acquire(mu);
  return timed_out;
}

ABSL_NAMESPACE_END
}  // namespace absl
