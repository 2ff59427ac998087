// File: brook/connectors/clickhouse/clickhouse_sink.h
//
// ClickHouseSink<T>: rows of T into a ClickHouse table over the HTTP
// interface, in batches (TabSeparated), exactly once through brook's
// two-phase commit (DESIGN.md §7, Flink's TwoPhaseCommittingSink) although
// ClickHouse 18.16 has no insert deduplication. docs/results-stores.md has
// the protocol in full; in short, for a table NAME:
//
//   NAME_data     MergeTree: the user's columns and three tags, _sink (sink
//                 id and subtask), _attempt (random, new for every run of
//                 the job) and _seq (an insert's number within the attempt).
//   NAME_commits  MergeTree: one marker row per committed (_sink, _attempt,
//                 _seq), with the checkpoint that committed it.
//   NAME          a VIEW of NAME_data's user columns, only the rows whose
//                 marker exists: what users and dashboards query.
//
//   Write            rows are encoded into an in-memory batch; a full batch
//                    (batch_rows, batch_bytes) is inserted at once, under a
//                    new _seq (invisible: no marker yet).
//   SnapshotState    pre-commit at the checkpoint barrier: the batch is
//                    inserted, every insert since the last commit verified by
//                    a count, and the state lists them (attempt, seqs).
//   NotifyCheckpointComplete
//                    commit: their marker rows are inserted (idempotent: a
//                    marker twice changes nothing).
//   RestoreState     restore: the markers of what the checkpoint
//                    pre-committed are inserted; whatever a crashed run
//                    inserted after it never gets a marker, stays invisible,
//                    and CleanUpUncommittedRows() deletes it.
//   Flush            end of input: everything inserted and committed.
//
// An insert that fails on the connection is retried with backoff under a
// new _seq (the old one may have been partly received and stays invisible);
// a server error (a bad value) is not retried. A failure fails the
// checkpoint and so the job. Keying on (attempt, seq), never on the
// checkpoint id: a crashed run may reuse checkpoint ids.
//
// ClickHouseCommitMode::kAutoCommit (no checkpointing): each insert is
// committed at once, and the batch is inserted at a watermark once
// auto_commit_interval has passed since the last insert: rows are visible
// about that soon after they are written (at least once after a failure),
// and the server gets few, large inserts (ClickHouse's advice: about one a
// second).
//
// Thread-safety: a Sink is shared by its writers; each writer runs on its
// subtask's thread. rows_written(), commits() and failures() may be read from
// any thread. Per row: one call of the encoder through std::function (as the
// file sink's), appending to the batch; no allocation once the batch buffer
// has grown.
#ifndef BROOK_CONNECTORS_CLICKHOUSE_CLICKHOUSE_SINK_H_
#define BROOK_CONNECTORS_CLICKHOUSE_CLICKHOUSE_SINK_H_

#include <atomic>
#include <charconv>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "brook/connectors/clickhouse/clickhouse_client.h"
#include "brook/sink.h"
#include "brook/status.h"

namespace brook::connectors {

// A column of the table users query: its name and ClickHouse type as
// ClickHouse spells it ("Int64", "Nullable(Int64)", "String", "Float64").
struct ClickHouseColumn {
  std::string name;
  std::string type;
};

// One row's fields in ClickHouse's TabSeparated format, appended to a batch
// in the columns' order. Inline: called per field.
class ClickHouseRow {
 public:
  explicit ClickHouseRow(std::string* out) : out_(out) {}
  ClickHouseRow& Int(int64_t v) {
    Separate();
    absl::StrAppend(out_, v);
    return *this;
  }
  // The shortest text that reads back as `v` ("inf", "nan" included).
  ClickHouseRow& Float(double v) {
    Separate();
    char text[32];
    out_->append(text, std::to_chars(text, text + sizeof(text), v).ptr);
    return *this;
  }
  // Escaped as TabSeparated needs (\t, \n, \\ ...): any bytes may pass.
  ClickHouseRow& String(std::string_view v) {
    Separate();
    for (char c : v) {
      switch (c) {
        case '\t':
          out_->append("\\t");
          break;
        case '\n':
          out_->append("\\n");
          break;
        case '\r':
          out_->append("\\r");
          break;
        case '\0':
          out_->append("\\0");
          break;
        case '\\':
          out_->append("\\\\");
          break;
        default:
          out_->push_back(c);
      }
    }
    return *this;
  }
  // NULL, for a Nullable(...) column.
  ClickHouseRow& Null() {
    Separate();
    out_->append("\\N");
    return *this;
  }
  int fields() const { return fields_; }

