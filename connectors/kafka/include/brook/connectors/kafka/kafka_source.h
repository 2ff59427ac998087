// File: brook/connectors/kafka/kafka_source.h
//
// KafkaSource<T>: records from Kafka topics, as Flink's KafkaSource, on
// librdkafka (no librdkafka header reaches this file: the reader's core is a
// non-template class in src/).
//
// Model (Flink's KafkaSource, without its enumerator thread):
//   - A split is one topic partition, with split id "TOPIC/PARTITION". The
//     partitions are listed once, when a reader opens (no discovery of
//     partitions added later), and each source subtask reads the partitions
//     KafkaPartitionOwner() gives it (Flink's KafkaSourceEnumerator#
//     getSplitOwner) through assign(): no group membership, no rebalance.
//   - A KafkaDeserializer turns each message into a record, a rejection or
//     nothing. The source emits std::variant<T, DeadLetter>, as FileSource<T>:
//     a rejection becomes DeadLetter{"kafka:TOPIC/PARTITION", offset, reason,
//     value} (DeadLetter::line_number holds the offset), and reading goes on.
//   - Each partition's records go to the reader's split output for that
//     partition (ReaderOutput::CreateOutputForSplit), so the job's watermark
//     strategy keeps one watermark (and idleness) per partition and the
//     reader emits the minimum; a bounded partition that reaches its stopping
//     offset releases its output. A reader that owns no partition is idle
//     (unbounded) or ends at once (bounded): it never holds the job back.
//   - Starting offsets: earliest, latest, the group's committed offsets (with
//     earliest or latest where none is committed), or the first offset whose
//     timestamp is >= a given epoch ms (the end of the partition when none
//     is). A partition restored from a checkpoint starts at its checkpointed
//     offset instead.
//   - Bounded mode (Flink's setBounded(OffsetsInitializer.latest())): each
//     partition stops at its high watermark queried when the reader opens; it
//     is finished when the position (last consumed offset + 1, or the start
//     offset) reaches that stopping offset, or librdkafka's consumer position
//     passes it (offsets without a record: transaction markers), never by
//     waiting for a record at it. Records produced later are not read (the
//     finished partition is paused).
//   - Order: a reader serves its partitions (sorted by topic, then partition)
//     in a fixed cyclic order, taking up to max_records_per_turn records from
//     one before moving to the next. In bounded mode, when the current
//     partition has nothing fetched yet, PollNext returns kNothingAvailable
//     without moving on, so the record sequence (and with position-based
//     watermarks, the output) is a pure function of the topic's contents,
//     whatever the timing, also after a restore. Unbounded readers move on
//     past an empty partition.
//   - Checkpoints: the snapshot holds each owned partition's next offset,
//     stopping offset and latest record timestamp, and the reader's cursor
//     (a versioned encoding). state_distribution() is kUnion: each restored
//     reader keeps the partitions it owns at the new parallelism (Flink's
//     union list state), so rescaling 1 -> 2 -> 1 loses and repeats nothing;
//     a partition in no state starts from the starting offsets. So a
//     checkpointed job over a topic reads each record exactly once.
//   - On NotifyCheckpointComplete the offsets snapshotted at that checkpoint
//     are committed to Kafka under group_id, asynchronously, for lag
//     monitoring only (Flink's commit.offsets.on.checkpoint); a failed commit
//     is counted in kafka_commit_failures, never fatal.
//
// Event time: a record's timestamp is what the deserializer leaves in its
// `timestamp_ms` argument, preset to the message's Kafka timestamp (the job's
// WatermarkStrategy assigner, if it has one, overrides it). A rejection gets
// the latest record timestamp of its partition (kMinTimestampMs before the
// first), so it moves no watermark.
//
// Metrics (the reader's MetricGroup; SPLIT = "TOPIC/PARTITION"; Prometheus
// shows the per-split ones as brook_kafka_*{topic=...,partition=...}):
//   kafka_records_in.SPLIT   counter  messages consumed from the partition
//   kafka_bytes_in.SPLIT     counter  their key + value bytes
//   kafka_consumer_lag.SPLIT gauge    high watermark - position (messages)
//   kafka_commits            counter  offset commits that succeeded
//   kafka_commit_failures    counter  offset commits that failed
//
// Thread-safety: the source is used while the job is built; each reader by
// its subtask's thread only. Each reader creates its own deserializer.
//
// Usage:
//   KafkaSourceOptions options;
//   options.bootstrap_servers = "localhost:9092";
//   options.topics = {"detections"};
//   options.group_id = "camera-top-k";
//   BROOK_ASSIGN_OR_RETURN(auto source, KafkaSource<Event>::Create(
//       options, [] { return std::make_unique<EventDeserializer>(); }));
//   auto events = env.FromSource(source, strategy, "kafka");
#ifndef BROOK_CONNECTORS_KAFKA_KAFKA_SOURCE_H_
#define BROOK_CONNECTORS_KAFKA_KAFKA_SOURCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/connectors/dead_letter.h"
#include "brook/source.h"
#include "brook/status.h"
#include "brook/time.h"

