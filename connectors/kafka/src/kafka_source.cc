// File: connectors/kafka/src/kafka_source.cc
//
// KafkaReaderCore: one librdkafka consumer per reader, partitions assigned
// with explicit offsets (never subscribe()), each partition read through its
// own queue (forwarding to the consumer queue disabled), so that the reader
// decides from which partition the next record comes.
#include "brook/connectors/kafka/kafka_source.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "brook/serialization.h"
#include "rdkafka_util.h"

namespace brook::connectors {

using kafka_internal::KafkaError;
using kafka_internal::KafkaHandle;
using kafka_internal::KafkaQueue;
using kafka_internal::PartitionList;

absl::Status ParseKafkaStartingOffsets(std::string_view text, KafkaSourceOptions* options) {
  if (text == "earliest") {
    options->starting_offsets = KafkaStartingOffsets::kEarliest;
  } else if (text == "latest") {
    options->starting_offsets = KafkaStartingOffsets::kLatest;
  } else if (text == "committed") {
    options->starting_offsets = KafkaStartingOffsets::kCommitted;
  } else {
    int64_t ms = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, ms);
    if (text.empty() || ec != std::errc() || ptr != end || ms < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Kafka starting offsets '", std::string(text),
                       "': expected earliest, latest, committed or an epoch ms"));
    }
    options->starting_offsets = KafkaStartingOffsets::kTimestamp;
    options->starting_timestamp_ms = ms;
  }
  return absl::OkStatus();
}

int32_t JavaStringHashCode(std::string_view s) {
  // Java hashes UTF-16 code units; decode UTF-8 (invalid bytes count as
  // themselves, as a lenient decoder's replacement would not be portable).
  uint32_t h = 0;
  auto mix = [&h](uint32_t unit) { h = 31 * h + unit; };
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      mix(b);
      ++i;
      continue;
    }
    uint32_t cp = len == 1 ? b : b & (0xFF >> (len + 1));
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      mix(0xD800 + (cp >> 10));
      mix(0xDC00 + (cp & 0x3FF));
    } else {
      mix(cp);
    }
    i += len;
  }
  return static_cast<int32_t>(h);
}

int KafkaPartitionOwner(std::string_view topic, int partition, int parallelism) {
  const uint32_t times31 = static_cast<uint32_t>(JavaStringHashCode(topic)) * 31u;
  const int start = static_cast<int>((times31 & 0x7FFFFFFFu) % static_cast<uint32_t>(parallelism));
  return (start + partition) % parallelism;
}

std::optional<std::string_view> KafkaMessage::Header(std::string_view name) const {
  if (native == nullptr) return std::nullopt;
  rd_kafka_headers_t* headers = nullptr;
  auto* m = static_cast<rd_kafka_message_t*>(const_cast<void*>(native));
  if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const std::string key(name);
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, key.c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  if (value == nullptr) return std::string_view();
  return std::string_view(static_cast<const char*>(value), size);
}

