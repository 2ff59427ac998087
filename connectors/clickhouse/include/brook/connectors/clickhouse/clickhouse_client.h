// File: brook/connectors/clickhouse/clickhouse_client.h
//
// ClickHouseClient: a blocking client of ClickHouse's HTTP interface
// (https://clickhouse.com/docs/en/interfaces/http), on Boost.Beast, private
// to brook::clickhouse. One connection per statement (ClickHouse answers an
// INSERT once its blocks are written, so there is nothing to pipeline), with
// a timeout on connect, send and receive.
//
// Thread-safe: the client keeps no connection between calls.
#ifndef BROOK_CONNECTORS_CLICKHOUSE_CLICKHOUSE_CLIENT_H_
#define BROOK_CONNECTORS_CLICKHOUSE_CLICKHOUSE_CLIENT_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace brook::connectors {

// Where a ClickHouse server's HTTP interface listens, and who logs in.
struct ClickHouseEndpoint {
  std::string host;
  int port = 8123;
  std::string user;      // empty: the server's "default" user
  std::string password;  // sent with HTTP basic authentication
  // http://USER@HOST:PORT (never the password), for messages.
  std::string ToString() const;
};

// Parses http://[USER[:PASSWORD]@]HOST[:PORT][/] (PORT defaults to 8123;
// %XX escapes in USER and PASSWORD are decoded). kInvalidArgument naming what
// is wrong otherwise (https, a path, a query, a bad port).
absl::StatusOr<ClickHouseEndpoint> ParseClickHouseUrl(std::string_view url);

struct ClickHouseClientOptions {
  // Bound on each of connect, send and receive of one statement.
  absl::Duration timeout = absl::Seconds(30);
  // QueryWithRetries: tries after the first, and the backoff before the
  // first retry (doubled after each).
  int max_retries = 4;
  absl::Duration retry_backoff = absl::Milliseconds(100);
};

class ClickHouseClient {
 public:
  explicit ClickHouseClient(ClickHouseEndpoint endpoint, ClickHouseClientOptions options = {});

  // Runs one statement and returns the response body (e.g. the TSV of a
  // SELECT ... FORMAT TabSeparated). Without `data` the statement is the
  // request body; with `data` (an INSERT's rows, in the statement's FORMAT)
  // the statement goes in the URL and `data` is the body. Errors:
  // kUnavailable when the server cannot be reached or the connection fails
  // or times out (the statement may or may not have run); kUnauthenticated
  // for an unknown user or a wrong password; kNotFound for an unknown table
  // or database; kInvalidArgument for a statement the server rejects as
  // malformed (HTTP 400); kInternal for any other server exception. Each
  // message carries the server's own.
  absl::StatusOr<std::string> Query(std::string_view statement, std::string_view data = {}) const;

  // Query, retried after kUnavailable with exponential backoff, up to
  // options.max_retries times. Only for idempotent statements: a lost
  // connection may have run the statement.
  absl::StatusOr<std::string> QueryWithRetries(std::string_view statement,
                                               std::string_view data = {}) const;

  const ClickHouseEndpoint& endpoint() const { return endpoint_; }
  const ClickHouseClientOptions& options() const { return options_; }

 private:
  ClickHouseEndpoint endpoint_;
  ClickHouseClientOptions options_;
  std::string authorization_;  // "Basic ..." or empty
};

// Appends `s` as a ClickHouse string literal ('...', with \ and ' escaped).
void AppendClickHouseStringLiteral(std::string_view s, std::string& out);

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_CLICKHOUSE_CLICKHOUSE_CLIENT_H_
