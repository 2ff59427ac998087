// File: connectors/clickhouse/src/clickhouse_sink.cc
#include "brook/connectors/clickhouse/clickhouse_sink.h"

#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "brook/serialization.h"

namespace brook::connectors {
namespace {

// The tag columns that lead NAME_data, and NAME_commits' columns.
constexpr absl::string_view kTagColumns = "_sink, _attempt, _seq";
const std::vector<ClickHouseColumn>& TagColumns() {
  static const auto* columns = new std::vector<ClickHouseColumn>{
      {"_sink", "String"}, {"_attempt", "String"}, {"_seq", "UInt64"}};
  return *columns;
}
const std::vector<ClickHouseColumn>& CommitColumns() {
  static const auto* columns = new std::vector<ClickHouseColumn>{{"_sink", "String"},
                                                                 {"_attempt", "String"},
                                                                 {"_seq", "UInt64"},
                                                                 {"_checkpoint", "Int64"},
                                                                 {"_committed_at", "DateTime"}};
  return *columns;
}

// A writer's snapshot: version, checkpoint id, sink, attempt, then the
// pre-committed inserts (seq, rows).
constexpr uint8_t kStateVersion = 1;

bool IsIdentifier(absl::string_view s) {
  if (s.empty() || !(absl::ascii_isalpha(s[0]) || s[0] == '_')) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

std::string Literal(absl::string_view s) {
  std::string out;
  AppendClickHouseStringLiteral(std::string_view(s.data(), s.size()), out);
  return out;
}

std::string ColumnList(const std::vector<ClickHouseColumn>& columns, bool with_types) {
  return absl::StrJoin(columns, ", ", [with_types](std::string* out, const ClickHouseColumn& c) {
    absl::StrAppend(out, c.name, with_types ? " " : "", with_types ? c.type : "");
  });
}

// NAME's columns as system.columns lists them; empty when it does not exist.
absl::StatusOr<std::vector<ClickHouseColumn>> ExistingColumns(const ClickHouseClient& client,
                                                              absl::string_view table) {
  BROOK_ASSIGN_OR_RETURN(
      const std::string tsv,
      client.QueryWithRetries(absl::StrCat(
          "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = ",
          Literal(table), " FORMAT TabSeparated")));
  std::vector<ClickHouseColumn> columns;
  for (absl::string_view line : absl::StrSplit(tsv, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, '\t');
    if (fields.size() != 2) return absl::InternalError("system.columns: unexpected answer");
    columns.push_back({std::move(fields[0]), std::move(fields[1])});
  }
  return columns;
}

// Creates `table` with `create` when missing, else checks its columns.
absl::Status EnsureTable(const ClickHouseClient& client, absl::string_view table,
                         const std::vector<ClickHouseColumn>& want, const std::string& create) {
  BROOK_ASSIGN_OR_RETURN(const auto have, ExistingColumns(client, table));
  if (have.empty()) return client.QueryWithRetries(create).status();
  const bool same = have.size() == want.size() &&
                    std::equal(have.begin(), have.end(), want.begin(), [](auto& a, auto& b) {
                      return a.name == b.name && a.type == b.type;
                    });
  if (same) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("ClickHouse table '", table, "' exists with other columns: (",
                   ColumnList(have, true), "); the sink writes (", ColumnList(want, true),
                   "): drop or rename it, or choose another table"));
}

uint64_t RandomAttempt() {
  std::random_device device;
  std::mt19937_64 gen((uint64_t{device()} << 32) ^ device() ^
                      static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())));
  return gen();
}

}  // namespace

absl::Status CleanUpUncommittedRows(const ClickHouseClient& client, std::string_view t) {
  const absl::string_view table(t.data(), t.size());
  return client
      .QueryWithRetries(absl::StrCat("ALTER TABLE ", table, "_data DELETE WHERE (", kTagColumns,
                                     ") NOT IN (SELECT ", kTagColumns, " FROM ", table,
                                     "_commits)"))
      .status();
}