namespace internal {
namespace {

constexpr uint8_t kStateVersion = 1;
constexpr int64_t kNoStop = std::numeric_limits<int64_t>::max();
// Checkpoints whose offsets wait for their completion notice, at most.
constexpr size_t kMaxPendingCommits = 16;

struct Partition {
  std::string topic;
  int32_t partition = 0;
  std::string split_id;            // "TOPIC/PARTITION"
  std::string dead_letter_source;  // "kafka:TOPIC/PARTITION"
  int64_t next_offset = 0;         // the position: the next offset to consume
  int64_t stop_offset = kNoStop;
  int64_t last_timestamp_ms = kMinTimestampMs;
  bool finished = false;
  KafkaQueue queue;
  Counter* records = nullptr;
  Counter* bytes = nullptr;
  Counter* lag = nullptr;
};

// A partition's entry in a snapshot.
struct PartitionState {
  int64_t next_offset = 0;
  int64_t stop_offset = kNoStop;
  int64_t last_timestamp_ms = kMinTimestampMs;
};

using PartitionKey = std::pair<std::string, int32_t>;

void NoopCommitCallback(rd_kafka_t*, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*, void*) {
}

}  // namespace

absl::Status ValidateKafkaSourceOptions(const KafkaSourceOptions& o) {
  if (o.bootstrap_servers.empty()) {
    return absl::InvalidArgumentError("KafkaSource: no bootstrap servers");
  }
  if (o.topics.empty()) return absl::InvalidArgumentError("KafkaSource: no topic");
  for (const std::string& t : o.topics) {
    if (t.empty()) return absl::InvalidArgumentError("KafkaSource: an empty topic name");
  }
  if (o.group_id.empty() && o.starting_offsets == KafkaStartingOffsets::kCommitted) {
    return absl::InvalidArgumentError(
        "KafkaSource: starting from committed offsets needs a group id");
  }
  if (o.committed_fallback != KafkaStartingOffsets::kEarliest &&
      o.committed_fallback != KafkaStartingOffsets::kLatest) {
    return absl::InvalidArgumentError(
        "KafkaSource: the committed offsets' fallback is earliest or latest");
  }
  if (o.max_records_per_turn < 1 || o.max_records_per_poll < 1) {
    return absl::InvalidArgumentError("KafkaSource: max_records_per_turn/_poll must be >= 1");
  }
  if (o.request_timeout_ms < 1) {
    return absl::InvalidArgumentError("KafkaSource: request_timeout_ms must be >= 1");
  }
  if (o.num_processes < 1 || o.process_index < 0 || o.process_index >= o.num_processes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KafkaSource: process_index ", o.process_index, " is outside [0, num_processes=",
        o.num_processes, ")"));
  }
  return absl::OkStatus();
}

struct KafkaReaderCore::Rep {
  KafkaSourceOptions options;
  SourceReaderContext ctx;
  KafkaHandle rk;

  // Whether this reader owns `partition` of `topic`: Flink's owner formula
  // over every process's subtasks (KafkaSourceOptions::num_processes).
  bool Owns(std::string_view topic, int partition) const {
    return KafkaPartitionOwner(topic, partition, options.num_processes * ctx.parallelism) ==
           options.process_index * ctx.parallelism + ctx.subtask_index;
  }
  std::vector<Partition> partitions;  // owned, sorted by (topic, partition)
  int unfinished = 0;

  // From Restore(): the owned partitions' states, and the cursor when the
  // state is this subtask's at this parallelism.
  std::map<PartitionKey, PartitionState> restored;
  std::optional<std::pair<PartitionKey, int>> restored_cursor;

  // The cursor's turn: records taken from partitions[cursor_] in it.
  int taken = 0;
  // Unbounded: partitions found empty in a row.
  int empty_in_a_row = 0;
  // Fetched, not yet consumed messages of partitions[cursor_]; `current` is
  // the one message() shows, destroyed on the next call.
  std::vector<rd_kafka_message_t*> batch;
  size_t batch_pos = 0;
  rd_kafka_message_t* current = nullptr;

  // Offsets to commit when a checkpoint completes, oldest first.
  std::deque<std::pair<int64_t, std::vector<std::tuple<std::string, int32_t, int64_t>>>>
      pending_commits;
  KafkaQueue commit_queue;
  int commits_in_flight = 0;
  Counter* commits = nullptr;
  Counter* commit_failures = nullptr;

  ~Rep() { DropBatch(); }

  void DropBatch() {
    if (current != nullptr) rd_kafka_message_destroy(current);
    current = nullptr;
    for (size_t i = batch_pos; i < batch.size(); ++i) rd_kafka_message_destroy(batch[i]);
    batch.clear();
    batch_pos = 0;
  }

  bool bounded() const { return options.bounded; }
  int timeout() const {
    return static_cast<int>(std::min<int64_t>(options.request_timeout_ms, 1 << 30));
  }

