// File: brook/restore_log_listener.h
//
// RestoreLogListener: a JobListener (brook/job_listener.h) that says where a
// run resumed from, as lines to `log`, before the job starts:
//   "skipped corrupt or incomplete checkpoint <path>: <reason>"  (each one)
//   "restored from <path>"                        (when one was restored)
// Nothing when the run starts empty. `log` is called from the thread that
// runs Execute(); register with StreamExecutionEnvironment::RegisterJobListener.
#ifndef BROOK_RESTORE_LOG_LISTENER_H_
#define BROOK_RESTORE_LOG_LISTENER_H_

#include <functional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "brook/job_listener.h"

namespace brook {

class RestoreLogListener final : public JobListener {
 public:
  explicit RestoreLogListener(std::function<void(const std::string& line)> log)
      : log_(std::move(log)) {}

  void OnRestored(const RestoreInfo& info) override {
    for (const std::string& skipped : info.skipped) {
      log_(absl::StrCat("skipped corrupt or incomplete checkpoint ", skipped));
    }
    if (!info.path.empty()) log_(absl::StrCat("restored from ", info.path));
  }

 private:
  std::function<void(const std::string& line)> log_;
};

}  // namespace brook

#endif  // BROOK_RESTORE_LOG_LISTENER_H_
