// KafkaExchange's non-template part: topic creation, the sink side (routing,
// the message prefix, sequence numbers, markers) and the source side
// (decoding, deduplication by (task, sequence), per-task watermarks and end
// of input). The protocol is described in kafka_exchange.h and docs/kafka.md.
#include "brook/connectors/kafka/kafka_exchange.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "brook/time.h"
#include "rdkafka_util.h"

namespace brook::connectors {
namespace {

using kafka_internal::KafkaError;
using kafka_internal::KafkaHandle;

// The message prefix (kafka_exchange.h, "Message layout").
constexpr uint8_t kFormatVersion = 1;
enum class Kind : uint8_t { kRecord = 0, kWatermark = 1, kEndOfInput = 2 };
constexpr size_t kMarkerSize = 2 + 4 + 8;
constexpr size_t kRecordPrefixSize = 2 + 4 + 8 + 8;

void WritePrefix(std::string& value, Kind kind, int32_t task, int64_t number) {
  DataOutputView out(&value);
  out.WriteUint8(kFormatVersion);
  out.WriteUint8(static_cast<uint8_t>(kind));
  out.WriteInt32(task);
  out.WriteInt64(number);
}

int TimeoutMs(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, INT32_MAX));
}

// The partition count of `topic` from a metadata request naming it (which
// makes a cluster that auto-creates topics create it); 0 while unknown.
absl::StatusOr<int> TopicPartitions(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (rkt == nullptr) return KafkaError(rd_kafka_last_error(), "KafkaExchange: topic handle");
  const struct rd_kafka_metadata* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaError(err, absl::StrCat("KafkaExchange: metadata of ", topic));
  }
  int count = 0;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      count = md->topics[i].partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(md);
  return count;
}

// CreateTopics; OK when created or already there. Any error (no admin API,
// not authorised) is returned for the caller to fall back on.
absl::Status CreateTopic(rd_kafka_t* rk, const std::string& topic, int partitions,
                         int timeout_ms) {
  char err[512];
  rd_kafka_NewTopic_t* nt =
      rd_kafka_NewTopic_new(topic.c_str(), partitions, /*replication_factor=*/-1, err, sizeof(err));
  if (nt == nullptr) return absl::InvalidArgumentError(absl::StrCat("KafkaExchange: ", err));
  kafka_internal::KafkaQueue queue(rd_kafka_queue_new(rk));
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, err, sizeof(err));
  rd_kafka_CreateTopics(rk, &nt, 1, options, queue.get());
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), timeout_ms + 1000);
  if (ev == nullptr) return absl::UnavailableError("KafkaExchange: CreateTopics: no answer");
  absl::Status status;
  if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = KafkaError(rd_kafka_event_error(ev), "KafkaExchange: CreateTopics");
  } else if (const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(ev)) {
    size_t n = 0;
    const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &n);
    for (size_t i = 0; i < n; ++i) {
      const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(topics[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        status = KafkaError(e, absl::StrCat("KafkaExchange: creating topic ", topic));
      }
    }
  }
  rd_kafka_event_destroy(ev);
  return status;
}

}  // namespace

absl::Status ValidateKafkaExchangeOptions(const KafkaExchangeOptions& o) {
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("KafkaExchange: ", std::string(what)));
  };
  if (o.bootstrap_servers.empty()) return bad("no bootstrap servers");
  if (o.topic.empty()) return bad("no topic");
  if (o.partitions < 1) return bad(absl::StrCat("partitions=", o.partitions, " (must be >= 1)"));
  if (o.num_processes < 1) {
    return bad(absl::StrCat("num_processes=", o.num_processes, " (must be >= 1)"));
  }
  if (o.process_index < 0 || o.process_index >= o.num_processes) {
    return bad(absl::StrCat("process_index=", o.process_index, " is outside [0, num_processes=",
                            o.num_processes, ")"));
  }
  if (o.upstream_parallelism < 1) {
    return bad(absl::StrCat("upstream_parallelism=", o.upstream_parallelism, " (must be >= 1)"));
  }
  if (static_cast<int64_t>(o.num_processes) * o.upstream_parallelism > INT32_MAX) {
    return bad("num_processes * upstream_parallelism overflows");
  }
  if (o.max_parallelism < 1) {
    return bad(absl::StrCat("max_parallelism=", o.max_parallelism, " (must be >= 1)"));
  }
  if (o.flush_timeout <= absl::ZeroDuration()) return bad("flush_timeout must be positive");
  if (o.request_timeout_ms < 1) return bad("request_timeout_ms must be >= 1");
  if (o.max_records_per_poll < 1) return bad("max_records_per_poll must be >= 1");
  return absl::OkStatus();
}