  // Reads the results of finished commits into the metrics.
  void DrainCommitResults() {
    while (commits_in_flight > 0) {
      rd_kafka_event_t* ev = rd_kafka_queue_poll(commit_queue.get(), 0);
      if (ev == nullptr) return;
      if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
        --commits_in_flight;
        bool failed = rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR;
        if (const rd_kafka_topic_partition_list_t* l = rd_kafka_event_topic_partition_list(ev)) {
          for (int i = 0; i < l->cnt; ++i) failed |= l->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        (failed ? commit_failures : commits)->Inc();
      }
      rd_kafka_event_destroy(ev);
    }
  }

  // The partition count of each topic (kNotFound for a topic that does not
  // exist). Asks for every topic's metadata: a request naming the topic
  // could create it on a broker with auto.create.topics.enable.
  absl::StatusOr<std::vector<int>> PartitionCounts(const std::vector<std::string>& topics) {
    const struct rd_kafka_metadata* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 1, nullptr, &md, timeout());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaError(err, "KafkaSource: metadata");
    std::vector<int> counts(topics.size(), 0);
    absl::Status status;
    for (size_t t = 0; t < topics.size() && status.ok(); ++t) {
      for (int i = 0; i < md->topic_cnt; ++i) {
        if (topics[t] != md->topics[i].topic) continue;
        if (md->topics[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          status = KafkaError(md->topics[i].err,
                              absl::StrCat("KafkaSource: metadata of topic ", topics[t]));
        }
        counts[t] = md->topics[i].partition_cnt;
      }
      if (status.ok() && counts[t] <= 0) {
        status = absl::NotFoundError(
            absl::StrCat("KafkaSource: topic '", topics[t], "' does not exist"));
      }
    }
    rd_kafka_metadata_destroy(md);
    if (!status.ok()) return status;
    return counts;
  }

