// libpq helpers shared by the sink, PostgresQuery and the test server
// (private: no libpq header reaches a public one).
#ifndef BROOK_CONNECTORS_POSTGRES_SRC_POSTGRES_UTIL_H_
#define BROOK_CONNECTORS_POSTGRES_SRC_POSTGRES_UTIL_H_

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace brook::connectors::postgres_internal {

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;

// How a NULL value reads in Exec()'s rows.
inline constexpr char kNull[] = "\\N";

// Connects; kUnauthenticated for refused credentials, kNotFound for a
// missing database, kUnavailable otherwise, naming the server's message.
absl::StatusOr<Conn> Connect(const std::string& conninfo, absl::Duration timeout);

// Runs `sql` with text parameters $1.. and returns its rows as text (NULL:
// kNull). kUnavailable naming the statement and the server's message; the
// SQLSTATE goes to `sqlstate` when given.
absl::StatusOr<std::vector<std::vector<std::string>>> Exec(PGconn* conn, const std::string& sql,
                                                           const std::vector<std::string>& params,
                                                           std::string* sqlstate = nullptr);

std::string Quote(PGconn* conn, const std::string& identifier);  // "identifier"
std::string Literal(PGconn* conn, const std::string& value);     // 'value'

absl::Status StartCopy(PGconn* conn, const std::string& copy_sql);  // COPY ... FROM STDIN
absl::Status PutCopyData(PGconn* conn, std::string_view bytes);
absl::Status EndCopy(PGconn* conn);

}  // namespace brook::connectors::postgres_internal

#endif  // BROOK_CONNECTORS_POSTGRES_SRC_POSTGRES_UTIL_H_