namespace brook::connectors {

// Where a partition without checkpointed offset starts (Flink's
// OffsetsInitializer).
enum class KafkaStartingOffsets {
  kEarliest,   // the partition's low watermark
  kLatest,     // its high watermark: only records produced after the start
  kCommitted,  // group_id's committed offset, else committed_fallback
  kTimestamp,  // the first offset with timestamp >= starting_timestamp_ms
};

struct KafkaSourceOptions {
  // bootstrap.servers: "HOST:PORT[,HOST:PORT...]".
  std::string bootstrap_servers;
  // The topics to read (at least one); every partition of each.
  std::vector<std::string> topics;
  // group.id: where offsets are committed on checkpoint completion and read
  // for kCommitted. Empty: nothing is committed (kCommitted is then
  // kInvalidArgument; librdkafka, which needs a group.id to assign(), gets a
  // placeholder). No group membership is used either way.
  std::string group_id;
  KafkaStartingOffsets starting_offsets = KafkaStartingOffsets::kEarliest;
  // For kCommitted, where no offset is committed: kEarliest or kLatest.
  KafkaStartingOffsets committed_fallback = KafkaStartingOffsets::kEarliest;
  // For kTimestamp: epoch ms.
  int64_t starting_timestamp_ms = 0;
  // Stop at the end offsets seen when each reader opens (see above).
  bool bounded = false;
  // Records taken from one partition before moving to the next (>= 1).
  int max_records_per_turn = 500;
  // Messages one PollNext() consumes at most (>= 1).
  int max_records_per_poll = 2000;
  // Commit offsets on checkpoint completion (needs group_id).
  bool commit_offsets_on_checkpoint = true;
  // Timeout of the metadata and offset queries made when a reader opens, ms.
  int64_t request_timeout_ms = 10000;
  // Scale-out (DESIGN.md §12): the job runs as `num_processes` processes
  // (>= 1) and this is `process_index` (0-based). A reader then owns the
  // partitions that Flink's owner formula gives its global subtask index
  // process_index * parallelism + subtask over num_processes * parallelism
  // subtasks, so the processes split every topic between them; the union
  // state of a restore is filtered the same way.
  int num_processes = 1;
  int process_index = 0;
  // Further librdkafka consumer properties (security.protocol, sasl.*,
  // fetch.*, client.id ...), applied in order after brook's own; they may
  // override them, except enable.auto.commit and enable.auto.offset.store,
  // which brook sets last to false.
  std::vector<std::pair<std::string, std::string>> properties;
};

// Sets options->starting_offsets (and starting_timestamp_ms) from
// "earliest", "latest", "committed" or an epoch ms ("1700000000000"), the
// camera job's --kafka_start. kInvalidArgument naming the text otherwise.
absl::Status ParseKafkaStartingOffsets(std::string_view text, KafkaSourceOptions* options);

// Java's String#hashCode of `s` (UTF-8, hashed as its UTF-16 code units, as
// Java does): s[0]*31^(n-1) + ... + s[n-1] in wrapping 32-bit arithmetic.
int32_t JavaStringHashCode(std::string_view s);

// The source subtask that reads `partition` of `topic` at `parallelism`,
// Flink's KafkaSourceEnumerator#getSplitOwner:
//   start = ((topic.hashCode() * 31) & 0x7FFFFFFF) % parallelism
//   owner = (start + partition) % parallelism
// so a topic's partitions go round-robin from a topic-dependent subtask.
int KafkaPartitionOwner(std::string_view topic, int partition, int parallelism);

// One consumed message, valid during the Deserialize call it is passed to.
struct KafkaMessage {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string_view key;       // empty for a null key
  std::string_view value;     // empty for a null value (a tombstone)
  int64_t timestamp_ms = -1;  // the message's timestamp, -1 when it has none
  // The value of the last header named `name`, if any (a lookup per call).
  std::optional<std::string_view> Header(std::string_view name) const;