  absl::Status Watermarks(const Partition& p, int64_t* low, int64_t* high) {
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk.get(), p.topic.c_str(),
                                                               p.partition, low, high, timeout());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return KafkaError(err, absl::StrCat("KafkaSource: offsets of ", p.split_id));
    }
    return absl::OkStatus();
  }

  // A list of the partitions selected by `select`, each with `offset`.
  template <typename Select>
  PartitionList ListOf(Select select, int64_t offset) const {
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
    for (const Partition& p : partitions) {
      if (select(p))
        rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset =
            offset;
    }
    return list;
  }

  // Where each partition not restored starts.
  absl::Status ResolveStartOffsets() {
    auto not_restored = [this](const Partition& p) {
      return restored.count({p.topic, p.partition}) == 0;
    };
    KafkaStartingOffsets start = options.starting_offsets;
    std::map<PartitionKey, int64_t> resolved;  // committed or by timestamp
    if (start == KafkaStartingOffsets::kCommitted || start == KafkaStartingOffsets::kTimestamp) {
      PartitionList list = ListOf(not_restored, options.starting_timestamp_ms);
      if (list->cnt > 0) {
        rd_kafka_resp_err_t err = start == KafkaStartingOffsets::kCommitted
                                      ? rd_kafka_committed(rk.get(), list.get(), timeout())
                                      : rd_kafka_offsets_for_times(rk.get(), list.get(), timeout());
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          return KafkaError(err, start == KafkaStartingOffsets::kCommitted
                                     ? "KafkaSource: committed offsets"
                                     : "KafkaSource: offsets for the starting timestamp");
        }
        for (int i = 0; i < list->cnt; ++i) {
          const rd_kafka_topic_partition_t& e = list->elems[i];
          if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return KafkaError(
                e.err, absl::StrCat("KafkaSource: starting offset of ", e.topic, "/", e.partition));
          }
          if (e.offset >= 0) resolved[{e.topic, e.partition}] = e.offset;
        }
      }
    }
    for (Partition& p : partitions) {
      if (auto it = restored.find({p.topic, p.partition}); it != restored.end()) {
        p.next_offset = it->second.next_offset;
        p.stop_offset = it->second.stop_offset;
        p.last_timestamp_ms = it->second.last_timestamp_ms;
        if (!bounded()) p.stop_offset = kNoStop;
        if (bounded() && p.stop_offset == kNoStop) {
          // Restored from an unbounded run: stop at the current end.
          int64_t low = 0;
          BROOK_RETURN_IF_ERROR(Watermarks(p, &low, &p.stop_offset));
        }
        continue;
      }
      int64_t low = 0, high = 0;
      BROOK_RETURN_IF_ERROR(Watermarks(p, &low, &high));
      if (bounded()) p.stop_offset = high;
      auto found = resolved.find({p.topic, p.partition});
      switch (start) {
        case KafkaStartingOffsets::kEarliest:
          p.next_offset = low;
          break;
        case KafkaStartingOffsets::kLatest:
          p.next_offset = high;
          break;
        case KafkaStartingOffsets::kCommitted:
          p.next_offset = found != resolved.end() ? found->second
                          : options.committed_fallback == KafkaStartingOffsets::kLatest ? high
                                                                                        : low;
          break;
        case KafkaStartingOffsets::kTimestamp:
          // No record at or after the timestamp: the end (Flink's choice).
          p.next_offset = found != resolved.end() ? found->second : high;
          break;
      }
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<KafkaReaderCore>> KafkaReaderCore::Create(
    const KafkaSourceOptions& options, const SourceReaderContext& ctx) {
  BROOK_RETURN_IF_ERROR(ValidateKafkaSourceOptions(options));
  if (ctx.parallelism < 1 || ctx.subtask_index < 0 || ctx.subtask_index >= ctx.parallelism) {
    return absl::InvalidArgumentError("KafkaSource: bad subtask index or parallelism");
  }
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", options.bootstrap_servers},
      {"client.id", absl::StrCat("brook-kafka-source-", ctx.subtask_index)},
      {"enable.partition.eof", "false"},
      {"auto.offset.reset", "earliest"},
      {"log_level", "3"},
  };
  // librdkafka's assign() needs a group.id even without membership; without
  // one of the user's, a placeholder under which nothing is ever committed.
  props.emplace_back(
      "group.id", options.group_id.empty() ? "brook-kafka-source-uncommitted" : options.group_id);
  props.insert(props.end(), options.properties.begin(), options.properties.end());
  props.emplace_back("enable.auto.commit", "false");
  props.emplace_back("enable.auto.offset.store", "false");
  BROOK_ASSIGN_OR_RETURN(auto conf, kafka_internal::MakeConf(props));
  auto rep = std::make_unique<Rep>();
  rep->options = options;
  rep->ctx = ctx;
  BROOK_ASSIGN_OR_RETURN(rep->rk, kafka_internal::NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
  rep->commit_queue.reset(rd_kafka_queue_new(rep->rk.get()));
  static Counter unregistered_commits, unregistered_failures;  // without a MetricGroup
  rep->commits = ctx.metrics ? ctx.metrics->GetCounter("kafka_commits") : &unregistered_commits;
  rep->commit_failures =
      ctx.metrics ? ctx.metrics->GetCounter("kafka_commit_failures") : &unregistered_failures;
  return std::unique_ptr<KafkaReaderCore>(new KafkaReaderCore(std::move(rep)));
}

KafkaReaderCore::KafkaReaderCore(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
KafkaReaderCore::~KafkaReaderCore() {
  if (rep_ != nullptr) (void)Close();
}

absl::Status KafkaReaderCore::Restore(const std::vector<std::string>& states) {
  Rep& r = *rep_;
  for (const std::string& state : states) {
    DataInputView in(state);
    uint8_t version = 0;
    int32_t subtask = 0, parallelism = 0, cursor_partition = 0, taken = 0, count = 0;
    std::string cursor_topic;
    BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
    if (version != kStateVersion) {
      return absl::DataLossError(absl::StrCat("Kafka source state: unknown version ", version));
    }
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&subtask));
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&parallelism));
    BROOK_RETURN_IF_ERROR(in.ReadString(&cursor_topic));
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&cursor_partition));
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&taken));
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&count));
    if (count < 0) return absl::DataLossError("Kafka source state: negative partition count");
    for (int32_t i = 0; i < count; ++i) {
      std::string topic;
      int32_t partition = 0;
      PartitionState s;
      BROOK_RETURN_IF_ERROR(in.ReadString(&topic));
      BROOK_RETURN_IF_ERROR(in.ReadInt32(&partition));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&s.next_offset));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&s.stop_offset));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&s.last_timestamp_ms));
      if (partition < 0) return absl::DataLossError("Kafka source state: negative partition");
      if (r.Owns(topic, partition)) {
        r.restored[{std::move(topic), partition}] = s;
      }
    }
    if (!in.AtEnd()) return absl::DataLossError("Kafka source state: trailing bytes");
    if (subtask == r.ctx.subtask_index && parallelism == r.ctx.parallelism && taken >= 0) {
      r.restored_cursor = {{cursor_topic, cursor_partition}, taken};
    }
  }
  return absl::OkStatus();
}