int KafkaExchangePartition(int key_group, int max_parallelism, int partitions) {
  return ComputeOperatorIndexForKeyGroup(max_parallelism, partitions, key_group);
}

absl::StatusOr<int> EnsureKafkaTopic(const std::string& bootstrap_servers,
                                     const std::string& topic, int partitions,
                                     const KafkaProperties& properties, absl::Duration timeout) {
  KafkaProperties props = {{"bootstrap.servers", bootstrap_servers}, {"log_level", "3"}};
  props.insert(props.end(), properties.begin(), properties.end());
  BROOK_ASSIGN_OR_RETURN(kafka_internal::KafkaConf conf, kafka_internal::MakeConf(props));
  BROOK_ASSIGN_OR_RETURN(KafkaHandle rk,
                         kafka_internal::NewClient(RD_KAFKA_PRODUCER, std::move(conf)));
  const absl::Time deadline = absl::Now() + timeout;
  const int timeout_ms = TimeoutMs(timeout);
  // Exists already: nothing to create (and no admin rights needed).
  BROOK_ASSIGN_OR_RETURN(int count, TopicPartitions(rk.get(), topic, timeout_ms));
  if (count > 0) return count;
  // Where CreateTopics fails (no admin API, not authorised), the metadata
  // requests below may still auto-create the topic.
  (void)CreateTopic(rk.get(), topic, partitions, timeout_ms);
  for (;;) {
    BROOK_ASSIGN_OR_RETURN(count,
                           TopicPartitions(rk.get(), topic, TimeoutMs(deadline - absl::Now())));
    if (count > 0) return count;
    if (absl::Now() >= deadline) {
      return absl::NotFoundError(absl::StrCat("KafkaExchange: topic '", topic,
                                              "' does not exist and could not be created"));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

namespace kafka_exchange_internal {

absl::StatusOr<int> ExchangeShared::PartitionCount() {
  absl::MutexLock lock(&mu_);
  if (partitions_ > 0) return partitions_;
  BROOK_ASSIGN_OR_RETURN(
      partitions_, EnsureKafkaTopic(options_.bootstrap_servers, options_.topic,
                                    options_.partitions, options_.producer_properties,
                                    absl::Milliseconds(options_.request_timeout_ms)));
  return partitions_;
}

// ---- sink side

namespace {

std::shared_ptr<const KafkaSinkSettings> ProducerSettings(const KafkaExchangeOptions& o) {
  auto settings = std::make_shared<KafkaSinkSettings>();
  settings->bootstrap_servers = o.bootstrap_servers;
  settings->topic = o.topic;
  // Idempotent producer, flushed at barriers: per partition, what reaches
  // the topic is a prefix of what was sent, in order.
  settings->delivery_guarantee = DeliveryGuarantee::kAtLeastOnce;
  settings->properties = o.producer_properties;
  settings->flush_timeout = o.flush_timeout;
  settings->producer_factory = o.producer_factory;
  return settings;
}

constexpr uint8_t kWriterStateVersion = 1;
Counter unregistered_counter;  // metrics of a core without a MetricGroup

Counter* CounterIn(MetricGroup* group, const std::string& name) {
  return group != nullptr ? group->GetCounter(name) : &unregistered_counter;
}

}  // namespace

struct ExchangeWriterCore::Rep {
  Rep(std::shared_ptr<ExchangeShared> s, const SinkWriterContext& c)
      : shared(std::move(s)), ctx(c), producer(ProducerSettings(shared->options()), c) {}

  const KafkaExchangeOptions& options() const { return shared->options(); }

  std::shared_ptr<ExchangeShared> shared;
  SinkWriterContext ctx;
  kafka_sink_internal::WriterCore producer;
  int32_t task = 0;
  int32_t tasks = 0;
  int partitions = 0;
  int64_t next_seq = 1;
  KafkaProducerRecord record;  // reused
  Counter* markers_sent = nullptr;
};

ExchangeWriterCore::ExchangeWriterCore(std::shared_ptr<ExchangeShared> shared,
                                       const SinkWriterContext& ctx)
    : rep_(std::make_unique<Rep>(std::move(shared), ctx)) {
  const KafkaExchangeOptions& o = rep_->options();
  rep_->task = o.process_index * ctx.parallelism + ctx.subtask_index;
  rep_->tasks = o.num_processes * o.upstream_parallelism;
  rep_->markers_sent = CounterIn(ctx.metrics, "exchange_markers_sent");
}

ExchangeWriterCore::~ExchangeWriterCore() = default;

absl::Status ExchangeWriterCore::Open() {
  Rep& r = *rep_;
  if (r.ctx.parallelism != r.options().upstream_parallelism) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KafkaExchange '", r.options().topic, "': the sink runs at parallelism ",
        r.ctx.parallelism, " but upstream_parallelism is ", r.options().upstream_parallelism,
        " (the receivers count num_processes * upstream_parallelism tasks)"));
  }
  BROOK_ASSIGN_OR_RETURN(r.partitions, r.shared->PartitionCount());
  return r.producer.Open();
}

std::string& ExchangeWriterCore::BeginRecord(int key_group, int64_t timestamp_ms) {
  Rep& r = *rep_;
  r.record.Clear();
  r.record.partition = KafkaExchangePartition(key_group, r.options().max_parallelism, r.partitions);
  WritePrefix(r.record.value, Kind::kRecord, r.task, r.next_seq++);
  DataOutputView(&r.record.value).WriteInt64(timestamp_ms);
  return r.record.value;
}

absl::Status ExchangeWriterCore::SendRecord() { return rep_->producer.Send(rep_->record); }

absl::Status ExchangeWriterCore::EndBatch() { return rep_->producer.EndBatch(); }

namespace {
// Sends a marker of `kind` with `number` to every partition.
absl::Status SendMarkers(kafka_sink_internal::WriterCore& producer, KafkaProducerRecord& record,
                         int partitions, Kind kind, int32_t task, int64_t number) {
  for (int p = 0; p < partitions; ++p) {
    record.Clear();
    record.partition = p;
    WritePrefix(record.value, kind, task, number);
    BROOK_RETURN_IF_ERROR(producer.Send(record));
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status ExchangeWriterCore::SendWatermark(int64_t watermark_ms) {
  Rep& r = *rep_;
  BROOK_RETURN_IF_ERROR(
      SendMarkers(r.producer, r.record, r.partitions, Kind::kWatermark, r.task, watermark_ms));
  r.markers_sent->Inc(r.partitions);
  return r.producer.EndBatch();
}

absl::Status ExchangeWriterCore::Finish() {
  Rep& r = *rep_;
  BROOK_RETURN_IF_ERROR(
      SendMarkers(r.producer, r.record, r.partitions, Kind::kEndOfInput, r.task, r.next_seq - 1));
  r.markers_sent->Inc(r.partitions);
  return r.producer.Finish();
}

absl::StatusOr<std::string> ExchangeWriterCore::Snapshot(int64_t checkpoint_id) {
  Rep& r = *rep_;
  // Every record before the barrier is in the topic before the checkpoint
  // can complete.
  BROOK_RETURN_IF_ERROR(r.producer.PreCommit(checkpoint_id).status());
  std::string state;
  DataOutputView out(&state);
  out.WriteUint8(kWriterStateVersion);
  out.WriteInt32(r.task);
  out.WriteInt32(r.tasks);
  out.WriteInt64(r.next_seq);
  return state;
}

absl::Status ExchangeWriterCore::Restore(const std::vector<std::string>& states) {
  Rep& r = *rep_;
  int restored = 0;
  for (const std::string& state : states) {
    if (state.empty()) continue;
    DataInputView in(state);
    uint8_t version = 0;
    int32_t task = 0, tasks = 0;
    int64_t next_seq = 0;
    BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
    if (version != kWriterStateVersion) {
      return absl::DataLossError(absl::StrCat("KafkaExchange sink state: unknown version ", version));
    }
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&task));
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&tasks));
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&next_seq));
    if (!in.AtEnd() || next_seq < 1) return absl::DataLossError("KafkaExchange sink state: malformed");
    if (task != r.task || tasks != r.tasks || ++restored > 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "KafkaExchange '", r.options().topic, "': the checkpoint's sink was task ", task, " of ",
          tasks, ", this one is task ", r.task, " of ", r.tasks,
          ": the exchange's sequence numbers do not survive a change of num_processes or of the "
          "sink's parallelism"));
    }
    r.next_seq = next_seq;
  }
  return absl::OkStatus();
}

