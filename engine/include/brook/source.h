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
#include <string_view>
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

// SourceOutput<T>: where a reader emits records (Flink's SourceOutput),
// implemented by the runtime. The WatermarkStrategy's timestamp assigner
// stamps each record; without an assigner, the timestamp passed here (or 0)
// is used. Used from the subtask's thread only, inside PollNext(). Each
// record costs one virtual call.
template <typename T>
class SourceOutput {
 public:
  virtual void Collect(const T& value, int64_t timestamp_ms) = 0;
  virtual void Collect(T&& value, int64_t timestamp_ms) = 0;
  void Collect(const T& value) { Collect(value, 0); }
  void Collect(T&& value) { Collect(std::move(value), 0); }
  // This output has no data for now (Flink's SourceOutput#markIdle): it no
  // longer holds back the watermark, until its next record makes it active
  // again. A reader that owns no split calls it on its ReaderOutput, so that
  // it never holds the job back.
  virtual void MarkIdle() = 0;
  // Emits a watermark on this output (Flink's SourceOutput#emitWatermark),
  // for readers whose input carries its watermarks (a Kafka exchange's
  // markers). It combines with the generator's (use a strategy that
  // generates none: WatermarkStrategy::NoWatermarks) and never moves this
  // output's watermark back; on a split output it counts as that split's.
  void EmitWatermark(int64_t watermark_ms) { DoEmitWatermark(watermark_ms); }

 protected:
  ~SourceOutput() = default;
  // EmitWatermark's implementation, by the runtime; the default ignores it
  // (test doubles).
  virtual void DoEmitWatermark(int64_t /*watermark_ms*/) {}
};

// ReaderOutput<T>: the reader's output, valid only during the PollNext() call
// it is passed to (as Flink's ReaderOutput).
//
// Split-local outputs (Flink's ReaderOutput#createOutputForSplit): a reader
// that reads several splits (Kafka partitions) whose timestamps advance
// independently emits each split's records to that split's output. Each has
// a watermark generator of its own (from the job's WatermarkStrategy; its
// timestamp assigner stamps the records as on the ReaderOutput), checkpointed
// under the split id, and the reader's watermark is the minimum over its
// split outputs that are neither idle nor released (one without a watermark
// yet holds it at kMinTimestampMs); when all are idle the reader is idle. A
// split is idle after MarkIdle() or, for an unbounded source, after the
// strategy's WithIdleness timeout without records, until its next record.
// MarkIdle() on the ReaderOutput marks every split idle. Idleness is for
// unbounded sources: a bounded one is never waiting for data, so there
// MarkIdle() has no effect and a reader whose splits are all released keeps
// its watermark until its end sends the maximum. A bounded source
// recomputes the minimum every `records_per_watermark` records (over all
// splits) and when a split is marked idle or released, so its watermarks
// depend only on the reader's calls, never on timing. A reader that uses
// split outputs emits no record to the ReaderOutput itself, and creates the
// outputs of the splits it owns before emitting (a split without an output
// holds nothing back). The reference stays valid until ReleaseOutputForSplit
// (a finished split, which then no longer holds back the watermark), across
// PollNext() calls; it is used inside PollNext() only. Creating and releasing
// look the split up by id; Collect on a split output costs one virtual call.
template <typename T>
class ReaderOutput : public SourceOutput<T> {
 public:
  using SourceOutput<T>::Collect;
  // Creates the output of `split_id` (e.g. "topic/3"), or returns the
  // existing one. After a restore, its generator (and idleness) resumes from
  // the state checkpointed under the same id, whichever subtask checkpointed
  // it (with kUnion, every old subtask's split states reach every reader).
  // A restored state that does not decode fails the job (kDataLoss).
  virtual SourceOutput<T>& CreateOutputForSplit(std::string_view split_id) = 0;
  virtual void ReleaseOutputForSplit(std::string_view split_id) = 0;

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
  // Checkpoint `checkpoint_id` is complete: every operator and sink has
  // made its state durable (Flink's SourceReader#notifyCheckpointComplete),
  // e.g. to commit the reader's offsets to the source system for monitoring.
  // Notifications may be skipped or subsumed by a later one. Called on the
  // subtask's thread between two PollNext() calls; a non-OK status fails the
  // job, so a reader for which failure is harmless counts it and returns OK.
  virtual absl::Status NotifyCheckpointComplete(int64_t /*checkpoint_id*/) {
    return absl::OkStatus();
  }
  // Restore: called once before Open() with the states snapshotted by the
  // readers now assigned to this subtask, in order of old subtask index
  // (Source::state_distribution() says which: by default one when
  // parallelism is unchanged; with kUnion all of them, from which the reader
  // keeps the splits it now owns).
  // kDataLoss for bytes that do not decode, kFailedPrecondition for a
  // position that does not fit the input (e.g. beyond the end of the file).
  virtual absl::Status RestoreState(std::vector<std::string> states) {
    if (states.empty()) return absl::OkStatus();
    return absl::UnimplementedError("this source cannot be restored from a checkpoint");
  }
};

// How a restored job hands the readers' checkpointed states to its new
// readers, possibly at another parallelism (Flink's operator list state).
enum class SourceStateDistribution {
  // New subtask i gets the states of old subtasks j with j % parallelism == i,
  // in order of j (Flink's ListState redistribution): the default.
  kRoundRobin,
  // Every new subtask gets every old subtask's state and takes from them the
  // splits it now owns (Flink's UnionListState, as its Kafka consumer): for
  // sources whose split ownership is a function of the parallelism.
  kUnion,
};

template <typename T>
class Source {
 public:
  virtual ~Source() = default;
  virtual Boundedness boundedness() const = 0;
  virtual SourceStateDistribution state_distribution() const {
    return SourceStateDistribution::kRoundRobin;
  }
  // Called once per source subtask, before the job's threads start.
  virtual absl::StatusOr<std::unique_ptr<SourceReader<T>>> CreateReader(
      const SourceReaderContext& ctx) = 0;
};

// CollectionSource<T> (values held in memory): brook/collection_source.h.

}  // namespace brook

#endif  // BROOK_SOURCE_H_
