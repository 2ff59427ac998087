// File: brook/savepoint_on_signal.h
//
// SavepointOnSignal: takes a savepoint of a running job when the process
// receives a signal (SIGUSR1 by default), so that an operator can save a
// job embedded in a binary without an API call (Flink: `flink savepoint`).
//
//   brook::SavepointOnSignal::BlockSignal();  // in main(), before any thread
//   ...
//   brook::SavepointOnSignal savepoints(
//       [&] { return env.TriggerSavepoint(); },
//       [](const absl::StatusOr<std::string>& path) { /* log it */ });
//   absl::Status s = env.Execute("job");
//
// A signal handler may not take locks, so there is none: the signal is
// blocked in every thread (BlockSignal() before other threads start, which
// inherit the mask) and collected by a thread of this object's own, which
// calls `trigger` (it blocks until the savepoint completes) and hands the
// result to `report`. Signals that arrive while no SavepointOnSignal exists
// stay pending. Thread-safety: `trigger` and `report` run on that thread.
#ifndef BROOK_SAVEPOINT_ON_SIGNAL_H_
#define BROOK_SAVEPOINT_ON_SIGNAL_H_

#include <atomic>
#include <csignal>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace brook {

class SavepointOnSignal {
 public:
  // SavepointOnSignal::BlockSignal(): blocks `signal` in the calling thread
  // and so in every thread it starts afterwards.
  static void BlockSignal(int signal = SIGUSR1);

  SavepointOnSignal(std::function<absl::StatusOr<std::string>()> trigger,
                    std::function<void(const absl::StatusOr<std::string>& path)> report,
                    int signal = SIGUSR1);
  // Stops the thread (within 100 ms, or once a savepoint in progress ends).
  ~SavepointOnSignal();
  SavepointOnSignal(const SavepointOnSignal&) = delete;
  SavepointOnSignal& operator=(const SavepointOnSignal&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace brook

#endif  // BROOK_SAVEPOINT_ON_SIGNAL_H_
