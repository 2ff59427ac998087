// File: tests/postgres/postgres_sink_test.cc
//
// PostgresSink against a real PostgreSQL server (PostgresTestServer, one for
// the suite): the checks before any work, the two-phase commit driven by
// hand (pre-commit, commit, restore after a crash, a server killed mid-run)
// and COPY's escaping. Skipped, saying why, when the server binaries are
// missing.
#include "brook/connectors/postgres/postgres_sink.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/connectors/postgres/postgres_client.h"
#include "brook/connectors/postgres/postgres_test_server.h"
#include "brook/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "postgres/postgres_fixture.h"

namespace brook::connectors {
namespace {

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Item {
  int64_t id = 0;
  std::string name;
};

class PostgresSinkTest : public PostgresServerTest {
 protected:
  PostgresSinkOptions<Item> Options(const std::string& table) {
    PostgresSinkOptions<Item> o;
    o.config.conninfo = server()->conninfo();
    o.config.table = table;
    o.config.columns = {{"id", "BIGINT"}, {"name", "TEXT"}};
    o.encoder = [](const Item& item, PostgresRow& row) {
      row.AddInt64(item.id);
      if (item.name == "null") {
        row.AddNull();
      } else {
        row.AddText(item.name);
      }
    };
    return o;
  }
  std::unique_ptr<SinkWriter<Item>> Writer(PostgresSink<Item>& sink) {
    auto writer = sink.CreateWriter({.subtask_index = 0, .parallelism = 1, .metrics = nullptr});
    EXPECT_THAT(writer, IsOk());
    return writer.ok() ? *std::move(writer) : nullptr;
  }
  static absl::Status Write(SinkWriter<Item>& w, std::vector<Item> items) {
    std::vector<StreamRecord<Item>> batch;
    for (auto& i : items) batch.push_back({0, std::move(i)});
    return w.Write(batch);
  }
  // "id:name" per row, by id.
  std::vector<std::string> Rows(const std::string& table) {
    auto rows = PostgresQuery(
        server()->conninfo(),
        absl::StrCat("SELECT id, coalesce(name, 'NULL') FROM ", table, " ORDER BY id"));
    EXPECT_THAT(rows, IsOk());
    std::vector<std::string> out;
    if (rows.ok()) {
      for (const auto& r : *rows) out.push_back(absl::StrCat(r[0], ":", r[1]));
    }
    return out;
  }
  int PreparedCount() {
    auto rows = PostgresQuery(server()->conninfo(), "SELECT count(*) FROM pg_prepared_xacts");
    return rows.ok() ? std::stoi((*rows)[0][0]) : -1;
  }
};

TEST_F(PostgresSinkTest, CreatesTheTableAndRefusesOneWithOtherColumns) {
  ASSERT_THAT(PostgresSink<Item>::Open(Options("created")), IsOk());
  EXPECT_THAT(Rows("created"), IsEmpty());
  ASSERT_THAT(PostgresSink<Item>::Open(Options("created")), IsOk());  // same columns: fine
  ASSERT_THAT(PostgresQuery(server()->conninfo(), "CREATE TABLE other (id INT, label TEXT)"),
              IsOk());
  EXPECT_THAT(PostgresSink<Item>::Open(Options("other")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("exists with columns (id integer, label text) but the sink "
                                 "writes (id bigint, name text)")));
}

TEST_F(PostgresSinkTest, ClearErrorsBeforeAnyWork) {
  auto bad_password = Options("t");
  bad_password.config.conninfo =
      absl::StrCat("postgresql://postgres:wrong@127.0.0.1:", server()->port(), "/postgres");
  EXPECT_THAT(PostgresSink<Item>::Open(bad_password),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("authentication failed")));
  auto unreachable = Options("t");
  unreachable.config.conninfo = "host=127.0.0.1 port=1 user=postgres connect_timeout=2";
  EXPECT_THAT(PostgresSink<Item>::Open(unreachable),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot connect")));
  auto bad_type = Options("t");
  bad_type.config.columns[1].sql_type = "NOSUCHTYPE";
  EXPECT_THAT(PostgresSink<Item>::Open(bad_type),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NOSUCHTYPE")));
}

TEST_F(PostgresSinkTest, RowsBecomeVisibleOnCheckpointCompletion) {
  auto sink = PostgresSink<Item>::Open(Options("visible"));
  ASSERT_THAT(sink, IsOk());
  auto w = Writer(**sink);
  ASSERT_THAT(Write(*w, {{1, "a\tb"}, {2, "back\\slash\nnew line"}, {3, "null"}}), IsOk());
  auto state = w->SnapshotState(1);
  ASSERT_THAT(state, IsOk());
  EXPECT_THAT(Rows("visible"), IsEmpty());  // prepared, not committed
  EXPECT_EQ(PreparedCount(), 1);
  ASSERT_THAT(w->NotifyCheckpointComplete(1), IsOk());
  ASSERT_THAT(w->NotifyCheckpointComplete(1), IsOk());  // idempotent
  EXPECT_THAT(Rows("visible"), ElementsAre("1:a\tb", "2:back\\slash\nnew line", "3:NULL"));
  ASSERT_THAT(Write(*w, {{4, "d"}}), IsOk());
  ASSERT_THAT(w->Flush(), IsOk());
  EXPECT_THAT(Rows("visible"), ElementsAre("1:a\tb", "2:back\\slash\nnew line", "3:NULL", "4:d"));
  EXPECT_EQ(PreparedCount(), 0);
  EXPECT_EQ((*sink)->rows_written(), 4);
}

TEST_F(PostgresSinkTest, RestoreCommitsTheCheckpointAndRollsBackWhatFollowed) {
  auto sink = PostgresSink<Item>::Open(Options("restore"));
  ASSERT_THAT(sink, IsOk());
  std::string state1;
  {
    auto w = Writer(**sink);
    ASSERT_THAT(Write(*w, {{1, "a"}}), IsOk());
    ASSERT_THAT(w->SnapshotState(1), IsOk());
    ASSERT_THAT(Write(*w, {{2, "b"}}), IsOk());
    auto s = w->SnapshotState(2);  // checkpoint 1 never completes: both prepared
    ASSERT_THAT(s, IsOk());
    state1 = *s;
    ASSERT_THAT(Write(*w, {{3, "c"}}), IsOk());
    ASSERT_THAT(w->SnapshotState(3), IsOk());    // never completes: rolled back below
    ASSERT_THAT(Write(*w, {{4, "d"}}), IsOk());  // open transaction: lost with the crash
  }                                              // the crash: connections closed, nothing committed
  EXPECT_THAT(Rows("restore"), IsEmpty());
  EXPECT_EQ(PreparedCount(), 3);
  auto w = Writer(**sink);
  ASSERT_THAT(w->RestoreState({state1}), IsOk());
  EXPECT_THAT(Rows("restore"), ElementsAre("1:a", "2:b"));
  EXPECT_EQ(PreparedCount(), 0);
  // The restored run reuses checkpoint id 3: a new transaction, not the old one.
  ASSERT_THAT(Write(*w, {{3, "c"}}), IsOk());
  ASSERT_THAT(w->SnapshotState(3), IsOk());
  ASSERT_THAT(w->NotifyCheckpointComplete(3), IsOk());
  EXPECT_THAT(Rows("restore"), ElementsAre("1:a", "2:b", "3:c"));
}

TEST_F(PostgresSinkTest, RestoreAfterTheFinalCommitWritesNothingTwice) {
  auto options = Options("finished");
  options.config.replace_on_fresh_start = true;
  auto sink = PostgresSink<Item>::Open(options);
  ASSERT_THAT(sink, IsOk());
  ASSERT_THAT(PostgresQuery(server()->conninfo(), "INSERT INTO finished VALUES (99, 'old')"),
              IsOk());
  std::string state;
  {
    auto w = Writer(**sink);
    ASSERT_THAT(Write(*w, {{1, "a"}}), IsOk());
    auto s = w->SnapshotState(1);
    ASSERT_THAT(s, IsOk());
    state = *s;
    ASSERT_THAT(Write(*w, {{2, "b"}}), IsOk());
    ASSERT_THAT(w->Flush(), IsOk());  // then a crash before the job's end is recorded
  }
  EXPECT_THAT(Rows("finished"), ElementsAre("1:a", "2:b"));  // the fresh start replaced 99
  auto w = Writer(**sink);
  ASSERT_THAT(w->RestoreState({state}), IsOk());
  ASSERT_THAT(Write(*w, {{2, "b"}}), IsOk());  // the replay
  ASSERT_THAT(w->Flush(), IsOk());
  EXPECT_THAT(Rows("finished"), ElementsAre("1:a", "2:b"));
}

TEST_F(PostgresSinkTest, AServerThatGoesAwayFailsTheCheckpointAndTheRestoreResumes) {
  auto sink = PostgresSink<Item>::Open(Options("crash"));
  ASSERT_THAT(sink, IsOk());
  auto w = Writer(**sink);
  ASSERT_THAT(Write(*w, {{1, "a"}}), IsOk());
  auto state = w->SnapshotState(1);
  ASSERT_THAT(state, IsOk());
  ASSERT_THAT(Write(*w, {{2, "b"}}), IsOk());
  ASSERT_THAT(server()->Kill(), IsOk());
  absl::Status failed = Write(*w, {{3, "c"}});
  if (failed.ok()) failed = w->SnapshotState(2).status();
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnavailable));
  w.reset();
  ASSERT_THAT(server()->Restart(), IsOk());
  EXPECT_EQ(PreparedCount(), 1);  // the prepared transaction survived the crash
  auto restored = Writer(**sink);
  ASSERT_THAT(restored->RestoreState({*state}), IsOk());
  EXPECT_THAT(Rows("crash"), ElementsAre("1:a"));
}

}  // namespace
}  // namespace brook::connectors
