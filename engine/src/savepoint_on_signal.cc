#include "brook/savepoint_on_signal.h"

#include <pthread.h>
#include <signal.h>

#include <ctime>
#include <utility>

namespace brook {

void SavepointOnSignal::BlockSignal(int signal) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signal);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

SavepointOnSignal::SavepointOnSignal(
    std::function<absl::StatusOr<std::string>()> trigger,
    std::function<void(const absl::StatusOr<std::string>& path)> report, int signal)
    : thread_([this, trigger = std::move(trigger), report = std::move(report), signal] {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, signal);
        const timespec poll = {0, 100'000'000};  // 100 ms: how soon the thread ends
        while (!stop_) {
          if (sigtimedwait(&set, nullptr, &poll) == signal) report(trigger());
        }
      }) {}

SavepointOnSignal::~SavepointOnSignal() {
  stop_ = true;
  thread_.join();
}

}  // namespace brook
