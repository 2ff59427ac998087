// custom_source: a Source of one's own (Flink's Source / SourceReader split
// model). NumberSource emits the integers [0, n): reader i of p owns the
// numbers i, i + p, ... and checkpoints its next number, so a job over it can
// be restored exactly once. The job keeps the primes and counts them.
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "brook/brook.h"

class NumberSource final : public brook::Source<int64_t> {
 public:
  explicit NumberSource(int64_t n) : n_(n) {}
  brook::Boundedness boundedness() const override { return brook::Boundedness::kBounded; }
  absl::StatusOr<std::unique_ptr<brook::SourceReader<int64_t>>> CreateReader(
      const brook::SourceReaderContext& ctx) override {
    return std::unique_ptr<brook::SourceReader<int64_t>>(
        new Reader(n_, ctx.subtask_index, ctx.parallelism));
  }

 private:
  class Reader final : public brook::SourceReader<int64_t> {
   public:
    Reader(int64_t n, int64_t first, int64_t step) : n_(n), next_(first), step_(step) {}
    // Emits up to 1,024 numbers per call: the runtime serves timers and
    // checkpoint barriers between calls, so a call must not run long.
    absl::StatusOr<brook::InputStatus> PollNext(brook::ReaderOutput<int64_t>& out) override {
      for (int i = 0; i < 1024 && next_ < n_; ++i, next_ += step_) out.Collect(next_, next_);
      return next_ < n_ ? brook::InputStatus::kMoreAvailable : brook::InputStatus::kEndOfInput;
    }
    // The position in the split: the next number to emit.
    absl::StatusOr<std::string> SnapshotState(int64_t /*checkpoint_id*/) override {
      return brook::SerializeToString(next_);
    }
    absl::Status RestoreState(std::vector<std::string> states) override {
      if (states.empty()) return absl::OkStatus();
      if (states.size() != 1) return absl::FailedPreconditionError("restores one reader's state");
      return brook::DeserializeFromString(states[0], &next_);
    }

   private:
    int64_t n_;
    int64_t next_;
    int64_t step_;
  };

  int64_t n_;
};

bool IsPrime(int64_t v) {
  if (v < 2) return false;
  for (int64_t d = 2; d * d <= v; ++d) {
    if (v % d == 0) return false;
  }
  return true;
}

int main() {
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  auto sink = std::make_shared<brook::CollectSink<int64_t>>();
  env.FromSource<int64_t>(std::make_shared<NumberSource>(100'000),
                          brook::WatermarkStrategy<int64_t>::ForMonotonousTimestamps(), "numbers")
      .Filter(&IsPrime, "primes")
      .SinkTo(sink, "collect");
  if (absl::Status s = env.Execute("custom-source"); !s.ok()) {
    std::cerr << "custom_source: " << s << "\n";
    return 1;
  }
  const size_t primes = sink->values().size();
  std::cout << primes << " primes below 100000\n";
  return primes == 9592 ? 0 : 1;
}
