// File: brook/connectors/postgres/postgres_sink.h
//
// PostgresSink<T>: rows of T into a PostgreSQL table, exactly once, as
// Flink's JDBC exactly-once sink (XA) does with PostgreSQL's two-phase commit:
//
//   Write            rows go through COPY ... FROM STDIN (text format) into a
//                    transaction opened for this checkpoint interval.
//   SnapshotState    pre-commit at the checkpoint barrier: the COPY ends and
//                    the transaction is prepared, `PREPARE TRANSACTION gid`
//                    (durable, invisible, survives a server crash). The state
//                    names the prepared transactions not yet committed.
//   NotifyCheckpointComplete(id)
//                    commit: `COMMIT PREPARED` of every transaction prepared
//                    at or before checkpoint `id` (idempotent: one already
//                    committed, SQLSTATE 42704, is skipped).
//   RestoreState     the restored state's prepared transactions are
//                    committed; every other prepared transaction of this sink
//                    (later checkpoints, earlier runs) is rolled back.
//   Flush            end of input: the open transaction and every prepared
//                    one are committed.
//
// The gid is "brook:<sink_id>:<run>:<checkpoint id>", where <run> is drawn
// at random for every run: a checkpoint id may be reused by the next run when
// a crash came before that checkpoint completed, so the id alone names no
// transaction. A run that starts without restoring rolls back the sink's
// prepared leftovers before its first transaction. The end of input is
// recorded, in the final transaction, in the table brook_sink_finished
// (sink_id, run, lineage: the checkpoints the finished output extends): a
// run restored from a checkpoint the job had already finished from writes
// nothing (its replayed rows are in the table), so a crash between the final
// commit and the process' exit doubles nothing.
//
// Needs `max_prepared_transactions` > 0 on the server (the default is 0;
// one per checkpoint in flight is enough). docs/results-stores.md
// says how to clean up the prepared transactions of an abandoned job.
//
// Open() checks, before any work: the server answers (kUnavailable), the
// credentials (kUnauthenticated), the database exists (kNotFound),
// max_prepared_transactions > 0 when exactly once (kFailedPrecondition); it
// creates the table if missing and refuses one that exists with other
// columns or types (kFailedPrecondition naming both).
// Later server errors are kUnavailable naming the statement and the server's
// message; they fail the checkpoint, then the job, which resumes from its
// last checkpoint once restarted.
//
// Metrics (in the sink's metric group): num_rows_written (rows sent),
// num_failures (server errors), commit_latency_ms (histogram of COMMIT
// PREPARED round trips).
//
// The sink runs at parallelism 1 (CreateWriter returns kFailedPrecondition
// otherwise): rolling back "every other" prepared transaction at a restore
// needs one writer per sink id. Per row it calls the encoder through
// std::function (an indirect call next to the COPY encoding). rows_written()
// may be read from any thread.
#ifndef BROOK_CONNECTORS_POSTGRES_POSTGRES_SINK_H_
#define BROOK_CONNECTORS_POSTGRES_POSTGRES_SINK_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "brook/sink.h"
#include "brook/status.h"

namespace brook::connectors {

// A column of the table: its name and SQL type as PostgreSQL spells it
// (BIGINT, INTEGER, TEXT, DOUBLE PRECISION, ...). Types are compared after
// the server normalises them (INT8 and BIGINT are the same).
struct PostgresColumn {
  std::string name;
  std::string sql_type;
};

// One row in COPY's text format: add exactly one value per column, in the
// schema's order. Text is escaped (backslash, tab, newline, carriage return).
class PostgresRow {
 public:
  explicit PostgresRow(std::string* out) : out_(out) {}
  void AddInt64(int64_t v);
  void AddDouble(double v);
  void AddText(std::string_view s);
  void AddNull();  // SQL NULL

 private:
  void Separate() {
    if (!first_) out_->push_back('\t');
    first_ = false;
  }
  std::string* out_;
  bool first_ = true;
};

// Appends the values of `row` to `out`, one Add per column.
template <typename T>
using PostgresRowEncoder = std::function<void(const T& row, PostgresRow& out)>;

// What the sink needs besides the row encoder.
struct PostgresSinkConfig {
  // A libpq connection string ("host=... port=... dbname=... user=...
  // password=...") or URI ("postgresql://user:password@host:port/db").
  std::string conninfo;
  // The table, one identifier (quoted as given; found on the search_path).
  std::string table;
  std::vector<PostgresColumn> columns;
  // Names this sink's prepared transactions; unique per job writing to the
  // database. Empty: the table's name. At most 100 bytes, no ':'.
  std::string sink_id;
  // A run that restores nothing empties the table in its first transaction
  // (visible when that commits), so the table holds exactly the run's output
  // as a file sink's file does. False: rows are appended.
  bool replace_on_fresh_start = false;
  // False (a job without checkpoints): no two-phase commit; the open
  // transaction commits at a watermark at most every `commit_interval`, and
  // at the end of input; SnapshotState returns kFailedPrecondition.
  bool exactly_once = true;
  absl::Duration commit_interval = absl::Milliseconds(200);
  absl::Duration connect_timeout = absl::Seconds(5);
};

template <typename T>
struct PostgresSinkOptions {
  PostgresSinkConfig config;
  PostgresRowEncoder<T> encoder;  // required
};

namespace postgres_sink_internal {

// Checks the server and the table (see the file comment); creates it if
// missing. Fills in config->sink_id when empty.
absl::Status CheckServerAndTable(PostgresSinkConfig* config);

// The part of a writer that does not depend on T: the connections, the
// transaction, the two-phase-commit bookkeeping and the state.
class WriterCore {
 public:
  WriterCore(const PostgresSinkConfig* config, MetricGroup* metrics);
  ~WriterCore();
  WriterCore(const WriterCore&) = delete;
  WriterCore& operator=(const WriterCore&) = delete;

