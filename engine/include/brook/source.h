// File: brook/source.h
//
// Sources, in the shape of Flink's Source/SourceReader split model: a Source
// is a factory, shared by the job; each source subtask gets its own
// SourceReader, which owns the input splits that subtask `subtask_index` of
// `parallelism` is assigned (a file source: the whole file at parallelism 1;
// a Kafka source would own the partitions i, i + parallelism, ...), and knows
// its position in each, so that a checkpoint can record it.
//
// The runtime calls PollNext() in a loop from the subtask's thread, and in
// between serves timers and emits watermarks, so a reader must not block for
// long: return kNothingAvailable instead and the runtime waits a little.
#ifndef BROOK_SOURCE_H_
#define BROOK_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/metrics.h"

namespace brook {

// Whether a source ends (a file) or runs until cancelled (a live stream).
// Bounded sources emit watermarks by input position (deterministic) and the
// maximum watermark at their end; unbounded ones emit them periodically in
// processing time.
enum class Boundedness { kBounded, kContinuousUnbounded };

// What PollNext() reports (as Flink's InputStatus).
enum class InputStatus { kMoreAvailable, kNothingAvailable, kEndOfInput };

// ReaderOutput<T>: where a reader emits records, implemented by the runtime
// (as Flink's ReaderOutput). The WatermarkStrategy's timestamp assigner
// stamps each record; without an assigner, the timestamp passed here (or 0)
// is used. Valid only during the PollNext() call it is passed to; called
// from the subtask's thread only. Each record costs one virtual call.
template <typename T>
class ReaderOutput {
 public:
  virtual void Collect(const T& value, int64_t timestamp_ms) = 0;
  virtual void Collect(T&& value, int64_t timestamp_ms) = 0;
  void Collect(const T& value) { Collect(value, 0); }
  void Collect(T&& value) { Collect(std::move(value), 0); }

 protected:
  ~ReaderOutput() = default;
};

struct SourceReaderContext {
  int subtask_index = 0;
  int parallelism = 1;
  MetricGroup* metrics = nullptr;
};

template <typename T>
class SourceReader {
 public:
  virtual ~SourceReader() = default;
  virtual absl::Status Open() { return absl::OkStatus(); }
  // Emits the next records (about a batch: up to a few thousand) to `output`.
  // kNothingAvailable: call again later; kEndOfInput: this reader is done.
  // A non-OK status fails the job (malformed records should instead be
  // counted and routed to a side output by the reader or a later operator).
  virtual absl::StatusOr<InputStatus> PollNext(ReaderOutput<T>& output) = 0;
  virtual absl::Status Close() { return absl::OkStatus(); }

  // Checkpointing (DESIGN.md §7), as Flink's SourceReader#snapshotState: the
  // reader's position in its splits (a file offset and line number, a
  // generator's state), as bytes, such that a reader restored from them emits
  // exactly the records after the last one emitted before this call. Called
  // on the subtask's thread between two PollNext() calls. The default,
  // kUnimplemented, means the source cannot be replayed (stdin, a socket):
  // checkpoints are then declined with that message.
  virtual absl::StatusOr<std::string> SnapshotState(int64_t /*checkpoint_id*/) {
    return absl::UnimplementedError("this source cannot be replayed: it does not checkpoint");
  }
  // Restore: called once before Open() with the states snapshotted by the
  // readers now assigned to this subtask (one when parallelism is unchanged).
  // kDataLoss for bytes that do not decode, kFailedPrecondition for a
  // position that does not fit the input (e.g. beyond the end of the file).
  virtual absl::Status RestoreState(std::vector<std::string> states) {
    if (states.empty()) return absl::OkStatus();
    return absl::UnimplementedError("this source cannot be restored from a checkpoint");
  }
};

template <typename T>
class Source {
 public:
  virtual ~Source() = default;
  virtual Boundedness boundedness() const = 0;
  // Called once per source subtask, before the job's threads start.
  virtual absl::StatusOr<std::unique_ptr<SourceReader<T>>> CreateReader(
      const SourceReaderContext& ctx) = 0;
};

// CollectionSource<T> (values held in memory): brook/collection_source.h.

}  // namespace brook

#endif  // BROOK_SOURCE_H_
