#include "brook/connectors/postgres/postgres_sink.h"

#include <libpq-fe.h>

#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "brook/connectors/postgres/postgres_client.h"
#include "brook/serialization.h"
#include "postgres_util.h"

namespace brook::connectors {

void PostgresRow::AddInt64(int64_t v) {
  Separate();
  absl::StrAppend(out_, v);
}

void PostgresRow::AddDouble(double v) {
  Separate();
  char buf[32];
  const int n = std::snprintf(buf, sizeof(buf), "%.17g", v);
  out_->append(buf, static_cast<size_t>(n));
}

void PostgresRow::AddText(std::string_view s) {
  Separate();
  for (char c : s) {
    switch (c) {
      case '\\':
        out_->append("\\\\");
        break;
      case '\t':
        out_->append("\\t");
        break;
      case '\n':
        out_->append("\\n");
        break;
      case '\r':
        out_->append("\\r");
        break;
      default:
        out_->push_back(c);
    }
  }
}

void PostgresRow::AddNull() {
  Separate();
  out_->append("\\N");
}

namespace postgres_sink_internal {
namespace {

using postgres_internal::Conn;
using postgres_internal::Connect;
using postgres_internal::Exec;
using postgres_internal::Quote;

constexpr char kFinishedTable[] = "brook_sink_finished";
constexpr uint8_t kStateVersion = 1;

std::string NewRunId() {
  std::random_device device;
  std::mt19937_64 gen((uint64_t{device()} << 32) ^ device() ^
                      static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())));
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(gen()));
  return buf;
}

std::string GidPrefix(const PostgresSinkConfig& c) {
  return absl::StrCat("brook:", c.sink_id, ":");
}

// The normalised name of SQL type `type` (INT8 -> bigint); kInvalidArgument
// when the server knows no such type.
absl::StatusOr<std::string> NormalizeType(PGconn* conn, const std::string& type) {
  BROOK_ASSIGN_OR_RETURN(auto rows, Exec(conn, "SELECT format_type(to_regtype($1), NULL)", {type}));
  if (rows.empty() || rows[0][0] == postgres_internal::kNull) {
    return absl::InvalidArgumentError(absl::StrCat("postgres sink: unknown SQL type '", type, "'"));
  }
  return rows[0][0];
}

std::string DescribeColumns(const std::vector<std::pair<std::string, std::string>>& columns) {
  return absl::StrCat("(",
                      absl::StrJoin(columns, ", ",
                                    [](std::string* out, const auto& c) {
                                      absl::StrAppend(out, c.first, " ", c.second);
                                    }),
                      ")");
}

}  // namespace

absl::Status CheckServerAndTable(PostgresSinkConfig* config) {
  if (config->table.empty()) return absl::InvalidArgumentError("postgres sink: no table");
  if (config->columns.empty()) return absl::InvalidArgumentError("postgres sink: no columns");
  if (config->sink_id.empty()) config->sink_id = config->table;
  if (config->sink_id.size() > 100 || absl::StrContains(config->sink_id, ':')) {
    return absl::InvalidArgumentError(absl::StrCat("postgres sink: sink id '", config->sink_id,
                                                   "' must be at most 100 bytes, without ':'"));
  }
  BROOK_ASSIGN_OR_RETURN(Conn conn, Connect(config->conninfo, config->connect_timeout));
  BROOK_ASSIGN_OR_RETURN(
      auto setting,
      Exec(conn.get(), "SELECT current_setting('max_prepared_transactions')::int", {}));
  if (config->exactly_once && setting[0][0] == "0") {
    return absl::FailedPreconditionError(
        "postgres sink: the server has max_prepared_transactions = 0; exactly-once needs "
        "PREPARE TRANSACTION: set max_prepared_transactions > 0 (e.g. 10) in postgresql.conf "
        "and restart the server");
  }
  std::vector<std::pair<std::string, std::string>> wanted;
  for (const PostgresColumn& c : config->columns) {
    BROOK_ASSIGN_OR_RETURN(std::string type, NormalizeType(conn.get(), c.sql_type));
    wanted.emplace_back(c.name, std::move(type));
  }
  const std::string table = Quote(conn.get(), config->table);
  BROOK_ASSIGN_OR_RETURN(
      auto existing,
      Exec(conn.get(),
           "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a "
           "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
           "ORDER BY a.attnum",
           {table}));
  BROOK_ASSIGN_OR_RETURN(auto exists,
                         Exec(conn.get(), "SELECT to_regclass($1) IS NOT NULL", {table}));
  if (exists[0][0] == "t") {
    std::vector<std::pair<std::string, std::string>> have;
    for (const auto& row : existing) have.emplace_back(row[0], row[1]);
    if (have != wanted) {
      return absl::FailedPreconditionError(
          absl::StrCat("postgres sink: table ", table, " exists with columns ",
                       DescribeColumns(have), " but the sink writes ", DescribeColumns(wanted),
                       "; drop or rename it, or write to another table"));
    }
  } else {
    std::string create = absl::StrCat("CREATE TABLE IF NOT EXISTS ", table, " (");
    for (size_t i = 0; i < wanted.size(); ++i) {
      absl::StrAppend(&create, i == 0 ? "" : ", ", Quote(conn.get(), wanted[i].first), " ",
                      wanted[i].second);
    }
    create += ")";
    BROOK_RETURN_IF_ERROR(Exec(conn.get(), create, {}).status());
  }
  return Exec(conn.get(),
              absl::StrCat("CREATE TABLE IF NOT EXISTS ", kFinishedTable,
                           " (sink_id text NOT NULL, run text NOT NULL, lineage text[] NOT NULL, "
                           "finished_at timestamptz NOT NULL DEFAULT now())"),
              {})
      .status();
}