absl::Status KafkaReaderCore::Open() {
  Rep& r = *rep_;
  std::vector<std::string> topics = r.options.topics;
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  BROOK_ASSIGN_OR_RETURN(const std::vector<int> counts, r.PartitionCounts(topics));
  for (size_t t = 0; t < topics.size(); ++t) {
    const std::string& topic = topics[t];
    for (int32_t i = 0; i < counts[t]; ++i) {
      if (!r.Owns(topic, i)) continue;
      Partition& p = r.partitions.emplace_back();
      p.topic = topic;
      p.partition = i;
      p.split_id = absl::StrCat(topic, "/", i);
      p.dead_letter_source = absl::StrCat("kafka:", p.split_id);
      static Counter unregistered;
      MetricGroup* m = r.ctx.metrics;
      p.records = m ? m->GetCounter("kafka_records_in." + p.split_id) : &unregistered;
      p.bytes = m ? m->GetCounter("kafka_bytes_in." + p.split_id) : &unregistered;
      p.lag = m ? m->GetGauge("kafka_consumer_lag." + p.split_id) : &unregistered;
    }
  }
  BROOK_RETURN_IF_ERROR(r.ResolveStartOffsets());
  if (r.restored_cursor) {
    for (size_t i = 0; i < r.partitions.size(); ++i) {
      const Partition& p = r.partitions[i];
      if (p.topic == r.restored_cursor->first.first &&
          p.partition == r.restored_cursor->first.second) {
        cursor_ = static_cast<int>(i);
        r.taken = r.restored_cursor->second;
      }
    }
  }
  r.restored.clear();
  // Each partition's own queue, not forwarded to the consumer queue, before
  // the assignment starts fetching.
  for (Partition& p : r.partitions) {
    p.finished = r.bounded() && p.next_offset >= p.stop_offset;
    if (p.finished) continue;
    ++r.unfinished;
    p.queue.reset(rd_kafka_queue_get_partition(r.rk.get(), p.topic.c_str(), p.partition));
    if (p.queue == nullptr) {
      return absl::InternalError(absl::StrCat("KafkaSource: no queue for ", p.split_id));
    }
    rd_kafka_queue_forward(p.queue.get(), nullptr);
    p.lag->Set(p.stop_offset != kNoStop ? p.stop_offset - p.next_offset : 0);
  }
  PartitionList list(rd_kafka_topic_partition_list_new(r.unfinished));
  for (const Partition& p : r.partitions) {
    if (!p.finished) {
      rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset =
          p.next_offset;
    }
  }
  if (rd_kafka_resp_err_t err = rd_kafka_assign(r.rk.get(), list.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaError(err, "KafkaSource: assign");
  }
  return absl::OkStatus();
}

absl::StatusOr<KafkaReaderCore::Event> KafkaReaderCore::Next() {
  Rep& r = *rep_;
  if (r.current != nullptr) {
    rd_kafka_message_destroy(r.current);
    r.current = nullptr;
  }
  if (r.commits_in_flight > 0) r.DrainCommitResults();
  if (r.partitions.empty()) return r.bounded() ? Event::kEndOfInput : Event::kIdle;
  const int n = static_cast<int>(r.partitions.size());
  const int turn = r.options.max_records_per_turn;
  auto move_on = [&] {
    cursor_ = (cursor_ + 1) % n;
    r.taken = 0;
  };
  for (;;) {
    if (r.unfinished == 0) return Event::kEndOfInput;
    Partition& p = r.partitions[cursor_];
    if (p.finished || r.taken >= turn) {
      move_on();
      continue;
    }
    if (r.bounded() && p.next_offset >= p.stop_offset) {
      p.finished = true;
      --r.unfinished;
      r.DropBatch();
      p.lag->Set(0);
      p.queue.reset();
      // Stop fetching what was produced after the start.
      PartitionList done = r.ListOf([&p](const Partition& q) { return &q == &p; }, 0);
      rd_kafka_pause_partitions(r.rk.get(), done.get());
      return Event::kSplitFinished;  // split_id() is still p's
    }
    if (r.batch_pos == r.batch.size()) {
      r.batch.resize(turn - r.taken);
      const ssize_t got =
          rd_kafka_consume_batch_queue(p.queue.get(), 0, r.batch.data(), r.batch.size());
      if (got < 0) return KafkaError(rd_kafka_last_error(), "KafkaSource: consume");
      r.batch.resize(static_cast<size_t>(got));
      r.batch_pos = 0;
      int64_t low = 0, high = 0;
      if (rd_kafka_get_watermark_offsets(r.rk.get(), p.topic.c_str(), p.partition, &low, &high) ==
              RD_KAFKA_RESP_ERR_NO_ERROR &&
          high >= 0) {
        p.lag->Set(std::max<int64_t>(0, high - p.next_offset));
      }
      if (got == 0) {
        rd_kafka_poll(r.rk.get(), 0);  // serves errors and logs
        // Bounded: wait for this partition, whatever the others have, so
        // that the order does not depend on timing; unless the consumer's
        // position passed the stop without a record (e.g. a transaction
        // marker as the last offset).
        if (r.bounded()) {
          PartitionList pos = r.ListOf([&p](const Partition& q) { return &q == &p; }, -1);
          if (rd_kafka_position(r.rk.get(), pos.get()) == RD_KAFKA_RESP_ERR_NO_ERROR &&
              pos->cnt == 1 && pos->elems[0].offset >= p.stop_offset) {
            p.next_offset = p.stop_offset;
            continue;
          }
          return Event::kNothingAvailable;
        }
        move_on();
        if (++r.empty_in_a_row >= n) {
          r.empty_in_a_row = 0;
          return Event::kNothingAvailable;
        }
        continue;
      }
      r.empty_in_a_row = 0;
    }
    rd_kafka_message_t* m = r.batch[r.batch_pos++];
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const rd_kafka_resp_err_t err = m->err;
      rd_kafka_message_destroy(m);
      if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      r.DropBatch();
      return KafkaError(err, absl::StrCat("KafkaSource: consuming ", p.split_id));
    }
    if (m->offset < p.next_offset) {  // already consumed (a refetch)
      rd_kafka_message_destroy(m);
      continue;
    }
    if (m->offset >= p.stop_offset) {  // offsets skipped (compaction, markers)
      rd_kafka_message_destroy(m);
      p.next_offset = p.stop_offset;
      continue;
    }
    r.current = m;
    p.next_offset = m->offset + 1;
    ++r.taken;
    p.records->Inc();
    p.bytes->Inc(static_cast<int64_t>(m->len + m->key_len));
    message_.topic = p.topic;
    message_.partition = p.partition;
    message_.offset = m->offset;
    message_.key = std::string_view(static_cast<const char*>(m->key), m->key ? m->key_len : 0);
    message_.value =
        std::string_view(static_cast<const char*>(m->payload), m->payload ? m->len : 0);
    message_.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
    message_.native = m;
    return Event::kMessage;
  }
}