absl::Status ExchangeWriterCore::Close() { return rep_->producer.Close(); }

// ---- source side

namespace {

constexpr uint8_t kReaderStateVersion = 1;

struct TaskProgress {
  int64_t high_seq = 0;  // the highest sequence number seen (0: none)
  int64_t watermark_ms = kMinTimestampMs;
  bool ended = false;
};

struct SplitProgress {
  int32_t partition = 0;
  std::vector<TaskProgress> tasks;
  int64_t watermark_ms = kMinTimestampMs;  // min over tasks, never decreasing
  int ended = 0;                           // tasks that sent end of input
  bool finished() const { return ended == static_cast<int>(tasks.size()); }
};

}  // namespace

struct ExchangeReaderCore::Rep {
  std::shared_ptr<ExchangeShared> shared;
  SourceReaderContext ctx;  // over the whole job: num_processes * parallelism
  int32_t tasks = 0;
  std::unique_ptr<internal::KafkaReaderCore> kafka;
  std::vector<std::string> split_ids;  // owned, in the Kafka core's order
  std::vector<SplitProgress> splits;
  int unfinished = 0;
  std::map<std::string, SplitProgress> restored;  // owned splits from a checkpoint
  int current = 0;
  std::string_view payload;
  int64_t timestamp_ms = 0;
  int64_t watermark_ms = kMinTimestampMs;
  Counter* records_in = nullptr;
  Counter* duplicates = nullptr;
  Counter* markers_in = nullptr;