struct WriterCore::Impl {
  const PostgresSinkConfig* config;
  Counter* rows_counter = nullptr;
  Counter* failures = nullptr;
  Histogram* commit_latency = nullptr;
  Conn data;     // the open transaction and its COPY
  Conn control;  // COMMIT / ROLLBACK PREPARED (never inside a transaction block)
  std::string run = NewRunId();
  std::string table;  // quoted
  std::string copy_sql;
  bool started = false;  // leftovers handled (fresh start) or restored
  bool restored = false;
  bool finished = false;
  // The job already finished from the restored checkpoint: replayed rows are
  // in the table, so nothing is written.
  bool discard = false;
  bool replace_pending = false;
  bool in_txn = false;
  bool in_copy = false;
  absl::Time last_commit = absl::Now();
  std::map<int64_t, std::string> prepared;  // checkpoint id -> gid, not yet committed
  std::vector<std::string> lineage;         // "<run>:<checkpoint id>" this output extends

  absl::Status Failed(absl::Status s) {
    if (!s.ok() && failures != nullptr) failures->Inc();
    return s;
  }
  absl::StatusOr<PGconn*> Open(Conn& conn) {
    if (conn == nullptr) {
      BROOK_ASSIGN_OR_RETURN(conn, Connect(config->conninfo, config->connect_timeout));
      if (table.empty()) {
        table = Quote(conn.get(), config->table);
        std::vector<std::string> names;
        for (const PostgresColumn& c : config->columns) names.push_back(Quote(conn.get(), c.name));
        copy_sql = absl::StrCat("COPY ", table, " (", absl::StrJoin(names, ", "), ") FROM STDIN");
      }
    }
    return conn.get();
  }
  // Every prepared transaction of this sink in the database.
  absl::StatusOr<std::vector<std::string>> ListPrepared() {
    BROOK_ASSIGN_OR_RETURN(PGconn * c, Open(control));
    const std::string prefix = GidPrefix(*config);
    BROOK_ASSIGN_OR_RETURN(
        auto rows, Exec(c,
                        "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() "
                        "AND left(gid, length($1)) = $1 ORDER BY prepared",
                        {prefix}));
    std::vector<std::string> gids;
    for (auto& r : rows) gids.push_back(std::move(r[0]));
    return gids;
  }
  // COMMIT or ROLLBACK PREPARED; one that no longer exists (SQLSTATE 42704)
  // was resolved before.
  absl::Status Resolve(const std::string& gid, bool commit) {
    BROOK_ASSIGN_OR_RETURN(PGconn * c, Open(control));
    const absl::Time start = absl::Now();
    std::string sqlstate;
    auto r = Exec(c,
                  absl::StrCat(commit ? "COMMIT PREPARED " : "ROLLBACK PREPARED ",
                               postgres_internal::Literal(c, gid)),
                  {}, &sqlstate);
    if (!r.ok() && sqlstate != "42704") return r.status();
    if (commit && commit_latency != nullptr) {
      commit_latency->Observe(absl::ToInt64Milliseconds(absl::Now() - start));
    }
    return absl::OkStatus();
  }
  absl::Status EnsureStarted() {
    if (started) return absl::OkStatus();
    started = true;
    if (!restored) {  // a fresh start supersedes earlier runs' prepared output
      BROOK_ASSIGN_OR_RETURN(auto gids, ListPrepared());
      for (const auto& gid : gids) BROOK_RETURN_IF_ERROR(Resolve(gid, /*commit=*/false));
      replace_pending = config->replace_on_fresh_start;
    }
    return absl::OkStatus();
  }
  absl::Status Begin() {
    if (in_txn) return absl::OkStatus();
    BROOK_ASSIGN_OR_RETURN(PGconn * c, Open(data));
    BROOK_RETURN_IF_ERROR(Exec(c, "BEGIN", {}).status());
    in_txn = true;
    if (replace_pending) {
      BROOK_RETURN_IF_ERROR(Exec(c, absl::StrCat("DELETE FROM ", table), {}).status());
      replace_pending = false;
    }
    return absl::OkStatus();
  }
  absl::Status EndCopy() {
    if (!in_copy) return absl::OkStatus();
    in_copy = false;
    return postgres_internal::EndCopy(data.get());
  }
  absl::Status Append(std::string_view rows) {
    BROOK_RETURN_IF_ERROR(EnsureStarted());
    BROOK_RETURN_IF_ERROR(Begin());
    if (!in_copy) {
      BROOK_RETURN_IF_ERROR(postgres_internal::StartCopy(data.get(), copy_sql));
      in_copy = true;
    }
    return postgres_internal::PutCopyData(data.get(), rows);
  }
  absl::Status Prepare(int64_t checkpoint_id) {
    BROOK_RETURN_IF_ERROR(EnsureStarted());
    if (replace_pending) BROOK_RETURN_IF_ERROR(Begin());  // the emptying is part of the output
    if (!in_txn) return absl::OkStatus();
    BROOK_RETURN_IF_ERROR(EndCopy());
    const std::string gid = absl::StrCat(GidPrefix(*config), run, ":", checkpoint_id);
    BROOK_RETURN_IF_ERROR(
        Exec(data.get(),
             absl::StrCat("PREPARE TRANSACTION ", postgres_internal::Literal(data.get(), gid)), {})
            .status());
    in_txn = false;
    prepared[checkpoint_id] = gid;
    return absl::OkStatus();
  }
  absl::Status CommitUpTo(int64_t checkpoint_id) {
    while (!prepared.empty() && prepared.begin()->first <= checkpoint_id) {
      BROOK_RETURN_IF_ERROR(Resolve(prepared.begin()->second, /*commit=*/true));
      prepared.erase(prepared.begin());
    }
    return absl::OkStatus();
  }
  absl::Status Finish() {
    if (finished) return absl::OkStatus();
    BROOK_RETURN_IF_ERROR(EnsureStarted());
    if (discard) return absl::OkStatus();
    BROOK_RETURN_IF_ERROR(EndCopy());
    BROOK_RETURN_IF_ERROR(Begin());
    // The end of input is recorded with the last rows, before the earlier
    // prepared transactions commit: a restore that finds it commits those.
    BROOK_RETURN_IF_ERROR(
        Exec(data.get(),
             absl::StrCat("INSERT INTO ", kFinishedTable,
                          " (sink_id, run, lineage) VALUES ($1, $2, $3::text[])"),
             {config->sink_id, run, absl::StrCat("{", absl::StrJoin(lineage, ","), "}")})
            .status());
    BROOK_RETURN_IF_ERROR(Exec(data.get(), "COMMIT", {}).status());
    in_txn = false;
    BROOK_RETURN_IF_ERROR(CommitUpTo(INT64_MAX));
    finished = true;
    return absl::OkStatus();
  }
  absl::Status Restore(const std::string& state, int64_t* rows_written) {
    DataInputView in(state);
    uint8_t version = 0, discard_flag = 0;
    std::string state_run;
    int64_t checkpoint_id = 0;
    size_t n = 0;
    BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
    if (version != kStateVersion) {
      return absl::DataLossError(absl::StrCat("postgres sink state: unknown version ", version));
    }
    BROOK_RETURN_IF_ERROR(in.ReadString(&state_run));
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&checkpoint_id));
    BROOK_RETURN_IF_ERROR(in.ReadUint8(&discard_flag));
    BROOK_RETURN_IF_ERROR(in.ReadInt64(rows_written));
    BROOK_RETURN_IF_ERROR(in.ReadLength(&n));
    std::set<std::string> named;
    for (size_t i = 0; i < n; ++i) {
      int64_t id = 0;
      std::string gid;
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&id));
      BROOK_RETURN_IF_ERROR(in.ReadString(&gid));
      named.insert(std::move(gid));
    }
    if (!in.AtEnd()) return absl::DataLossError("postgres sink state: trailing bytes");
    restored = started = true;
    discard = discard_flag != 0;
    const std::string identity = absl::StrCat(state_run, ":", checkpoint_id);
    lineage = {identity};
    // Did a run restored from (or after) this checkpoint reach the end of input?
    BROOK_ASSIGN_OR_RETURN(PGconn * c, Open(control));
    BROOK_ASSIGN_OR_RETURN(auto done,
                           Exec(c,
                                absl::StrCat("SELECT run FROM ", kFinishedTable,
                                             " WHERE sink_id = $1 AND $2 = ANY(lineage) LIMIT 1"),
                                {config->sink_id, identity}));
    const std::string finished_run = done.empty() ? std::string() : done[0][0];
    if (!finished_run.empty()) discard = true;
    BROOK_ASSIGN_OR_RETURN(auto gids, ListPrepared());
    const std::string finished_prefix = absl::StrCat(GidPrefix(*config), finished_run, ":");
    for (const auto& gid : gids) {
      const bool commit =
          named.count(gid) > 0 || (!finished_run.empty() && absl::StartsWith(gid, finished_prefix));
      BROOK_RETURN_IF_ERROR(Resolve(gid, commit));
    }
    return absl::OkStatus();
  }
};