namespace clickhouse_sink_internal {

absl::StatusOr<std::shared_ptr<const ClickHouseClient>> PrepareTable(
    const ClickHouseSinkConfig& config) {
  auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("ClickHouse sink: ", why));
  };
  if (!IsIdentifier(config.table)) {
    return bad(absl::StrCat("table name '", config.table,
                            "' is not an identifier ([A-Za-z_][A-Za-z0-9_]*)"));
  }
  if (config.columns.empty()) return bad("no columns");
  for (const ClickHouseColumn& c : config.columns) {
    if (!IsIdentifier(c.name) || c.name[0] == '_' || c.type.empty()) {
      return bad(absl::StrCat("column '", c.name, "' '", c.type,
                              "': names are identifiers not starting with '_' (the sink's "
                              "own columns do), types are ClickHouse types"));
    }
  }
  if (config.batch_rows < 1 || config.batch_bytes < 1) return bad("batch sizes must be positive");
  BROOK_ASSIGN_OR_RETURN(ClickHouseEndpoint endpoint, ParseClickHouseUrl(config.url));
  auto client = std::make_shared<const ClickHouseClient>(std::move(endpoint), config.client);
  if (absl::Status s = client->QueryWithRetries("SELECT 1").status(); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("ClickHouse sink: cannot use the server: ", s.message()));
  }

  const std::string& t = config.table;
  std::vector<ClickHouseColumn> data = TagColumns();
  data.insert(data.end(), config.columns.begin(), config.columns.end());
  BROOK_RETURN_IF_ERROR(
      EnsureTable(*client, t + "_data", data,
                  absl::StrCat("CREATE TABLE IF NOT EXISTS ", t, "_data (", ColumnList(data, true),
                               ") ENGINE = MergeTree ORDER BY (", kTagColumns, ")")));
  BROOK_RETURN_IF_ERROR(EnsureTable(
      *client, t + "_commits", CommitColumns(),
      absl::StrCat("CREATE TABLE IF NOT EXISTS ", t,
                   "_commits (_sink String, _attempt String, _seq UInt64, _checkpoint Int64, "
                   "_committed_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY (",
                   kTagColumns, ")")));
  BROOK_RETURN_IF_ERROR(EnsureTable(
      *client, t, config.columns,
      absl::StrCat("CREATE VIEW IF NOT EXISTS ", t, " AS SELECT ",
                   ColumnList(config.columns, false), " FROM ", t, "_data WHERE (", kTagColumns,
                   ") IN (SELECT ", kTagColumns, " FROM ", t, "_commits)")));
  BROOK_ASSIGN_OR_RETURN(
      const std::string engine,
      client->QueryWithRetries(absl::StrCat("SELECT engine FROM system.tables WHERE database = "
                                            "currentDatabase() AND name = ",
                                            Literal(t), " FORMAT TabSeparated")));
  if (absl::StripAsciiWhitespace(engine) != "View") {
    return absl::FailedPreconditionError(
        absl::StrCat("ClickHouse table '", t, "' exists and is not the sink's view (engine ",
                     absl::StripAsciiWhitespace(engine), "): choose another table"));
  }
  return client;
}

WriterCore::WriterCore(const ClickHouseSinkConfig& config,
                       std::shared_ptr<const ClickHouseClient> client, std::string sink_id,
                       ClickHouseSinkCounters* counters, MetricGroup* metrics)
    : config_(config),
      client_(std::move(client)),
      sink_id_(std::move(sink_id)),
      attempt_(absl::StrCat(absl::Hex(RandomAttempt(), absl::kZeroPad16))),
      counters_(counters),
      columns_(static_cast<int>(config.columns.size())),
      batch_rows_(config.batch_rows),
      batch_bytes_(config.batch_bytes),
      insert_statement_(absl::StrCat("INSERT INTO ", config.table, "_data (", kTagColumns, ", ",
                                     ColumnList(config.columns, false), ") FORMAT TabSeparated")) {
  if (metrics != nullptr) {
    rows_metric_ = metrics->GetCounter("clickhouse_rows_written");
    failures_metric_ = metrics->GetCounter("clickhouse_failures");
    commit_latency_ms_ = metrics->GetHistogram("clickhouse_commit_latency_ms",
                                               {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000});
  }
}

absl::Status WriterCore::WrongFieldCount(int fields) const {
  return absl::InvalidArgumentError(absl::StrCat("ClickHouse sink '", sink_id_,
                                                 "': the row encoder wrote ", fields,
                                                 " fields for ", columns_, " columns"));
}

