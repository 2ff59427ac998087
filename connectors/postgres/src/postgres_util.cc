#include "postgres_util.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "brook/connectors/postgres/postgres_client.h"
#include "brook/status.h"

namespace brook::connectors {
namespace postgres_internal {
namespace {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

std::string ServerMessage(PGconn* conn) {
  return std::string(absl::StripAsciiWhitespace(PQerrorMessage(conn)));
}

// `what` failed: kUnavailable with the server's message (and SQLSTATE).
absl::Status Failure(PGconn* conn, const std::string& what, const PGresult* r,
                     std::string* sqlstate) {
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  if (sqlstate != nullptr) *sqlstate = state != nullptr ? state : "";
  std::string message = r != nullptr && *PQresultErrorMessage(r) != '\0'
                            ? std::string(absl::StripAsciiWhitespace(PQresultErrorMessage(r)))
                            : ServerMessage(conn);
  if (state != nullptr) absl::StrAppend(&message, " (SQLSTATE ", state, ")");
  return absl::UnavailableError(absl::StrCat("postgres: ", what, ": ", message));
}

std::string Shorten(const std::string& sql) {
  return sql.size() <= 80 ? sql : absl::StrCat(sql.substr(0, 77), "...");
}

}  // namespace

absl::StatusOr<Conn> Connect(const std::string& conninfo, absl::Duration timeout) {
  const std::string seconds = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(timeout)));
  // Processed in order: the user's conninfo (expanded from dbname) overrides
  // the defaults before it.
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {seconds.c_str(), "brook", conninfo.c_str(), nullptr};
  Conn conn(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (conn == nullptr) return absl::ResourceExhaustedError("postgres: out of memory");
  if (PQstatus(conn.get()) == CONNECTION_OK) {
    // NOTICEs ("relation ... already exists, skipping") are not errors: not printed.
    PQsetNoticeProcessor(
        conn.get(), [](void*, const char*) {}, nullptr);
    return conn;
  }
  const std::string message = ServerMessage(conn.get());
  const std::string text = absl::StrCat("postgres: cannot connect: ", message);
  if (absl::StrContains(message, "authentication failed") ||
      absl::StrContains(message, "no password supplied") ||
      absl::StrContains(message, "pg_hba.conf")) {
    return absl::UnauthenticatedError(text);
  }
  if (absl::StrContains(message, "does not exist")) return absl::NotFoundError(text);
  return absl::UnavailableError(text);
}

absl::StatusOr<std::vector<std::vector<std::string>>> Exec(PGconn* conn, const std::string& sql,
                                                           const std::vector<std::string>& params,
                                                           std::string* sqlstate) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  Result r(params.empty() ? PQexec(conn, sql.c_str())
                          : PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()),
                                         nullptr, values.data(), nullptr, nullptr, 0));
  const ExecStatusType status = r != nullptr ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return Failure(conn, Shorten(sql), r.get(), sqlstate);
  }
  std::vector<std::vector<std::string>> rows(static_cast<size_t>(PQntuples(r.get())));
  const int columns = PQnfields(r.get());
  for (size_t i = 0; i < rows.size(); ++i) {
    for (int j = 0; j < columns; ++j) {
      const int row = static_cast<int>(i);
      rows[i].push_back(PQgetisnull(r.get(), row, j) ? kNull : PQgetvalue(r.get(), row, j));
    }
  }
  return rows;
}

std::string Quote(PGconn* conn, const std::string& identifier) {
  char* quoted = PQescapeIdentifier(conn, identifier.data(), identifier.size());
  std::string out = quoted != nullptr ? quoted : "";
  PQfreemem(quoted);
  return out;
}

std::string Literal(PGconn* conn, const std::string& value) {
  char* quoted = PQescapeLiteral(conn, value.data(), value.size());
  std::string out = quoted != nullptr ? quoted : "";
  PQfreemem(quoted);
  return out;
}

absl::Status StartCopy(PGconn* conn, const std::string& copy_sql) {
  Result r(PQexec(conn, copy_sql.c_str()));
  if (r == nullptr || PQresultStatus(r.get()) != PGRES_COPY_IN) {
    return Failure(conn, Shorten(copy_sql), r.get(), nullptr);
  }
  return absl::OkStatus();
}

absl::Status PutCopyData(PGconn* conn, std::string_view bytes) {
  if (bytes.empty()) return absl::OkStatus();
  if (PQputCopyData(conn, bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return Failure(conn, "COPY data", nullptr, nullptr);
  }
  return absl::OkStatus();
}

absl::Status EndCopy(PGconn* conn) {
  if (PQputCopyEnd(conn, nullptr) != 1) return Failure(conn, "COPY end", nullptr, nullptr);
  absl::Status status;
  while (PGresult* raw = PQgetResult(conn)) {
    Result r(raw);
    if (PQresultStatus(raw) != PGRES_COMMAND_OK && status.ok()) {
      status = Failure(conn, "COPY", raw, nullptr);
    }
  }
  return status;
}

}  // namespace postgres_internal

absl::StatusOr<std::vector<std::vector<std::string>>> PostgresQuery(const std::string& conninfo,
                                                                    const std::string& sql) {
  BROOK_ASSIGN_OR_RETURN(postgres_internal::Conn conn,
                         postgres_internal::Connect(conninfo, absl::Seconds(5)));
  return postgres_internal::Exec(conn.get(), sql, {});
}

}  // namespace brook::connectors
