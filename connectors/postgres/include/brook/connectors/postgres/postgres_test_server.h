// File: brook/connectors/postgres/postgres_test_server.h
//
// PostgresTestServer: a throwaway PostgreSQL server for tests and
// benchmarks, as the Kafka connector's KafkaMockCluster: initdb into a temp
// directory, started on a free loopback port (unix socket in the same
// directory), max_prepared_transactions = 20, fsync off, password
// authentication over TCP for user `postgres`. initdb runs once per user and
// server version: later servers copy that cluster from
// $TMPDIR/brook-postgres-template-<uid>-<n>. PostgreSQL refuses to run as
// root: when root, every server command runs as the `postgres` user
// (runuser), and the directory is handed to it.
//
// Start() returns kNotFound, saying why, when the server binaries
// (postgresql-15: /usr/lib/postgresql/<v>/bin, or $BROOK_POSTGRES_BIN) are
// missing, so a test can skip; kInternal naming the log when initdb or the
// server fails. The destructor stops the server (immediately) and removes
// the directory. Not thread-safe.
#ifndef BROOK_CONNECTORS_POSTGRES_POSTGRES_TEST_SERVER_H_
#define BROOK_CONNECTORS_POSTGRES_POSTGRES_TEST_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace brook::connectors {

class PostgresTestServer {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresTestServer>> Start();
  ~PostgresTestServer();
  PostgresTestServer(const PostgresTestServer&) = delete;
  PostgresTestServer& operator=(const PostgresTestServer&) = delete;

  int port() const { return port_; }
  const std::string& password() const { return password_; }
  // "host=127.0.0.1 port=P user=postgres password=... dbname=postgres".
  std::string conninfo() const;

  // Kills the server as a crash would (pg_ctl stop -m immediate: no
  // shutdown checkpoint; prepared transactions survive). Idempotent.
  absl::Status Kill();
  // Starts it again, same directory and port.
  absl::Status Restart();

 private:
  PostgresTestServer() = default;
  absl::Status Run(const std::string& what, const std::string& command);
  std::string bin_;
  std::string dir_;
  std::string password_;
  int port_ = 0;
  bool running_ = false;
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_POSTGRES_POSTGRES_TEST_SERVER_H_
