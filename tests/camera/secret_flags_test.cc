// Secrets from files and the environment (camera_top_k/secrets.h,
// store_secret_flags.h): trimming, precedence, and the ClickHouse URL and
// PGPASSWORD they produce.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "brook/connectors/clickhouse/clickhouse_client.h"
#include "brook/testing/status_matchers.h"
#include "camera_top_k/secrets.h"
#include "camera_top_k/store_secret_flags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, clickhouse_password_file);
ABSL_DECLARE_FLAG(std::string, postgres_password_file);

namespace camera {
namespace {

using ::brook::testing::IsOk;
using ::brook::testing::IsOkAndHolds;
using ::brook::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

class SecretFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("secret_flags_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    ::unsetenv("CLICKHOUSE_PASSWORD");
    ::unsetenv("BROOK_TEST_SECRET");
  }
  void TearDown() override {
    absl::SetFlag(&FLAGS_clickhouse_password_file, "");
    absl::SetFlag(&FLAGS_postgres_password_file, "");
    ::unsetenv("CLICKHOUSE_PASSWORD");
    ::unsetenv("BROOK_TEST_SECRET");
    std::filesystem::remove_all(dir_);
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(SecretFlagsTest, ReadSecretTrimsAndPrefersTheFile) {
  EXPECT_THAT(ReadSecret("--x", "", "BROOK_TEST_SECRET"), IsOkAndHolds(std::nullopt));
  ::setenv("BROOK_TEST_SECRET", "from env\n", 1);
  EXPECT_THAT(ReadSecret("--x", "", "BROOK_TEST_SECRET"),
              IsOkAndHolds(Optional(std::string("from env"))));
  EXPECT_THAT(ReadSecret("--x", Write("s", " two words \r\n\n"), "BROOK_TEST_SECRET"),
              IsOkAndHolds(Optional(std::string(" two words"))));
  EXPECT_THAT(ReadSecret("--x", Write("e", "\n"), "BROOK_TEST_SECRET"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--x: '")));
  EXPECT_THAT(ReadSecret("--x", (dir_ / "none").string(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("No such file or directory")));
}

TEST_F(SecretFlagsTest, ClickHousePasswordGoesIntoTheUrlEscaped) {
  EXPECT_THAT(ClickHouseUrlFromFlags("http://127.0.0.1:8123"),
              IsOkAndHolds(std::string("http://127.0.0.1:8123")));
  const std::string password = "p@ss w:rd/%";
  ::setenv("CLICKHOUSE_PASSWORD", password.c_str(), 1);
  auto url = ClickHouseUrlFromFlags("http://127.0.0.1:9000");
  ASSERT_THAT(url.status(), IsOk());
  auto endpoint = brook::connectors::ParseClickHouseUrl(*url);
  ASSERT_THAT(endpoint.status(), IsOk()) << *url;
  EXPECT_EQ(endpoint->user, "default");
  EXPECT_EQ(endpoint->password, password);
  EXPECT_EQ(endpoint->port, 9000);
  // The file wins over the environment; the URL's user is kept.
  absl::SetFlag(&FLAGS_clickhouse_password_file, Write("ch", "from-file\n"));
  endpoint = brook::connectors::ParseClickHouseUrl(*ClickHouseUrlFromFlags("http://bob@h:1"));
  ASSERT_THAT(endpoint.status(), IsOk());
  EXPECT_EQ(endpoint->user, "bob");
  EXPECT_EQ(endpoint->password, "from-file");
  EXPECT_THAT(ClickHouseUrlFromFlags("http://bob:old@h:1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has a password")));
  EXPECT_THAT(ClickHouseUrlFromFlags("http://bob:old@h:1").status().message(),
              Not(HasSubstr("from-file")));
}

TEST_F(SecretFlagsTest, PostgresPasswordFileSetsPgPassword) {
  ::unsetenv("PGPASSWORD");
  EXPECT_THAT(PostgresPasswordFromFlags(), IsOk());
  EXPECT_EQ(std::getenv("PGPASSWORD"), nullptr);
  absl::SetFlag(&FLAGS_postgres_password_file, Write("pg", "pg-secret\n"));
  EXPECT_THAT(PostgresPasswordFromFlags(), IsOk());
  ASSERT_NE(std::getenv("PGPASSWORD"), nullptr);
  EXPECT_EQ(std::string(std::getenv("PGPASSWORD")), "pg-secret");
  ::unsetenv("PGPASSWORD");
}

}  // namespace
}  // namespace camera