const std::string& KafkaReaderCore::split_id() const { return rep_->partitions[cursor_].split_id; }
const std::string& KafkaReaderCore::dead_letter_source() const {
  return rep_->partitions[cursor_].dead_letter_source;
}
int64_t KafkaReaderCore::last_timestamp_ms() const {
  return rep_->partitions[cursor_].last_timestamp_ms;
}
void KafkaReaderCore::set_last_timestamp_ms(int64_t timestamp_ms) {
  rep_->partitions[cursor_].last_timestamp_ms = timestamp_ms;
}

std::vector<std::string> KafkaReaderCore::UnfinishedSplitIds() const {
  std::vector<std::string> ids;
  for (const Partition& p : rep_->partitions) {
    if (!p.finished) ids.push_back(p.split_id);
  }
  return ids;
}

absl::StatusOr<std::string> KafkaReaderCore::Snapshot(int64_t checkpoint_id) {
  Rep& r = *rep_;
  std::string bytes;
  DataOutputView out(&bytes);
  out.WriteUint8(kStateVersion);
  out.WriteInt32(r.ctx.subtask_index);
  out.WriteInt32(r.ctx.parallelism);
  const bool any = !r.partitions.empty();
  out.WriteString(any ? r.partitions[cursor_].topic : "");
  out.WriteInt32(any ? r.partitions[cursor_].partition : 0);
  out.WriteInt32(r.taken);
  out.WriteInt32(static_cast<int32_t>(r.partitions.size()));
  std::vector<std::tuple<std::string, int32_t, int64_t>> offsets;
  for (const Partition& p : r.partitions) {
    out.WriteString(p.topic);
    out.WriteInt32(p.partition);
    out.WriteInt64(p.next_offset);
    out.WriteInt64(p.stop_offset);
    out.WriteInt64(p.last_timestamp_ms);
    offsets.emplace_back(p.topic, p.partition, p.next_offset);
  }
  if (!r.options.group_id.empty() && r.options.commit_offsets_on_checkpoint && any) {
    r.pending_commits.emplace_back(checkpoint_id, std::move(offsets));
    if (r.pending_commits.size() > kMaxPendingCommits) r.pending_commits.pop_front();
  }
  return bytes;
}

