// Process-wide set-up of brook_engine_test under ThreadSanitizer (CI's tsan
// phase runs this binary only).
#include "absl/synchronization/mutex.h"

namespace {

#if defined(__SANITIZE_THREAD__)
// Debian's Abseil is built without NDEBUG, so every absl::Mutex::Lock() runs
// Abseil's deadlock detector, whose lock graph is guarded by an internal
// spinlock that ThreadSanitizer cannot see (the library is not instrumented;
// .ci/absl_tsan_shim.cc covers only Mutex/CondVar themselves). Two jobs in one
// process then show up as a false race inside GraphCycles. Switch the
// detector off for TSan runs only.
const bool kAbslDeadlockDetectionOff = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();
#endif

}  // namespace
