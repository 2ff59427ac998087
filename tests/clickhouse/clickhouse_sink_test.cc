// File: tests/clickhouse/clickhouse_sink_test.cc
//
// ClickHouseSink against a real clickhouse-server on loopback: the
// two-phase-commit protocol step by step (pre-commit invisible, commit
// visible, restore after a "crash" commits exactly the restored checkpoint's
// rows), auto-commit, escaping, errors before any work, a server that dies.
#include "brook/connectors/clickhouse/clickhouse_sink.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "brook/testing/status_matchers.h"
#include "clickhouse/clickhouse_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace brook::connectors {
namespace {

using ::brook::connectors::testing::QueryRows;
using ::brook::testing::IsOk;
using ::brook::testing::IsOkAndHolds;
using ::brook::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Reading {
  int64_t id = 0;
  std::string name;
};

ClickHouseSinkOptions<Reading> ReadingOptions(const std::string& url, const std::string& table) {
  ClickHouseSinkOptions<Reading> o;
  o.url = url;
  o.table = table;
  o.columns = {{"id", "Int64"}, {"name", "String"}};
  o.encoder = [](const Reading& r, ClickHouseRow& row) { row.Int(r.id).String(r.name); };
  o.client.max_retries = 1;
  o.client.retry_backoff = absl::Milliseconds(10);
  o.client.timeout = absl::Seconds(5);
  return o;
}

std::vector<StreamRecord<Reading>> Batch(std::vector<Reading> readings) {
  std::vector<StreamRecord<Reading>> batch;
  for (Reading& r : readings) batch.push_back(StreamRecord<Reading>{0, std::move(r)});
  return batch;
}

std::unique_ptr<SinkWriter<Reading>> NewWriter(ClickHouseSink<Reading>& sink,
                                               MetricGroup* metrics = nullptr) {
  SinkWriterContext ctx;
  ctx.metrics = metrics;
  auto writer = sink.CreateWriter(ctx);
  EXPECT_THAT(writer, IsOk());
  return *std::move(writer);
}

std::vector<std::string> View(const ClickHouseClient& client, const std::string& table) {
  return QueryRows(client, absl::StrCat("SELECT id, name FROM ", table, " ORDER BY id"));
}

TEST(ClickHouseUrlTest, ParsesHostPortAndCredentials) {
  auto e = ParseClickHouseUrl("http://bob:p%40ss@db.example:9123/");
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->host, "db.example");
  EXPECT_EQ(e->port, 9123);
  EXPECT_EQ(e->user, "bob");
  EXPECT_EQ(e->password, "p@ss");
  EXPECT_EQ(e->ToString(), "http://bob@db.example:9123");  // never the password
  auto plain = ParseClickHouseUrl("http://localhost");
  ASSERT_THAT(plain, IsOk());
  EXPECT_EQ(plain->port, 8123);
  EXPECT_TRUE(plain->user.empty());
  for (const char* bad : {"https://h:1", "h:8123", "http://h:0", "http://h:x", "http://h:1/db",
                          "http://", "http://:pw@h:1"}) {
    EXPECT_THAT(ParseClickHouseUrl(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

TEST(ClickHouseSinkTest, PreCommitIsInvisibleCommitVisibleRestoreCommitsTheCheckpoint) {
  BROOK_REQUIRE_CLICKHOUSE(server);
  auto sink = ClickHouseSink<Reading>::Open(ReadingOptions(server->url(), "two_phase"));
  ASSERT_THAT(sink, IsOk());
  const ClickHouseClient& client = (*sink)->client();
  MetricRegistry registry;
  MetricGroup metrics(&registry, MetricScope{"job", "sink", 0});
  auto writer = NewWriter(**sink, &metrics);

  auto batch = Batch({{1, "a"}, {2, "b"}});
  ASSERT_THAT(writer->Write(batch), IsOk());
  auto state1 = writer->SnapshotState(1);
  ASSERT_THAT(state1, IsOk());
  EXPECT_THAT(View(client, "two_phase"), IsEmpty());  // pre-committed, not visible
  EXPECT_THAT(QueryRows(client, "SELECT count() FROM two_phase_data"), ElementsAre("2"));
  ASSERT_THAT(writer->NotifyCheckpointComplete(1), IsOk());
  EXPECT_THAT(View(client, "two_phase"), ElementsAre("1\ta", "2\tb"));
  EXPECT_THAT(writer->NotifyCheckpointComplete(1), IsOk());  // idempotent
  EXPECT_EQ((*sink)->rows_written(), 2);

  batch = Batch({{3, "c"}});
  ASSERT_THAT(writer->Write(batch), IsOk());
  auto state2 = writer->SnapshotState(2);
  ASSERT_THAT(state2, IsOk());
  batch = Batch({{4, "d"}});
  ASSERT_THAT(writer->Write(batch), IsOk());
  ASSERT_THAT(writer->SnapshotState(3), IsOk());  // never completes: the job "crashes"
  writer.reset();
  EXPECT_THAT(View(client, "two_phase"), ElementsAre("1\ta", "2\tb"));

  // A new run (a new attempt) restores checkpoint 2: its rows become
  // visible, checkpoint 3's never do; the replay then writes them again.
  auto restored = NewWriter(**sink);
  ASSERT_THAT(restored->RestoreState({*state2}), IsOk());
  EXPECT_THAT(View(client, "two_phase"), ElementsAre("1\ta", "2\tb", "3\tc"));
  batch = Batch({{4, "d"}});
  ASSERT_THAT(restored->Write(batch), IsOk());
  ASSERT_THAT(restored->Flush(), IsOk());
  EXPECT_THAT(View(client, "two_phase"), ElementsAre("1\ta", "2\tb", "3\tc", "4\td"));
  EXPECT_THAT(QueryRows(client, "SELECT count() FROM two_phase_data"), ElementsAre("5"));

  // Restoring an already committed checkpoint again changes nothing.
  ASSERT_THAT(NewWriter(**sink)->RestoreState({*state1, *state2}), IsOk());
  EXPECT_THAT(View(client, "two_phase"), ElementsAre("1\ta", "2\tb", "3\tc", "4\td"));

  // The crashed run's uncommitted row is garbage the cleanup deletes.
  ASSERT_THAT(CleanUpUncommittedRows(client, "two_phase"), IsOk());
  for (int i = 0; i < 100; ++i) {
    if (QueryRows(client, "SELECT count() FROM two_phase_data") == std::vector<std::string>{"4"}) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));  // a mutation runs in the background
  }
  EXPECT_THAT(QueryRows(client, "SELECT count() FROM two_phase_data"), ElementsAre("4"));
  EXPECT_THAT(registry.Sum("clickhouse_rows_written"), IsOkAndHolds(4));  // first writer
}

TEST(ClickHouseSinkTest, AutoCommitInsertsAtWatermarksAtMostOncePerIntervalAndEscapesStrings) {
  BROOK_REQUIRE_CLICKHOUSE(server);
  auto options = ReadingOptions(server->url(), "auto_commit");
  options.mode = ClickHouseCommitMode::kAutoCommit;
  options.auto_commit_interval = absl::Hours(1);
  auto sink = ClickHouseSink<Reading>::Open(options);
  ASSERT_THAT(sink, IsOk());
  auto writer = NewWriter(**sink);
  const std::string odd = "tab\there\nnew line \\ back'slash \"q\" \xc3\xa9";
  auto batch = Batch({{1, odd}, {2, ""}});
  ASSERT_THAT(writer->Write(batch), IsOk());
  EXPECT_THAT(View((*sink)->client(), "auto_commit"), IsEmpty());
  ASSERT_THAT(writer->OnWatermark(10), IsOk());
  EXPECT_THAT(QueryRows((*sink)->client(), "SELECT name = unhex('" + absl::BytesToHexString(odd) +
                                               "') FROM auto_commit WHERE id = 1"),
              ElementsAre("1"));
  EXPECT_THAT(View((*sink)->client(), "auto_commit"), ElementsAre(HasSubstr("1\t"), "2\t"));
  batch = Batch({{3, "c"}});
  ASSERT_THAT(writer->Write(batch), IsOk());
  ASSERT_THAT(writer->OnWatermark(20), IsOk());  // within the interval: still buffered
  EXPECT_EQ((*sink)->rows_written(), 2);
  ASSERT_THAT(writer->Flush(), IsOk());
  EXPECT_THAT(View((*sink)->client(), "auto_commit"), ElementsAre(HasSubstr("1\t"), "2\t", "3\tc"));
}

TEST(ClickHouseRowTest, EncodesTabSeparatedFields) {
  std::string out;
  ClickHouseRow row(&out);
  row.Int(-42).Float(0.1).Float(1e300).String("a\tb\\").Null();
  EXPECT_EQ(out, "-42\t0.1\t1e+300\ta\\tb\\\\\t\\N");
  EXPECT_EQ(row.fields(), 5);
}

TEST(ClickHouseSinkTest, BatchesAreInsertedWhenFullAndEncoderFieldCountIsChecked) {
  BROOK_REQUIRE_CLICKHOUSE(server);
  auto options = ReadingOptions(server->url(), "batches");
  options.batch_rows = 2;
  auto sink = ClickHouseSink<Reading>::Open(options);
  ASSERT_THAT(sink, IsOk());
  auto writer = NewWriter(**sink);
  auto batch = Batch({{1, "a"}, {2, "b"}, {3, "c"}});
  ASSERT_THAT(writer->Write(batch), IsOk());
  EXPECT_EQ((*sink)->rows_written(), 2);  // one full batch inserted, one row buffered
  ASSERT_THAT(writer->Flush(), IsOk());
  EXPECT_THAT(View((*sink)->client(), "batches"), ElementsAre("1\ta", "2\tb", "3\tc"));

  options.table = "batches_bad";
  options.encoder = [](const Reading& r, ClickHouseRow& row) { row.Int(r.id); };
  auto bad = ClickHouseSink<Reading>::Open(options);
  ASSERT_THAT(bad, IsOk());
  batch = Batch({{1, "a"}});
  EXPECT_THAT(NewWriter(**bad)->Write(batch),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 fields for 2 columns")));
}

TEST(ClickHouseSinkTest, ClearErrorsBeforeAnyWork) {
  BROOK_REQUIRE_CLICKHOUSE(server);
  // Credentials.
  EXPECT_THAT(ClickHouseSink<Reading>::Open(ReadingOptions(server->user_url(), "creds")), IsOk());
  EXPECT_THAT(ClickHouseSink<Reading>::Open(ReadingOptions(
                  absl::StrCat("http://alice:wrong@127.0.0.1:", server->http_port()), "creds")),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("alice")));
  // Nobody listens (the server's port + nothing: a port just freed).
  auto unreachable = ReadingOptions("http://127.0.0.1:1", "t");
  EXPECT_THAT(ClickHouseSink<Reading>::Open(unreachable),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot connect")));
  EXPECT_THAT(ClickHouseSink<Reading>::Open(ReadingOptions("ftp://h", "t")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ClickHouseSink<Reading>::Open(ReadingOptions(server->url(), "bad-name")),
              StatusIs(absl::StatusCode::kInvalidArgument));

  // A table (or view) with other columns.
  const ClickHouseClient client(*ParseClickHouseUrl(server->url()));
  ASSERT_THAT(client.Query("CREATE TABLE other_data (_sink String, x Int64) ENGINE = Memory"),
              IsOk());
  EXPECT_THAT(
      ClickHouseSink<Reading>::Open(ReadingOptions(server->url(), "other")),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("'other_data' exists with other columns: (_sink String, x Int64)")));
  ASSERT_THAT(client.Query("CREATE TABLE plain (id Int64, name String) ENGINE = Memory"), IsOk());
  EXPECT_THAT(ClickHouseSink<Reading>::Open(ReadingOptions(server->url(), "plain")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not the sink's view")));
}

TEST(ClickHouseSinkTest, ServerThatDiesFailsTheCheckpointAndARestoreCommitsAfterItsReturn) {
  BROOK_REQUIRE_CLICKHOUSE(server);
  auto sink = ClickHouseSink<Reading>::Open(ReadingOptions(server->url(), "dies"));
  ASSERT_THAT(sink, IsOk());
  auto writer = NewWriter(**sink);
  auto batch = Batch({{1, "a"}});
  ASSERT_THAT(writer->Write(batch), IsOk());
  auto state = writer->SnapshotState(1);
  ASSERT_THAT(state, IsOk());

  server->Kill();
  batch = Batch({{2, "b"}});
  ASSERT_THAT(writer->Write(batch), IsOk());  // buffered
  EXPECT_THAT(writer->SnapshotState(2), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(writer->NotifyCheckpointComplete(1), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_GE((*sink)->failures(), 2);

  ASSERT_THAT(server->Restart(), IsOk());
  auto restored = NewWriter(**sink);
  ASSERT_THAT(restored->RestoreState({*state}), IsOk());
  EXPECT_THAT(View((*sink)->client(), "dies"), ElementsAre("1\ta"));
}

}  // namespace
}  // namespace brook::connectors
