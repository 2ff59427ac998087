// File: brook/connectors/clickhouse/clickhouse_local_server.h
//
// ClickHouseLocalServer: a clickhouse-server (Debian's clickhouse-server
// package, 18.16) started in the foreground from a short config in a fresh
// temporary directory, its HTTP interface on a free loopback port (no native
// TCP port), ready in well under a second. For tests, benchmarks and demos,
// as brook::kafka's KafkaMockCluster; not for production.
//
// Not thread-safe: one owner starts, kills, restarts and destroys it.
#ifndef BROOK_CONNECTORS_CLICKHOUSE_CLICKHOUSE_LOCAL_SERVER_H_
#define BROOK_CONNECTORS_CLICKHOUSE_CLICKHOUSE_LOCAL_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace brook::connectors {

class ClickHouseLocalServer {
 public:
  struct Options {
    // The server binary; empty: FindBinary().
    std::string binary;
    // A second user (besides "default", which has no password), e.g. to
    // test credentials; empty: none.
    std::string user;
    std::string password;
  };

  // The clickhouse-server binary of the package (/usr/sbin/clickhouse-server,
  // or `clickhouse server`'s /usr/bin/clickhouse); empty when not installed.
  static std::string FindBinary();

  // Starts the server and waits until it answers /ping (at most 20 s).
  // kNotFound when the binary is missing; kUnavailable (with the end of its
  // log) when it does not come up.
  static absl::StatusOr<std::unique_ptr<ClickHouseLocalServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<ClickHouseLocalServer>> Start() { return Start(Options{}); }

  // Kills the server (SIGKILL) and removes its directory.
  ~ClickHouseLocalServer();
  ClickHouseLocalServer(const ClickHouseLocalServer&) = delete;
  ClickHouseLocalServer& operator=(const ClickHouseLocalServer&) = delete;

  // http://127.0.0.1:PORT (the default user) and with the extra user's
  // credentials (http://USER:PASSWORD@127.0.0.1:PORT).
  std::string url() const;
  std::string user_url() const;
  int http_port() const { return port_; }
  const std::string& directory() const { return dir_; }

  // SIGKILL: the server dies at once, as in a crash; its data stays.
  void Kill();
  // Starts it again on the same port and data (after Kill()).
  absl::Status Restart();

 private:
  explicit ClickHouseLocalServer(Options options) : options_(std::move(options)) {}
  absl::Status Launch();

  Options options_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_CLICKHOUSE_CLICKHOUSE_LOCAL_SERVER_H_