  const void* native = nullptr;  // the librdkafka message; internal
};

// Turns a message into a record (Flink's KafkaRecordDeserializationSchema).
// One virtual call per message; implementations reuse `record`'s buffers.
template <typename T>
class KafkaDeserializer {
 public:
  enum class Result { kRecord, kRejected, kSkip };
  virtual ~KafkaDeserializer() = default;
  // kRecord: `record` is filled (it holds whatever the previous call left,
  // possibly moved from); `timestamp_ms`, preset to message.timestamp_ms,
  // may be set to the record's event time. kRejected: `reason` (cleared
  // before the call) says why, e.g. "item_name: empty"; the message becomes
  // a DeadLetter. kSkip: nothing is emitted (e.g. a tombstone).
  virtual Result Deserialize(const KafkaMessage& message, T& record, int64_t& timestamp_ms,
                             std::string& reason) = 0;
};

namespace internal {

// The non-template part of a KafkaSource reader: the librdkafka consumer,
// the partitions it owns, the cursor, the offsets, commits and metrics.
class KafkaReaderCore {
 public:
  enum class Event {
    kMessage,           // message() is the next message of partition split_id()
    kSplitFinished,     // bounded partition split_id() reached its stopping offset
    kNothingAvailable,  // nothing fetched for now
    kIdle,              // unbounded, owns no partition
    kEndOfInput,        // bounded, every owned partition finished
  };

  // kInvalidArgument for bad options (no topic, kCommitted without a group,
  // a property librdkafka rejects), kInternal when the client fails.
  static absl::StatusOr<std::unique_ptr<KafkaReaderCore>> Create(const KafkaSourceOptions& options,
                                                                 const SourceReaderContext& ctx);
  ~KafkaReaderCore();

  // Keeps the partitions this reader owns from every state (kUnion); before
  // Open. kDataLoss for bytes that do not decode.
  absl::Status Restore(const std::vector<std::string>& states);
  // Lists the partitions, resolves the start and stopping offsets and
  // assigns. kUnavailable when the cluster does not answer in time.
  absl::Status Open();
  // The next event; after kMessage, message() until the next call.
  absl::StatusOr<Event> Next();
  const KafkaMessage& message() const { return message_; }
  // The current partition: its index among the owned ones, "TOPIC/PARTITION",
  // and "kafka:TOPIC/PARTITION".
  int partition_index() const { return cursor_; }
  // The split ids of the partitions still to read, after Open().
  std::vector<std::string> UnfinishedSplitIds() const;
  const std::string& split_id() const;
  const std::string& dead_letter_source() const;
  // The latest record timestamp of the current partition.
  int64_t last_timestamp_ms() const;
  void set_last_timestamp_ms(int64_t timestamp_ms);

  absl::StatusOr<std::string> Snapshot(int64_t checkpoint_id);
  absl::Status NotifyCheckpointComplete(int64_t checkpoint_id);
  absl::Status Close();

 private:
  struct Rep;
  explicit KafkaReaderCore(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
  KafkaMessage message_;
  int cursor_ = 0;
};

}  // namespace internal

template <typename T>
class KafkaSource final : public Source<std::variant<T, DeadLetter>> {
 public:
  using Output = std::variant<T, DeadLetter>;
  using DeserializerFactory = std::function<std::unique_ptr<KafkaDeserializer<T>>()>;

  // Checks the options (kInvalidArgument: no bootstrap servers or topic,
  // kCommitted without group_id, max_records_* < 1, no factory). Contacts
  // no broker: each reader does when it opens, failing Open() with
  // kNotFound for a missing topic or kUnavailable when the cluster does not
  // answer within request_timeout_ms.
  static absl::StatusOr<std::shared_ptr<KafkaSource>> Create(KafkaSourceOptions options,
                                                             DeserializerFactory deserializer);

  Boundedness boundedness() const override {
    return options_.bounded ? Boundedness::kBounded : Boundedness::kContinuousUnbounded;
  }
  SourceStateDistribution state_distribution() const override {
    return SourceStateDistribution::kUnion;
  }
  absl::StatusOr<std::unique_ptr<SourceReader<Output>>> CreateReader(
      const SourceReaderContext& ctx) override {
    std::unique_ptr<KafkaDeserializer<T>> deserializer = deserializer_();
    if (deserializer == nullptr) {
      return absl::InvalidArgumentError("KafkaSource: the deserializer factory returned null");
    }
    BROOK_ASSIGN_OR_RETURN(auto core, internal::KafkaReaderCore::Create(options_, ctx));
    return std::unique_ptr<SourceReader<Output>>(
        new Reader(std::move(core), std::move(deserializer), options_.max_records_per_poll));
  }