  const KafkaExchangeOptions& options() const { return shared->options(); }

  absl::Status Corrupt(std::string_view what) const {
    const KafkaMessage& m = kafka->message();
    return absl::DataLossError(absl::StrCat("KafkaExchange: ", std::string(m.topic), "/",
                                            m.partition, " offset ", m.offset, ": ",
                                            std::string(what),
                                            " (another writer or format on the topic?)"));
  }
};

ExchangeReaderCore::ExchangeReaderCore(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
ExchangeReaderCore::~ExchangeReaderCore() = default;

absl::StatusOr<std::unique_ptr<ExchangeReaderCore>> ExchangeReaderCore::Create(
    std::shared_ptr<ExchangeShared> shared, const SourceReaderContext& ctx) {
  const KafkaExchangeOptions& o = shared->options();
  auto rep = std::make_unique<Rep>();
  rep->ctx = SourceReaderContext{o.process_index * ctx.parallelism + ctx.subtask_index,
                                 o.num_processes * ctx.parallelism, ctx.metrics};
  rep->tasks = o.num_processes * o.upstream_parallelism;
  KafkaSourceOptions source;
  source.bootstrap_servers = o.bootstrap_servers;
  source.topics = {o.topic};
  source.group_id = o.group_id;
  source.starting_offsets = KafkaStartingOffsets::kEarliest;
  source.bounded = false;  // the end is the markers', not the offsets at the start
  source.max_records_per_poll = o.max_records_per_poll;
  source.commit_offsets_on_checkpoint = !o.group_id.empty();
  source.request_timeout_ms = o.request_timeout_ms;
  source.properties = o.consumer_properties;
  BROOK_ASSIGN_OR_RETURN(rep->kafka, internal::KafkaReaderCore::Create(source, rep->ctx));
  rep->records_in = CounterIn(ctx.metrics, "exchange_records_in");
  rep->duplicates = CounterIn(ctx.metrics, "exchange_duplicates_dropped");
  rep->markers_in = CounterIn(ctx.metrics, "exchange_markers_in");
  rep->shared = std::move(shared);
  return std::unique_ptr<ExchangeReaderCore>(new ExchangeReaderCore(std::move(rep)));
}

absl::Status ExchangeReaderCore::Restore(const std::vector<std::string>& states) {
  Rep& r = *rep_;
  std::vector<std::string> kafka_states;
  for (const std::string& state : states) {
    DataInputView in(state);
    uint8_t version = 0;
    std::string kafka_state;
    int32_t tasks = 0, count = 0;
    BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
    if (version != kReaderStateVersion) {
      return absl::DataLossError(
          absl::StrCat("KafkaExchange source state: unknown version ", version));
    }
    BROOK_RETURN_IF_ERROR(in.ReadString(&kafka_state));
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&tasks));
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&count));
    if (tasks != r.tasks) {
      return absl::FailedPreconditionError(absl::StrCat(
          "KafkaExchange '", r.options().topic, "': the checkpoint counts ", tasks,
          " upstream tasks, the options ", r.tasks,
          " (num_processes * upstream_parallelism must not change within a run)"));
    }
    if (count < 0) return absl::DataLossError("KafkaExchange source state: negative count");
    for (int32_t i = 0; i < count; ++i) {
      std::string id;
      SplitProgress split;
      BROOK_RETURN_IF_ERROR(in.ReadString(&id));
      BROOK_RETURN_IF_ERROR(in.ReadInt32(&split.partition));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&split.watermark_ms));
      split.tasks.resize(tasks);
      for (TaskProgress& t : split.tasks) {
        uint8_t ended = 0;
        BROOK_RETURN_IF_ERROR(in.ReadInt64(&t.high_seq));
        BROOK_RETURN_IF_ERROR(in.ReadInt64(&t.watermark_ms));
        BROOK_RETURN_IF_ERROR(in.ReadUint8(&ended));
        t.ended = ended != 0;
        split.ended += t.ended ? 1 : 0;
      }
      if (KafkaPartitionOwner(r.options().topic, split.partition, r.ctx.parallelism) ==
          r.ctx.subtask_index) {
        r.restored[id] = std::move(split);
      }
    }
    if (!in.AtEnd()) return absl::DataLossError("KafkaExchange source state: trailing bytes");
    kafka_states.push_back(std::move(kafka_state));
  }
  return r.kafka->Restore(kafka_states);
}