 private:
  void Separate() {
    if (fields_++ > 0) out_->push_back('\t');
  }
  std::string* out_;
  int fields_ = 0;
};

// Appends the fields of `row`, one per column, in the columns' order.
template <typename T>
using ClickHouseRowEncoder = std::function<void(const T& row, ClickHouseRow& out)>;

enum class ClickHouseCommitMode {
  kExactlyOnce,  // two-phase commit: rows visible once a checkpoint covers them
  kAutoCommit,   // visible as inserted (jobs without checkpointing)
};

// Everything but the encoder (which depends on T).
struct ClickHouseSinkConfig {
  // http://[USER[:PASSWORD]@]HOST:PORT (ParseClickHouseUrl).
  std::string url;
  // The view users query ([A-Za-z_][A-Za-z0-9_]*, in the user's default
  // database); the data and markers go to `<table>_data`, `<table>_commits`.
  std::string table;
  std::vector<ClickHouseColumn> columns;
  ClickHouseCommitMode mode = ClickHouseCommitMode::kExactlyOnce;
  // Tells apart sinks (jobs) that write one table; each writer tags its
  // rows `<sink_id>/<subtask>`. Empty: the table's name.
  std::string sink_id;
  // A batch is inserted when it holds this many rows or bytes (and at each
  // barrier). One insert is one block: at most 1,048,576 rows, so that it is
  // all or nothing should the server die.
  int64_t batch_rows = 1 << 20;
  int64_t batch_bytes = int64_t{64} << 20;
  // kAutoCommit: the least time between two inserts made at watermarks.
  absl::Duration auto_commit_interval = absl::Seconds(1);
  ClickHouseClientOptions client;
};

template <typename T>
struct ClickHouseSinkOptions : ClickHouseSinkConfig {
  ClickHouseRowEncoder<T> encoder;  // required
};

// What the sinks of one ClickHouseSink did; readable from any thread.
struct ClickHouseSinkCounters {
  std::atomic<int64_t> rows_written{0};  // rows inserted (committed or not yet)
  std::atomic<int64_t> commits{0};       // marker inserts
  std::atomic<int64_t> failures{0};      // statements that failed after retries
};

namespace clickhouse_sink_internal {

// Checks the server and the table before any work: reachable, credentials,
// NAME_data / NAME_commits / NAME created if missing, else their columns (and
// that NAME is a view) verified. See ClickHouseSink::Open.
absl::StatusOr<std::shared_ptr<const ClickHouseClient>> PrepareTable(
    const ClickHouseSinkConfig& config);

// The part of a writer that does not depend on T: the batch, the inserts,
// the two-phase-commit bookkeeping and its state.
class WriterCore {
 public:
  WriterCore(const ClickHouseSinkConfig& config, std::shared_ptr<const ClickHouseClient> client,
             std::string sink_id, ClickHouseSinkCounters* counters, MetricGroup* metrics);

  // The batch: TabSeparated rows, each ending in "\n".
  std::string* batch() { return &batch_; }
  // After the encoder wrote one row of `fields` fields into batch().
  absl::Status RowAdded(int fields) {
    if (fields != columns_) return WrongFieldCount(fields);
    ++batch_row_count_;
    batch_.push_back('\n');
    if (batch_row_count_ >= batch_rows_ || static_cast<int64_t>(batch_.size()) >= batch_bytes_) {
      return InsertBatch();
    }
    return absl::OkStatus();
  }
  absl::Status OnWatermark();
  absl::StatusOr<std::string> PreCommit(int64_t checkpoint_id);
  absl::Status Commit(int64_t checkpoint_id);
  absl::Status Restore(const std::vector<std::string>& states);
  absl::Status Finish();

 private:
  struct Insert {
    uint64_t seq = 0;
    int64_t rows = 0;
  };
  absl::Status WrongFieldCount(int fields) const;
  // Inserts the batch under a new seq (retried under another on kUnavailable).
  absl::Status InsertBatch();
  // Checks by a count that every insert in `inserts` is complete.
  absl::Status Verify(const std::vector<Insert>& inserts);
  // Inserts the markers of `seqs` (of `sink`/`attempt`), checkpoint `id`.
  absl::Status InsertMarkers(const std::string& sink, const std::string& attempt,
                             const std::vector<Insert>& inserts, int64_t checkpoint_id);
  absl::Status Failed(absl::Status status);