  const KafkaSourceOptions& options() const { return options_; }

 private:
  using Core = internal::KafkaReaderCore;

  class Reader final : public SourceReader<Output> {
   public:
    Reader(std::unique_ptr<Core> core, std::unique_ptr<KafkaDeserializer<T>> deserializer,
           int max_records_per_poll)
        : core_(std::move(core)),
          deserializer_(std::move(deserializer)),
          max_records_per_poll_(max_records_per_poll) {}

    absl::Status Open() override { return core_->Open(); }
    absl::Status RestoreState(std::vector<std::string> states) override {
      return core_->Restore(states);
    }
    absl::StatusOr<std::string> SnapshotState(int64_t checkpoint_id) override {
      return core_->Snapshot(checkpoint_id);
    }
    absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) override {
      return core_->NotifyCheckpointComplete(checkpoint_id);
    }
    absl::Status Close() override { return core_->Close(); }

    absl::StatusOr<InputStatus> PollNext(ReaderOutput<Output>& output) override {
      if (!split_outputs_created_) {
        // Every partition holds the watermark back from the start: one
        // whose first record is still to come must not be overtaken.
        for (const std::string& id : core_->UnfinishedSplitIds()) output.CreateOutputForSplit(id);
        split_outputs_created_ = true;
      }
      SourceOutput<Output>* split = nullptr;
      int split_index = -1;
      for (int consumed = 0; consumed < max_records_per_poll_;) {
        BROOK_ASSIGN_OR_RETURN(const Core::Event event, core_->Next());
        switch (event) {
          case Core::Event::kMessage:
            if (core_->partition_index() != split_index) {
              split = &output.CreateOutputForSplit(core_->split_id());
              split_index = core_->partition_index();
            }
            Emit(*split);
            ++consumed;
            break;
          case Core::Event::kSplitFinished:
            output.ReleaseOutputForSplit(core_->split_id());
            split_index = -1;
            break;
          case Core::Event::kNothingAvailable:
            return consumed > 0 ? InputStatus::kMoreAvailable : InputStatus::kNothingAvailable;
          case Core::Event::kIdle:
            output.MarkIdle();
            return InputStatus::kNothingAvailable;
          case Core::Event::kEndOfInput:
            return InputStatus::kEndOfInput;
        }
      }
      return InputStatus::kMoreAvailable;
    }

   private:
    bool split_outputs_created_ = false;

    void Emit(SourceOutput<Output>& split) {
      const KafkaMessage& m = core_->message();
      int64_t timestamp_ms = m.timestamp_ms;
      reason_.clear();
      switch (deserializer_->Deserialize(m, record_, timestamp_ms, reason_)) {
        case KafkaDeserializer<T>::Result::kRecord:
          core_->set_last_timestamp_ms(timestamp_ms);
          split.Collect(Output(std::in_place_index<0>, std::move(record_)), timestamp_ms);
          break;
        case KafkaDeserializer<T>::Result::kRejected:
          split.Collect(
              Output(std::in_place_index<1>, DeadLetter{core_->dead_letter_source(), m.offset,
                                                        reason_, std::string(m.value)}),
              core_->last_timestamp_ms());
          break;
        case KafkaDeserializer<T>::Result::kSkip:
          break;
      }
    }

    std::unique_ptr<Core> core_;
    std::unique_ptr<KafkaDeserializer<T>> deserializer_;
    const int max_records_per_poll_;
    T record_{};
    std::string reason_;
  };

  KafkaSource(KafkaSourceOptions options, DeserializerFactory deserializer)
      : options_(std::move(options)), deserializer_(std::move(deserializer)) {}

  KafkaSourceOptions options_;
  DeserializerFactory deserializer_;
};

namespace internal {
// kInvalidArgument for options no reader could run with.
absl::Status ValidateKafkaSourceOptions(const KafkaSourceOptions& options);
}  // namespace internal

template <typename T>
absl::StatusOr<std::shared_ptr<KafkaSource<T>>> KafkaSource<T>::Create(
    KafkaSourceOptions options, DeserializerFactory deserializer) {
  BROOK_RETURN_IF_ERROR(internal::ValidateKafkaSourceOptions(options));
  if (!deserializer) return absl::InvalidArgumentError("KafkaSource: no deserializer factory");
  return std::shared_ptr<KafkaSource>(new KafkaSource(std::move(options), std::move(deserializer)));
}

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_KAFKA_KAFKA_SOURCE_H_