absl::Status ExchangeReaderCore::Open() {
  Rep& r = *rep_;
  BROOK_RETURN_IF_ERROR(r.shared->PartitionCount().status());  // creates the topic if need be
  BROOK_RETURN_IF_ERROR(r.kafka->Open());
  r.split_ids = r.kafka->UnfinishedSplitIds();  // every owned one: the core is unbounded
  r.splits.resize(r.split_ids.size());
  for (size_t i = 0; i < r.split_ids.size(); ++i) {
    SplitProgress& split = r.splits[i];
    if (auto it = r.restored.find(r.split_ids[i]); it != r.restored.end()) {
      split = std::move(it->second);
    } else {
      const size_t slash = r.split_ids[i].rfind('/');
      if (!absl::SimpleAtoi(r.split_ids[i].substr(slash + 1), &split.partition)) {
        return absl::InternalError(absl::StrCat("KafkaExchange: split id ", r.split_ids[i]));
      }
      split.tasks.resize(r.tasks);
    }
    if (!split.finished()) ++r.unfinished;
  }
  r.restored.clear();
  return absl::OkStatus();
}

absl::StatusOr<ExchangeReaderCore::Event> ExchangeReaderCore::Next() {
  Rep& r = *rep_;
  using CoreEvent = internal::KafkaReaderCore::Event;
  for (;;) {
    if (r.splits.empty()) return r.options().bounded ? Event::kEndOfInput : Event::kIdle;
    if (r.unfinished == 0) return Event::kEndOfInput;
    BROOK_ASSIGN_OR_RETURN(const CoreEvent event, r.kafka->Next());
    switch (event) {
      case CoreEvent::kNothingAvailable:
        return Event::kNothingAvailable;
      case CoreEvent::kIdle:
        return Event::kIdle;
      case CoreEvent::kEndOfInput:
        return Event::kEndOfInput;
      case CoreEvent::kSplitFinished:  // bounded cores only
        continue;
      case CoreEvent::kMessage:
        break;
    }
    r.current = r.kafka->partition_index();
    SplitProgress& split = r.splits[r.current];
    const std::string_view value = r.kafka->message().value;
    if (value.size() < kMarkerSize) return r.Corrupt("message shorter than the prefix");
    DataInputView in(value);
    uint8_t version = 0, kind = 0;
    int32_t task = 0;
    int64_t number = 0;
    (void)in.ReadUint8(&version);
    (void)in.ReadUint8(&kind);
    (void)in.ReadInt32(&task);
    (void)in.ReadInt64(&number);
    if (version != kFormatVersion) return r.Corrupt(absl::StrCat("format version ", version));
    if (task < 0 || task >= r.tasks) {
      return r.Corrupt(absl::StrCat("task ", task, " of ", r.tasks, " upstream tasks"));
    }
    TaskProgress& progress = split.tasks[task];
    switch (static_cast<Kind>(kind)) {
      case Kind::kRecord:
        if (value.size() < kRecordPrefixSize) return r.Corrupt("record shorter than its prefix");
        if (number <= progress.high_seq || split.finished()) {
          // Sent again by a restored upstream task (or, after every task
          // ended, by one whose replay was not deterministic).
          r.duplicates->Inc();
          continue;
        }
        progress.high_seq = number;
        (void)in.ReadInt64(&r.timestamp_ms);
        r.payload = value.substr(kRecordPrefixSize);
        r.records_in->Inc();
        return Event::kRecord;
      case Kind::kWatermark:
      case Kind::kEndOfInput: {
        r.markers_in->Inc();
        if (progress.ended) continue;
        if (static_cast<Kind>(kind) == Kind::kEndOfInput) {
          progress.ended = true;
          progress.watermark_ms = kMaxWatermarkMs;
          if (++split.ended == r.tasks) {
            --r.unfinished;
            return Event::kSplitFinished;
          }
        } else if (number > progress.watermark_ms) {
          progress.watermark_ms = number;
        } else {
          continue;
        }
        int64_t min = kMaxWatermarkMs;
        for (const TaskProgress& t : split.tasks) min = std::min(min, t.watermark_ms);
        if (min <= split.watermark_ms) continue;
        split.watermark_ms = min;
        r.watermark_ms = min;
        return Event::kWatermark;
      }
    }
    return r.Corrupt(absl::StrCat("message kind ", kind));
  }
}

