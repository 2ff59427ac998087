// File: tests/clickhouse/clickhouse_test_util.h
//
// One clickhouse-server per test binary (ClickHouseLocalServer, on a free
// loopback port in a temp dir), started on first use; each test uses its
// own tables. Tests skip, saying why, when the server binary is missing.
#ifndef TESTS_CLICKHOUSE_CLICKHOUSE_TEST_UTIL_H_
#define TESTS_CLICKHOUSE_CLICKHOUSE_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "brook/connectors/clickhouse/clickhouse_client.h"
#include "brook/connectors/clickhouse/clickhouse_local_server.h"
#include "gtest/gtest.h"

namespace brook::connectors::testing {

// The shared server (user "alice", password "s3cret" besides "default"), or
// null when the binary is missing (the caller then skips). A start failure
// fails the test.
// Stopped (and its directory removed) when the test process exits.
inline ClickHouseLocalServer* SharedServer() {
  static const std::unique_ptr<ClickHouseLocalServer> server =
      []() -> std::unique_ptr<ClickHouseLocalServer> {
    if (ClickHouseLocalServer::FindBinary().empty()) return nullptr;
    auto started = ClickHouseLocalServer::Start({"", "alice", "s3cret"});
    if (!started.ok()) {
      ADD_FAILURE() << started.status();
      return nullptr;
    }
    return *std::move(started);
  }();
  return server.get();
}

#define BROOK_REQUIRE_CLICKHOUSE(server)                                                   \
  ::brook::connectors::ClickHouseLocalServer* server =                                     \
      ::brook::connectors::testing::SharedServer();                                        \
  if (server == nullptr) {                                                                 \
    GTEST_SKIP() << "clickhouse-server is not installed (scripts/install-deps.sh --test)"; \
  }

// The TSV rows of `query` (its FORMAT TabSeparated added), one per line.
inline std::vector<std::string> QueryRows(const ClickHouseClient& client,
                                          const std::string& query) {
  auto tsv = client.Query(query + " FORMAT TabSeparated");
  EXPECT_TRUE(tsv.ok()) << tsv.status() << "\n" << query;
  if (!tsv.ok()) return {};
  return absl::StrSplit(*tsv, '\n', absl::SkipEmpty());
}

}  // namespace brook::connectors::testing

#endif  // TESTS_CLICKHOUSE_CLICKHOUSE_TEST_UTIL_H_
