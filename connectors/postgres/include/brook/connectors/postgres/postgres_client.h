// File: brook/connectors/postgres/postgres_client.h
//
// PostgresQuery(): one SQL round trip on a fresh connection, for tests,
// tools and benchmarks (the sink keeps its own connections). Thread-safe:
// each call opens and closes a connection of its own.
#ifndef BROOK_CONNECTORS_POSTGRES_POSTGRES_CLIENT_H_
#define BROOK_CONNECTORS_POSTGRES_POSTGRES_CLIENT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace brook::connectors {

// Connects with `conninfo` (a libpq connection string or URI), runs `sql`
// (several statements: the last one's rows) and returns the rows, each value
// as text; NULL reads "\N". kUnavailable (or kUnauthenticated, kNotFound for
// connection failures) with the server's message.
absl::StatusOr<std::vector<std::vector<std::string>>> PostgresQuery(const std::string& conninfo,
                                                                    const std::string& sql);

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_POSTGRES_POSTGRES_CLIENT_H_
