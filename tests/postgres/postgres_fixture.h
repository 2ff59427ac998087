// File: tests/postgres/postgres_fixture.h
//
// PostgresServerTest: one PostgresTestServer for the whole test binary,
// started on first use (about a second); a test skips, saying why, when the
// server binaries are missing, and fails when the server does not start.
#ifndef TESTS_POSTGRES_POSTGRES_FIXTURE_H_
#define TESTS_POSTGRES_POSTGRES_FIXTURE_H_

#include <cstdlib>
#include <memory>

#include "absl/status/statusor.h"
#include "brook/connectors/postgres/postgres_test_server.h"
#include "gtest/gtest.h"

namespace brook::connectors {

class PostgresServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& server = Shared();
    if (server.status().code() == absl::StatusCode::kNotFound) {
      GTEST_SKIP() << server.status().message();
    }
    ASSERT_TRUE(server.ok()) << server.status();
  }
  static PostgresTestServer* server() { return Shared()->get(); }

 private:
  static absl::StatusOr<std::unique_ptr<PostgresTestServer>>& Shared() {
    static auto* server =
        new absl::StatusOr<std::unique_ptr<PostgresTestServer>>(PostgresTestServer::Start());
    static const bool stop_at_exit = [] {
      std::atexit([] {
        if (server->ok()) server->value().reset();
      });
      return true;
    }();
    (void)stop_at_exit;
    return *server;
  }
};

}  // namespace brook::connectors

#endif  // TESTS_POSTGRES_POSTGRES_FIXTURE_H_
