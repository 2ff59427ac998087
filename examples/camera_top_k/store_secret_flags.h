// File: camera_top_k/store_secret_flags.h
//
// Passwords of the results stores from a file or the environment, so that
// they need not sit in --clickhouse_url or --postgres, where `ps` shows them
// (docs/operations.md, "Securing the endpoint"):
//   --clickhouse_password_file=FILE, else $CLICKHOUSE_PASSWORD (the name
//     clickhouse-client reads): the password of --clickhouse_url's user;
//   --postgres_password_file=FILE: the password libpq uses when --postgres's
//     conninfo has none (as libpq's own $PGPASSWORD and ~/.pgpass or
//     $PGPASSFILE, which work unchanged).
#ifndef CAMERA_TOP_K_STORE_SECRET_FLAGS_H_
#define CAMERA_TOP_K_STORE_SECRET_FLAGS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace camera {

// ClickHouseUrlFromFlags(): `url` (--clickhouse_url) with the password of
// --clickhouse_password_file or $CLICKHOUSE_PASSWORD put in, or unchanged
// when neither is set. kInvalidArgument naming the flag for an unreadable or
// empty file, a URL that does not parse, or a URL that has a password too.
absl::StatusOr<std::string> ClickHouseUrlFromFlags(const std::string& url);

// PostgresPasswordFromFlags(): with --postgres_password_file, sets the
// process's PGPASSWORD to the file's text for libpq (which a password in the
// conninfo overrides). kInvalidArgument naming the flag and the file when it
// cannot be read or is empty.
absl::Status PostgresPasswordFromFlags();

}  // namespace camera

#endif  // CAMERA_TOP_K_STORE_SECRET_FLAGS_H_
