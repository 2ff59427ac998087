// File: tests/connectors/test_util.h
//
// Helpers for tests of sources (here and in tests/camera):
// SourceReaderDriver<T> drives a SourceReader as the runtime does (PollNext
// between snapshots), capturing what it emits; WriteTempFile writes input.
#ifndef BROOK_TESTS_CONNECTORS_TEST_UTIL_H_
#define BROOK_TESTS_CONNECTORS_TEST_UTIL_H_

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "brook/internal/output.h"
#include "brook/internal/subtask.h"
#include "brook/source.h"
#include "brook/watermark_strategy.h"
#include "gtest/gtest.h"

namespace brook_test {

// Writes `contents` to the test temp directory as `name`; returns its path.
inline std::string WriteTempFile(const std::string& name, const std::string& contents) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  EXPECT_TRUE(out.good()) << path;
  return path;
}

template <typename T>
class SourceReaderDriver {
 public:
  // `describe` prints one emitted record (value and timestamp).
  SourceReaderDriver(std::unique_ptr<brook::SourceReader<T>> reader,
                     std::function<std::string(const brook::StreamRecord<T>&)> describe)
      : raw_(reader.get()),
        describe_(std::move(describe)),
        driver_(std::move(reader), brook::WatermarkStrategy<T>::NoWatermarks(),
                brook::Boundedness::kBounded) {}

  absl::Status Open() {
    driver_.Setup(
        brook::internal::OperatorSetup{"test-job", "source", 0, 1, 128, nullptr, nullptr});
    driver_.SetMainOutput(&output_);
    return driver_.Open();
  }
  // Polls at most `polls` times (-1: to the end); true at the end of input.
  absl::StatusOr<bool> Poll(int polls) {
    for (int i = 0; polls < 0 || i < polls; ++i) {
      auto st = driver_.Poll();
      if (!st.ok()) return st.status();
      if (absl::Status f = driver_.FlushOutputs(); !f.ok()) return f;
      if (*st == brook::InputStatus::kEndOfInput) return true;
    }
    return false;
  }
  std::vector<std::string> Take() {
    std::vector<std::string> out;
    for (const auto& r : capture_.records) out.push_back(describe_(r));
    capture_.records.clear();
    return out;
  }
  brook::SourceReader<T>& reader() { return *raw_; }

 private:
  struct Capture final : brook::internal::RecordConsumer<T> {
    absl::Status ProcessBatch(std::vector<brook::StreamRecord<T>>& batch) override {
      for (auto& r : batch) records.push_back(std::move(r));
      return absl::OkStatus();
    }
    absl::Status ProcessWatermark(int64_t) override { return absl::OkStatus(); }
    absl::Status ProcessWatermarkStatus(bool) override { return absl::OkStatus(); }
    absl::Status EndInput() override { return absl::OkStatus(); }
    std::vector<brook::StreamRecord<T>> records;
  };
  brook::SourceReader<T>* raw_;
  std::function<std::string(const brook::StreamRecord<T>&)> describe_;
  brook::internal::SourceDriver<T> driver_;
  Capture capture_;
  brook::internal::Output<T> output_{{&capture_}, nullptr};
};

}  // namespace brook_test

#endif  // BROOK_TESTS_CONNECTORS_TEST_UTIL_H_
