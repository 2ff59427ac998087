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

#include "brook/record.h"
#include "brook/source.h"
#include "gtest/gtest.h"

namespace brook_test {

// Writes `contents` to the test temp directory as `name`; returns its path.
inline std::string WriteTempFile(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  EXPECT_TRUE(out.good()) << path;
  return path;
}

// Drives a SourceReader as the runtime does (Open, then PollNext between
// snapshots), through the public ReaderOutput interface, capturing what it
// emits with the timestamps the reader gave.
template <typename T>
class SourceReaderDriver : public brook::ReaderOutput<T> {
 public:
  // `describe` prints one emitted record (value and timestamp), for Take().
  explicit SourceReaderDriver(
      std::unique_ptr<brook::SourceReader<T>> reader,
      std::function<std::string(const brook::StreamRecord<T>&)> describe = nullptr)
      : reader_(std::move(reader)), describe_(std::move(describe)) {}

  absl::Status Open() { return reader_->Open(); }
  // Polls at most `polls` times (-1: to the end); true at the end of input.
  absl::StatusOr<bool> Poll(int polls) {
    for (int i = 0; polls < 0 || i < polls; ++i) {
      auto st = reader_->PollNext(*this);
      if (!st.ok()) return st.status();
      if (*st == brook::InputStatus::kEndOfInput) return true;
    }
    return false;
  }
  // The records emitted since the last Take(), described.
  std::vector<std::string> Take() {
    std::vector<std::string> out;
    for (const auto& r : records_) out.push_back(describe_(r));
    records_.clear();
    return out;
  }
  const std::vector<brook::StreamRecord<T>>& records() const { return records_; }
  brook::SourceReader<T>& reader() { return *reader_; }

  void Collect(const T& value, int64_t timestamp_ms) override {
    records_.push_back({timestamp_ms, value});
  }
  void Collect(T&& value, int64_t timestamp_ms) override {
    records_.push_back({timestamp_ms, std::move(value)});
  }
  void MarkIdle() override {}
  brook::SourceOutput<T>& CreateOutputForSplit(std::string_view) override { return *this; }
  void ReleaseOutputForSplit(std::string_view) override {}

 private:
  std::unique_ptr<brook::SourceReader<T>> reader_;
  std::function<std::string(const brook::StreamRecord<T>&)> describe_;
  std::vector<brook::StreamRecord<T>> records_;
};

}  // namespace brook_test

#endif  // BROOK_TESTS_CONNECTORS_TEST_UTIL_H_