absl::Status KafkaReaderCore::NotifyCheckpointComplete(int64_t checkpoint_id) {
  Rep& r = *rep_;
  r.DrainCommitResults();
  // The latest snapshot at or before `checkpoint_id` (a later notice
  // subsumes the earlier ones).
  std::optional<std::vector<std::tuple<std::string, int32_t, int64_t>>> offsets;
  while (!r.pending_commits.empty() && r.pending_commits.front().first <= checkpoint_id) {
    offsets = std::move(r.pending_commits.front().second);
    r.pending_commits.pop_front();
  }
  if (!offsets) return absl::OkStatus();
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets->size())));
  for (const auto& [topic, partition, offset] : *offsets) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = offset;
  }
  if (rd_kafka_commit_queue(r.rk.get(), list.get(), r.commit_queue.get(), NoopCommitCallback,
                            nullptr) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    r.commit_failures->Inc();  // For monitoring only: never fatal.
  } else {
    ++r.commits_in_flight;
  }
  return absl::OkStatus();
}

absl::Status KafkaReaderCore::Close() {
  Rep& r = *rep_;
  if (r.rk == nullptr) return absl::OkStatus();
  r.DropBatch();
  for (Partition& p : r.partitions) p.queue.reset();
  // Let the last commits land (they only serve monitoring: a bounded wait).
  for (int i = 0; i < 10 && r.commits_in_flight > 0; ++i) {
    r.DrainCommitResults();
    if (r.commits_in_flight > 0) absl::SleepFor(absl::Milliseconds(50));
  }
  r.commit_queue.reset();
  rd_kafka_assign(r.rk.get(), nullptr);
  // No group membership to leave (assign(), never subscribe()).
  rd_kafka_destroy_flags(r.rk.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace brook::connectors