  // Sends COPY text rows (`rows` of them), opening the transaction if needed.
  absl::Status Append(std::string_view copy_rows, int64_t rows);
  absl::StatusOr<std::string> PreCommit(int64_t checkpoint_id);
  absl::Status Commit(int64_t checkpoint_id);
  absl::Status Restore(const std::vector<std::string>& states);
  absl::Status Finish();
  // Without exactly_once: commits the open transaction when commit_interval
  // has passed since the last commit.
  absl::Status MaybeCommit();
  int64_t rows_written() const { return rows_written_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t rows_written_ = 0;
};

}  // namespace postgres_sink_internal

template <typename T>
class PostgresSink final : public Sink<T> {
 public:
  // PostgresSink::Open(): connects and checks the server and table now, so
  // that a bad address, credentials or table fail before any work (codes
  // above); kInvalidArgument for a missing encoder, table or column.
  static absl::StatusOr<std::shared_ptr<PostgresSink>> Open(PostgresSinkOptions<T> options) {
    if (!options.encoder) return absl::InvalidArgumentError("postgres sink: no row encoder");
    BROOK_RETURN_IF_ERROR(postgres_sink_internal::CheckServerAndTable(&options.config));
    return std::shared_ptr<PostgresSink>(new PostgresSink(std::move(options)));
  }

  absl::StatusOr<std::unique_ptr<SinkWriter<T>>> CreateWriter(
      const SinkWriterContext& ctx) override {
    if (ctx.parallelism != 1) {
      return absl::FailedPreconditionError("a postgres sink runs at parallelism 1");
    }
    return std::unique_ptr<SinkWriter<T>>(new Writer(this, ctx.metrics));
  }

  // Rows sent by the job, those before a restored checkpoint included.
  int64_t rows_written() const { return rows_written_.load(std::memory_order_relaxed); }
  const PostgresSinkConfig& config() const { return options_.config; }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    Writer(PostgresSink* sink, MetricGroup* metrics)
        : sink_(sink), core_(&sink->options_.config, metrics) {}
    absl::Status Write(std::vector<StreamRecord<T>>& batch) override {
      for (const auto& r : batch) {
        PostgresRow row(&encoded_);
        sink_->options_.encoder(r.value, row);
        encoded_.push_back('\n');
        ++pending_rows_;
        if (encoded_.size() >= kChunkBytes) BROOK_RETURN_IF_ERROR(Send());
      }
      return Send();
    }
    absl::Status OnWatermark(int64_t /*watermark_ms*/) override { return core_.MaybeCommit(); }
    absl::Status Flush() override { return Published(core_.Finish()); }
    absl::StatusOr<std::string> SnapshotState(int64_t checkpoint_id) override {
      return core_.PreCommit(checkpoint_id);
    }
    absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) override {
      return core_.Commit(checkpoint_id);
    }
    absl::Status RestoreState(std::vector<std::string> states) override {
      return Published(core_.Restore(states));
    }

   private:
    static constexpr size_t kChunkBytes = size_t{64} << 10;
    absl::Status Send() {
      absl::Status s = core_.Append(encoded_, pending_rows_);
      encoded_.clear();
      pending_rows_ = 0;
      return Published(std::move(s));
    }
    absl::Status Published(absl::Status s) {
      sink_->rows_written_.store(core_.rows_written(), std::memory_order_relaxed);
      return s;
    }
    PostgresSink* sink_;
    postgres_sink_internal::WriterCore core_;
    std::string encoded_;
    int64_t pending_rows_ = 0;  // rows in encoded_
  };

  explicit PostgresSink(PostgresSinkOptions<T> options) : options_(std::move(options)) {}

  PostgresSinkOptions<T> options_;
  std::atomic<int64_t> rows_written_{0};
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_POSTGRES_POSTGRES_SINK_H_