int ExchangeReaderCore::split_index() const { return rep_->current; }
const std::string& ExchangeReaderCore::split_id() const {
  return rep_->split_ids[rep_->current];
}
std::vector<std::string> ExchangeReaderCore::SplitIds() const {
  std::vector<std::string> ids;
  for (size_t i = 0; i < rep_->splits.size(); ++i) {
    if (!rep_->splits[i].finished()) ids.push_back(rep_->split_ids[i]);
  }
  return ids;
}
std::string_view ExchangeReaderCore::payload() const { return rep_->payload; }
int64_t ExchangeReaderCore::timestamp_ms() const { return rep_->timestamp_ms; }
int64_t ExchangeReaderCore::watermark_ms() const { return rep_->watermark_ms; }

absl::Status ExchangeReaderCore::PayloadError(const absl::Status& cause) const {
  return rep_->Corrupt(absl::StrCat("the record does not decode: ", cause.message()));
}

absl::StatusOr<std::string> ExchangeReaderCore::Snapshot(int64_t checkpoint_id) {
  Rep& r = *rep_;
  BROOK_ASSIGN_OR_RETURN(std::string kafka_state, r.kafka->Snapshot(checkpoint_id));
  std::string state;
  DataOutputView out(&state);
  out.WriteUint8(kReaderStateVersion);
  out.WriteString(kafka_state);
  out.WriteInt32(r.tasks);
  out.WriteInt32(static_cast<int32_t>(r.splits.size()));
  for (size_t i = 0; i < r.splits.size(); ++i) {
    const SplitProgress& split = r.splits[i];
    out.WriteString(r.split_ids[i]);
    out.WriteInt32(split.partition);
    out.WriteInt64(split.watermark_ms);
    for (const TaskProgress& t : split.tasks) {
      out.WriteInt64(t.high_seq);
      out.WriteInt64(t.watermark_ms);
      out.WriteUint8(t.ended ? 1 : 0);
    }
  }
  return state;
}

absl::Status ExchangeReaderCore::NotifyCheckpointComplete(int64_t checkpoint_id) {
  return rep_->kafka->NotifyCheckpointComplete(checkpoint_id);
}

absl::Status ExchangeReaderCore::Close() { return rep_->kafka->Close(); }

}  // namespace kafka_exchange_internal
}  // namespace brook::connectors