absl::Status WriterCore::Failed(absl::Status status) {
  counters_->failures.fetch_add(1, std::memory_order_relaxed);
  if (failures_metric_ != nullptr) failures_metric_->Inc();
  return absl::Status(status.code(),
                      absl::StrCat("ClickHouse sink '", sink_id_, "': ", status.message()));
}

absl::Status WriterCore::InsertBatch() {
  if (batch_row_count_ == 0) return absl::OkStatus();
  absl::Duration backoff = config_.client.retry_backoff;
  for (int attempt = 0;; ++attempt) {
    const uint64_t seq = next_seq_++;
    std::string prefix;
    ClickHouseRow tags(&prefix);
    tags.String(sink_id_).String(attempt_).Int(static_cast<int64_t>(seq));
    prefix.push_back('\t');
    body_.clear();
    body_.reserve(batch_.size() + prefix.size() * batch_row_count_);
    for (size_t at = 0; at < batch_.size();) {
      const size_t end = batch_.find('\n', at) + 1;  // TSV escapes "\n" inside fields
      body_.append(prefix).append(batch_, at, end - at);
      at = end;
    }
    absl::Status status = client_->Query(insert_statement_, body_).status();
    if (status.ok()) {
      last_insert_ = absl::Now();
      inserted_.push_back({seq, batch_row_count_});
      counters_->rows_written.fetch_add(batch_row_count_, std::memory_order_relaxed);
      if (rows_metric_ != nullptr) rows_metric_->Inc(batch_row_count_);
      batch_.clear();
      batch_row_count_ = 0;
      if (config_.mode == ClickHouseCommitMode::kAutoCommit) return Commit(-1);
      return absl::OkStatus();
    }
    // A lost connection may have left part of `seq` behind: it never gets a
    // marker. Retried under a new seq.
    if (!absl::IsUnavailable(status) || attempt >= config_.client.max_retries) {
      return Failed(std::move(status));
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff *= 2;
  }
}

absl::Status WriterCore::Verify(const std::vector<Insert>& inserts) {
  if (inserts.empty()) return absl::OkStatus();
  const std::string query = absl::StrCat(
      "SELECT _seq, count() FROM ", config_.table, "_data WHERE _sink = ", Literal(sink_id_),
      " AND _attempt = ", Literal(attempt_), " AND _seq IN (",
      absl::StrJoin(inserts, ",",
                    [](std::string* out, const Insert& i) { absl::StrAppend(out, i.seq); }),
      ") GROUP BY _seq FORMAT TabSeparated");
  absl::StatusOr<std::string> tsv = client_->QueryWithRetries(query);
  if (!tsv.ok()) return Failed(tsv.status());
  absl::flat_hash_map<uint64_t, int64_t> counts;
  for (absl::string_view line : absl::StrSplit(*tsv, '\n', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> f = absl::StrSplit(line, '\t');
    uint64_t seq = 0;
    int64_t n = 0;
    if (!absl::SimpleAtoi(f.first, &seq) || !absl::SimpleAtoi(f.second, &n)) {
      return Failed(absl::InternalError(absl::StrCat("unexpected count answer '", line, "'")));
    }
    counts[seq] = n;
  }
  for (const Insert& i : inserts) {
    if (counts[i.seq] != i.rows) {
      return Failed(absl::DataLossError(absl::StrCat("insert ", i.seq, " of attempt ", attempt_,
                                                     ": the server holds ", counts[i.seq],
                                                     " rows of the ", i.rows, " sent")));
    }
  }
  return absl::OkStatus();
}

absl::Status WriterCore::InsertMarkers(const std::string& sink, const std::string& attempt,
                                       const std::vector<Insert>& inserts, int64_t checkpoint_id) {
  if (inserts.empty()) return absl::OkStatus();
  std::string body;
  for (const Insert& i : inserts) {
    ClickHouseRow row(&body);
    row.String(sink).String(attempt).Int(static_cast<int64_t>(i.seq)).Int(checkpoint_id);
    body.push_back('\n');
  }
  // Idempotent: a marker twice commits nothing twice (the view tests IN).
  absl::Status status =
      client_
          ->QueryWithRetries(absl::StrCat("INSERT INTO ", config_.table, "_commits (", kTagColumns,
                                          ", _checkpoint) FORMAT TabSeparated"),
                             body)
          .status();
  if (!status.ok()) return Failed(std::move(status));
  counters_->commits.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status WriterCore::OnWatermark() {
  if (config_.mode != ClickHouseCommitMode::kAutoCommit || batch_row_count_ == 0 ||
      absl::Now() - last_insert_ < config_.auto_commit_interval) {
    return absl::OkStatus();
  }
  return InsertBatch();
}

absl::StatusOr<std::string> WriterCore::PreCommit(int64_t checkpoint_id) {
  BROOK_RETURN_IF_ERROR(InsertBatch());
  BROOK_RETURN_IF_ERROR(
      Verify(std::vector<Insert>(inserted_.begin() + verified_, inserted_.end())));
  verified_ = inserted_.size();
  precommitted_.push_back({checkpoint_id, inserted_.size(), absl::Now()});
  std::string bytes;
  DataOutputView out(&bytes);
  out.WriteUint8(kStateVersion);
  out.WriteInt64(checkpoint_id);
  out.WriteString(sink_id_);
  out.WriteString(attempt_);
  out.WriteVarint(inserted_.size());
  for (const Insert& i : inserted_) {
    out.WriteInt64(static_cast<int64_t>(i.seq));
    out.WriteInt64(i.rows);
  }
  return bytes;
}

absl::Status WriterCore::Commit(int64_t checkpoint_id) {
  // The newest pre-commit at or before `checkpoint_id` covers the older
  // ones (a checkpoint completes after every earlier one, or never);
  // -1: everything inserted (end of input, auto-commit).
  size_t n = inserted_.size();
  absl::Time precommit_time = absl::Now();
  size_t covered = precommitted_.size();
  if (checkpoint_id >= 0) {
    covered = 0;
    while (covered < precommitted_.size() &&
           precommitted_[covered].checkpoint_id <= checkpoint_id) {
      ++covered;
    }
    if (covered == 0) return absl::OkStatus();
    n = precommitted_[covered - 1].inserts;
    precommit_time = precommitted_[covered - 1].at;
  }
  if (n == 0) return absl::OkStatus();
  const std::vector<Insert> committed(inserted_.begin(), inserted_.begin() + n);
  BROOK_RETURN_IF_ERROR(
      InsertMarkers(sink_id_, attempt_, committed, std::max<int64_t>(checkpoint_id, 0)));
  if (commit_latency_ms_ != nullptr) {
    commit_latency_ms_->Observe(absl::ToInt64Milliseconds(absl::Now() - precommit_time));
  }
  inserted_.erase(inserted_.begin(), inserted_.begin() + n);
  verified_ = verified_ > n ? verified_ - n : 0;
  precommitted_.erase(precommitted_.begin(), precommitted_.begin() + covered);
  for (PreCommitted& p : precommitted_) p.inserts -= n;
  return absl::OkStatus();
}

absl::Status WriterCore::Restore(const std::vector<std::string>& states) {
  for (const std::string& state : states) {
    if (state.empty()) continue;
    DataInputView in(state);
    uint8_t version = 0;
    int64_t checkpoint_id = 0;
    std::string sink, attempt;
    size_t n = 0;
    BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
    if (version != kStateVersion) {
      return absl::DataLossError(absl::StrCat("ClickHouse sink state: unknown version ", version));
    }
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&checkpoint_id));
    BROOK_RETURN_IF_ERROR(in.ReadString(&sink));
    BROOK_RETURN_IF_ERROR(in.ReadString(&attempt));
    BROOK_RETURN_IF_ERROR(in.ReadLength(&n, 16));
    std::vector<Insert> inserts(n);
    for (Insert& i : inserts) {
      int64_t seq = 0;
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&seq));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&i.rows));
      i.seq = static_cast<uint64_t>(seq);
    }
    if (!in.AtEnd()) return absl::DataLossError("ClickHouse sink state: trailing bytes");
    // The checkpoint is complete: what it pre-committed becomes visible.
    BROOK_RETURN_IF_ERROR(InsertMarkers(sink, attempt, inserts, checkpoint_id));
  }
  return absl::OkStatus();
}

absl::Status WriterCore::Finish() {
  BROOK_RETURN_IF_ERROR(InsertBatch());
  BROOK_RETURN_IF_ERROR(
      Verify(std::vector<Insert>(inserted_.begin() + verified_, inserted_.end())));
  verified_ = inserted_.size();
  return Commit(-1);
}

}  // namespace clickhouse_sink_internal
}  // namespace brook::connectors