  const ClickHouseSinkConfig& config_;
  std::shared_ptr<const ClickHouseClient> client_;
  std::string sink_id_;
  std::string attempt_;
  ClickHouseSinkCounters* counters_;
  Counter* rows_metric_ = nullptr;
  Counter* failures_metric_ = nullptr;
  Histogram* commit_latency_ms_ = nullptr;
  const int columns_;
  const int64_t batch_rows_;
  const int64_t batch_bytes_;
  std::string insert_statement_;
  std::string batch_;
  int64_t batch_row_count_ = 0;
  std::string body_;  // the batch with its tags, reused
  uint64_t next_seq_ = 1;
  absl::Time last_insert_ = absl::InfinitePast();
  std::vector<Insert> inserted_;  // since the last commit, in order
  size_t verified_ = 0;           // inserted_[0, verified_) verified
  struct PreCommitted {
    int64_t checkpoint_id = 0;
    size_t inserts = 0;  // the prefix of inserted_ it covers
    absl::Time at;       // of the barrier, for the commit latency
  };
  std::vector<PreCommitted> precommitted_;
};

}  // namespace clickhouse_sink_internal

template <typename T>
class ClickHouseSink final : public Sink<T> {
 public:
  // ClickHouseSink::Open(): connects and prepares the table now, so that a
  // bad server or table fails before any work. kInvalidArgument for a bad
  // URL, table name, column list or a missing encoder; kUnavailable when the
  // server cannot be reached (after retries); kUnauthenticated for a wrong
  // user or password; kFailedPrecondition when NAME, NAME_data or
  // NAME_commits exists with other columns (or NAME is not a view), naming
  // both column lists.
  static absl::StatusOr<std::shared_ptr<ClickHouseSink>> Open(ClickHouseSinkOptions<T> options) {
    if (!options.encoder) return absl::InvalidArgumentError("ClickHouse sink: no row encoder");
    if (options.sink_id.empty()) options.sink_id = options.table;
    BROOK_ASSIGN_OR_RETURN(auto client, clickhouse_sink_internal::PrepareTable(options));
    return std::shared_ptr<ClickHouseSink>(
        new ClickHouseSink(std::move(options), std::move(client)));
  }

  absl::StatusOr<std::unique_ptr<SinkWriter<T>>> CreateWriter(
      const SinkWriterContext& ctx) override {
    return std::unique_ptr<SinkWriter<T>>(new Writer(this, ctx));
  }

  int64_t rows_written() const { return counters_.rows_written.load(std::memory_order_relaxed); }
  int64_t commits() const { return counters_.commits.load(std::memory_order_relaxed); }
  int64_t failures() const { return counters_.failures.load(std::memory_order_relaxed); }
  const ClickHouseSinkOptions<T>& options() const { return options_; }
  const ClickHouseClient& client() const { return *client_; }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    Writer(ClickHouseSink* sink, const SinkWriterContext& ctx)
        : core_(sink->options_, sink->client_,
                absl::StrCat(sink->options_.sink_id, "/", ctx.subtask_index), &sink->counters_,
                ctx.metrics),
          encoder_(sink->options_.encoder) {}

    absl::Status Write(std::vector<StreamRecord<T>>& batch) override {
      for (const auto& r : batch) {
        ClickHouseRow row(core_.batch());
        encoder_(r.value, row);
        BROOK_RETURN_IF_ERROR(core_.RowAdded(row.fields()));
      }
      return absl::OkStatus();
    }
    absl::Status OnWatermark(int64_t /*watermark_ms*/) override { return core_.OnWatermark(); }
    absl::Status Flush() override { return core_.Finish(); }
    absl::StatusOr<std::string> SnapshotState(int64_t checkpoint_id) override {
      return core_.PreCommit(checkpoint_id);
    }
    absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) override {
      return core_.Commit(checkpoint_id);
    }
    absl::Status RestoreState(std::vector<std::string> states) override {
      return core_.Restore(states);
    }

   private:
    clickhouse_sink_internal::WriterCore core_;
    const ClickHouseRowEncoder<T>& encoder_;
  };

  ClickHouseSink(ClickHouseSinkOptions<T> options, std::shared_ptr<const ClickHouseClient> client)
      : options_(std::move(options)), client_(std::move(client)) {}

  ClickHouseSinkOptions<T> options_;
  std::shared_ptr<const ClickHouseClient> client_;
  ClickHouseSinkCounters counters_;
};

// Deletes the rows of NAME_data that no marker commits (left by runs that
// crashed, or inserts retried after a lost connection), with ALTER TABLE
// ... DELETE (a mutation: ClickHouse applies it in the background). Only
// while no job writes the table: a running job's pending rows have no marker
// yet either. Returns the server's error, if any.
absl::Status CleanUpUncommittedRows(const ClickHouseClient& client, std::string_view table);

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_CLICKHOUSE_CLICKHOUSE_SINK_H_