WriterCore::WriterCore(const PostgresSinkConfig* config, MetricGroup* metrics)
    : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  if (metrics != nullptr) {
    impl_->rows_counter = metrics->GetCounter("num_rows_written");
    impl_->failures = metrics->GetCounter("num_failures");
    impl_->commit_latency =
        metrics->GetHistogram("commit_latency_ms", {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000});
  }
}

WriterCore::~WriterCore() = default;

absl::Status WriterCore::Append(std::string_view copy_rows, int64_t rows) {
  if (rows == 0) return absl::OkStatus();
  rows_written_ += rows;
  if (impl_->rows_counter != nullptr) impl_->rows_counter->Inc(rows);
  if (impl_->discard) return absl::OkStatus();
  return impl_->Failed(impl_->Append(copy_rows));
}

absl::StatusOr<std::string> WriterCore::PreCommit(int64_t checkpoint_id) {
  if (!impl_->config->exactly_once) {
    return absl::FailedPreconditionError(
        "postgres sink: not exactly-once (exactly_once = false): no checkpoint state");
  }
  if (!impl_->discard) BROOK_RETURN_IF_ERROR(impl_->Failed(impl_->Prepare(checkpoint_id)));
  impl_->lineage.push_back(absl::StrCat(impl_->run, ":", checkpoint_id));
  std::string bytes;
  DataOutputView out(&bytes);
  out.WriteUint8(kStateVersion);
  out.WriteString(impl_->run);
  out.WriteInt64(checkpoint_id);
  out.WriteUint8(impl_->discard ? 1 : 0);
  out.WriteInt64(rows_written_);
  out.WriteVarint(impl_->prepared.size());
  for (const auto& [id, gid] : impl_->prepared) {
    out.WriteInt64(id);
    out.WriteString(gid);
  }
  return bytes;
}

absl::Status WriterCore::Commit(int64_t checkpoint_id) {
  return impl_->Failed(impl_->CommitUpTo(checkpoint_id));
}

absl::Status WriterCore::Restore(const std::vector<std::string>& states) {
  if (states.empty()) return absl::OkStatus();
  if (states.size() != 1) {
    return absl::FailedPreconditionError("postgres sink: one writer's state expected");
  }
  return impl_->Failed(impl_->Restore(states.front(), &rows_written_));
}

absl::Status WriterCore::MaybeCommit() {
  Impl& i = *impl_;
  if (i.config->exactly_once || !i.in_txn) return absl::OkStatus();
  if (absl::Now() - i.last_commit < i.config->commit_interval) return absl::OkStatus();
  absl::Status s = i.EndCopy();
  if (s.ok()) s = Exec(i.data.get(), "COMMIT", {}).status();
  i.in_txn = false;
  i.last_commit = absl::Now();
  return i.Failed(std::move(s));
}

absl::Status WriterCore::Finish() { return impl_->Failed(impl_->Finish()); }

}  // namespace postgres_sink_internal
}  // namespace brook::connectors
