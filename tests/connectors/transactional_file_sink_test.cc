// File: tests/connectors/transactional_file_sink_test.cc
//
// TransactionalFileSink: output visible only once its checkpoint completes,
// a restore that continues byte for byte as an uninterrupted run, rows
// ordered between watermarks, the plain mode declining checkpoints.
#include "brook/connectors/transactional_file_sink.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/connectors/csv.h"
#include "brook/connectors/dead_letter.h"
#include "brook/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

using ::testing::Not;

namespace brook::connectors {

// A result row as a windowed Top-K makes them.
struct Row {
  int64_t window = 0;
  int32_t rank = 0;
  std::string item;
};

}  // namespace brook::connectors

template <>
struct brook::TypeSerializer<brook::connectors::Row> {
  static void Serialize(const brook::connectors::Row& r, DataOutputView& out) {
    out.WriteInt64(r.window);
    out.WriteInt32(r.rank);
    out.WriteString(r.item);
  }
  static absl::Status Deserialize(DataInputView& in, brook::connectors::Row* r) {
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&r->window));
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&r->rank));
    return in.ReadString(&r->item);
  }
};

namespace brook::connectors {
namespace {

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;


FileSinkOptions<Row> RowOptions(bool ordered) {
  FileSinkOptions<Row> options;
  options.header = "window,rank,item";
  options.encoder = [](const Row& r, std::string& out) {
    AppendCsvRow(out, r.window, r.rank, r.item);
  };
  if (ordered) {
    options.order = [](const Row& a, const Row& b) {
      return std::tie(a.window, a.rank) < std::tie(b.window, b.rank);
    };
  }
  return options;
}

// Window `window`'s rows, ranks n..1: out of order, so that the sink sorts.
std::vector<StreamRecord<Row>> Rows(int window, int n) {
  std::vector<StreamRecord<Row>> rows;
  for (int rank = n; rank >= 1; --rank) {
    rows.push_back({0, Row{window, rank, absl::StrCat("item, ", rank)}});
  }
  return rows;
}

// The calls both runs make: every other window's watermark comes later, so
// rows stay buffered across a snapshot.
absl::Status Feed(SinkWriter<Row>& w, int from, int to) {
  for (int window = from; window < to; ++window) {
    auto rows = Rows(window, 4);
    BROOK_RETURN_IF_ERROR(w.Write(rows));
    if (window % 2 == 1) BROOK_RETURN_IF_ERROR(w.OnWatermark(window));
  }
  return absl::OkStatus();
}

class TransactionalFileSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("file-sink-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string PathOf(const std::string& name) const { return (dir_ / name).string(); }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  template <typename T>
  static std::shared_ptr<TransactionalFileSink<T>> OpenSink(const std::string& path,
                                                            FileSinkMode mode,
                                                            FileSinkOptions<T> options) {
    auto sink = TransactionalFileSink<T>::Open(path, mode, std::move(options));
    EXPECT_THAT(sink, IsOk());
    return sink.ok() ? *std::move(sink) : nullptr;
  }
  template <typename T>
  static std::unique_ptr<SinkWriter<T>> WriterOf(TransactionalFileSink<T>& sink) {
    auto w = sink.CreateWriter(SinkWriterContext{});
    EXPECT_THAT(w, IsOk());
    return w.ok() ? *std::move(w) : nullptr;
  }

  // The plain sink's output over Feed(0, windows) and the end of input.
  std::string PlainReference(int windows) {
    const std::string path = PathOf("reference.csv");
    auto sink = OpenSink(path, FileSinkMode::kPlain, RowOptions(/*ordered=*/true));
    auto w = WriterOf(*sink);
    EXPECT_THAT(Feed(*w, 0, windows), IsOk());
    EXPECT_THAT(w->Flush(), IsOk());
    EXPECT_EQ(sink->rows_written(), 4 * windows);
    return Read(path);
  }

  fs::path dir_;
};

TEST_F(TransactionalFileSinkTest, PlainOrderedOutputIsSortedPerWatermark) {
  EXPECT_EQ(PlainReference(3),
            "window,rank,item\n"
            "0,1,\"item, 1\"\n0,2,\"item, 2\"\n0,3,\"item, 3\"\n0,4,\"item, 4\"\n"
            "1,1,\"item, 1\"\n1,2,\"item, 2\"\n1,3,\"item, 3\"\n1,4,\"item, 4\"\n"
            "2,1,\"item, 1\"\n2,2,\"item, 2\"\n2,3,\"item, 3\"\n2,4,\"item, 4\"\n");
}

TEST_F(TransactionalFileSinkTest, UnorderedRowsAreWrittenAsTheyArrive) {
  const std::string path = PathOf("unordered.csv");
  auto sink = OpenSink(path, FileSinkMode::kTransactional, RowOptions(/*ordered=*/false));
  auto w = WriterOf(*sink);
  auto rows = Rows(5, 2);
  ASSERT_THAT(w->Write(rows), IsOk());
  auto state = w->SnapshotState(1);  // nothing buffered: all of it pre-committed
  ASSERT_THAT(state.status(), IsOk());
  ASSERT_THAT(w->NotifyCheckpointComplete(1), IsOk());
  EXPECT_EQ(Read(path), "window,rank,item\n5,2,\"item, 2\"\n5,1,\"item, 1\"\n");
  EXPECT_EQ(sink->rows_written(), 2);
}

TEST_F(TransactionalFileSinkTest, HeaderIsWrittenWithoutRows) {
  const std::string path = PathOf("empty.csv");
  auto sink = OpenSink(path, FileSinkMode::kTransactional, DeadLetterCsvSinkOptions());
  auto w = WriterOf(*sink);
  ASSERT_THAT(w->Flush(), IsOk());
  EXPECT_EQ(Read(path), "source,line_number,reason,raw_line\n");
  EXPECT_FALSE(fs::exists(path + ".inprogress"));
  EXPECT_EQ(sink->rows_written(), 0);
}

// Two upstream subtasks' rows interleaved two ways give one file: each row
// waits for the watermark to reach its timestamp; a snapshot keeps the rows
// still waiting, with their timestamps.
TEST_F(TransactionalFileSinkTest, ReleaseByEventTimeDoesNotDependOnInterleaving) {
  auto options = [] {
    FileSinkOptions<Row> o = RowOptions(/*ordered=*/true);
    o.release_by_event_time = true;
    return o;
  };
  auto row = [](int64_t ts, int window, int rank) {
    return StreamRecord<Row>{ts, Row{window, rank, absl::StrCat("item, ", rank)}};
  };
  // Subtask A's rows at 10 and 30, B's at 20 and 40; the watermark 25 comes
  // after A's 30 in one run and before it in the other.
  std::vector<std::vector<StreamRecord<Row>>> first = {
      {row(30, 3, 1), row(10, 1, 1)}, {row(20, 2, 1)}, {}, {row(40, 4, 1)}};
  std::vector<std::vector<StreamRecord<Row>>> second = {
      {row(20, 2, 1)}, {row(10, 1, 1)}, {row(30, 3, 1), row(40, 4, 1)}, {}};
  std::vector<std::string> files;
  for (auto* batches : {&first, &second}) {
    const std::string path = PathOf(absl::StrCat("by-time-", files.size(), ".csv"));
    std::string state;
    {
      auto sink = OpenSink(path, FileSinkMode::kTransactional, options());
      auto w = WriterOf(*sink);
      ASSERT_THAT(w->Write((*batches)[0]), IsOk());
      ASSERT_THAT(w->Write((*batches)[1]), IsOk());
      ASSERT_THAT(w->OnWatermark(25), IsOk());
      auto snapshot = w->SnapshotState(1);
      ASSERT_THAT(snapshot.status(), IsOk());
      state = *snapshot;
    }
    // Restored from the snapshot: the rows still waiting keep their times.
    auto sink = OpenSink(path, FileSinkMode::kTransactional, options());
    auto restored = WriterOf(*sink);
    ASSERT_THAT(restored->RestoreState({state}), IsOk());
    ASSERT_THAT(restored->Write((*batches)[2]), IsOk());
    ASSERT_THAT(restored->Write((*batches)[3]), IsOk());
    ASSERT_THAT(restored->OnWatermark(35), IsOk());
    ASSERT_THAT(restored->Flush(), IsOk());
    files.push_back(Read(path));
  }
  EXPECT_EQ(files[0], "window,rank,item\n1,1,\"item, 1\"\n2,1,\"item, 1\"\n"
                      "3,1,\"item, 1\"\n4,1,\"item, 1\"\n");
  EXPECT_EQ(files[1], files[0]);
}

TEST_F(TransactionalFileSinkTest, CommitsInTwoPhasesAndRestoresByteForByte) {
  const std::string reference = PlainReference(6);
  ASSERT_FALSE(reference.empty());

  const std::string path = PathOf("out.csv");
  std::string state1;
  int64_t committed_1 = 0;
  {
    auto sink = OpenSink(path, FileSinkMode::kTransactional, RowOptions(/*ordered=*/true));
    auto w = WriterOf(*sink);
    ASSERT_THAT(Feed(*w, 0, 3), IsOk());  // window 2's rows are still buffered
    auto s1 = w->SnapshotState(1);
    ASSERT_THAT(s1.status(), IsOk());
    state1 = *s1;
    EXPECT_EQ(Read(path), "") << "pre-committed output must not be visible";
    ASSERT_THAT(Feed(*w, 3, 5), IsOk());
    ASSERT_THAT(w->SnapshotState(2).status(), IsOk());
    ASSERT_THAT(w->NotifyCheckpointComplete(1), IsOk());
    const std::string after_1 = Read(path);
    EXPECT_FALSE(after_1.empty());
    EXPECT_THAT(reference, StartsWith(after_1));
    ASSERT_THAT(w->NotifyCheckpointComplete(1), IsOk());  // idempotent
    EXPECT_EQ(Read(path), after_1);
    committed_1 = static_cast<int64_t>(after_1.size());
    // Checkpoint 2 never completes; the process dies here.
  }
  EXPECT_EQ(static_cast<int64_t>(Read(path).size()), committed_1);
  EXPECT_FALSE(Read(path + ".inprogress").empty());

  // Restart from checkpoint 1: what followed it is cut off, and the same
  // calls from there on give the reference, byte for byte.
  auto sink = OpenSink(path, FileSinkMode::kTransactional, RowOptions(/*ordered=*/true));
  auto w = WriterOf(*sink);
  ASSERT_THAT(w->RestoreState({state1}), IsOk());
  EXPECT_EQ(sink->rows_written(), 8);  // windows 0 and 1; window 2 is buffered
  EXPECT_EQ(static_cast<int64_t>(Read(path).size()), committed_1);
  EXPECT_EQ(Read(path + ".inprogress"), Read(path));
  ASSERT_THAT(Feed(*w, 3, 6), IsOk());
  ASSERT_THAT(w->Flush(), IsOk());
  EXPECT_EQ(Read(path), reference);
  EXPECT_FALSE(fs::exists(path + ".inprogress"));
  EXPECT_EQ(sink->rows_written(), 24);
  ASSERT_THAT(w->NotifyCheckpointComplete(3), IsOk());  // after the end: harmless
  EXPECT_EQ(Read(path), reference);
}

TEST_F(TransactionalFileSinkTest, RejectsCorruptOrMisplacedState) {
  const std::string path = PathOf("out.csv");
  std::string state;
  {
    auto sink = OpenSink(path, FileSinkMode::kTransactional, RowOptions(/*ordered=*/true));
    auto w = WriterOf(*sink);
    ASSERT_THAT(Feed(*w, 0, 3), IsOk());
    state = *w->SnapshotState(1);
  }
  for (size_t n = 0; n < state.size(); ++n) {
    auto sink = OpenSink(path, FileSinkMode::kTransactional, RowOptions(/*ordered=*/true));
    auto w = WriterOf(*sink);
    EXPECT_THAT(w->RestoreState({state.substr(0, n)}), StatusIs(absl::StatusCode::kDataLoss))
        << "prefix " << n;
  }
  auto sink = OpenSink(path, FileSinkMode::kTransactional, RowOptions(/*ordered=*/true));
  auto w = WriterOf(*sink);
  EXPECT_THAT(w->RestoreState({state, state}), StatusIs(absl::StatusCode::kFailedPrecondition));
  // The files are not the checkpoint's: shorter than what it pre-committed.
  fs::resize_file(path, 0);
  fs::resize_file(path + ".inprogress", 0);
  EXPECT_THAT(w->RestoreState({state}), StatusIs(absl::StatusCode::kDataLoss));
  // A row count no committed length can hold is damage, not a count to add to
  // (the fuzzer's find: fuzz/corpus/file_sink_state/regression-rows-written-overflow).
  // Layout: version (1 byte), committed length (int64), header flag (1), rows (int64).
  constexpr size_t kRowsOffset = 1 + 8 + 1;
  for (const int64_t rows : {int64_t{-1}, std::numeric_limits<int64_t>::max() - 1}) {
    std::string bad = state;
    std::memcpy(bad.data() + kRowsOffset, &rows, sizeof(rows));
    auto fresh = OpenSink(path, FileSinkMode::kTransactional, RowOptions(/*ordered=*/true));
    EXPECT_THAT(WriterOf(*fresh)->RestoreState({bad}),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("rows in a committed length")))
        << rows;
  }
}

TEST_F(TransactionalFileSinkTest, DeadLettersCommitInTwoPhasesAndRestore) {
  auto letters = [](int from, int to) {
    std::vector<StreamRecord<DeadLetter>> v;
    for (int i = to - 1; i >= from; --i) {
      v.push_back({0, DeadLetter{"in.csv", i, "wrong field count", absl::StrCat("raw,", i)}});
    }
    return v;
  };
  auto feed = [&](SinkWriter<DeadLetter>& w, int from, int to) {
    for (int b = from; b < to; ++b) {
      auto batch = letters(b * 10, b * 10 + 10);
      ASSERT_THAT(w.Write(batch), IsOk());
      if (b % 2 == 1) ASSERT_THAT(w.OnWatermark(b), IsOk());
    }
  };
  const std::string ref_path = PathOf("ref-dead.csv");
  {
    auto sink = OpenSink(ref_path, FileSinkMode::kPlain, DeadLetterCsvSinkOptions());
    auto w = WriterOf(*sink);
    feed(*w, 0, 5);
    ASSERT_THAT(w->Flush(), IsOk());
  }
  const std::string reference = Read(ref_path);
  EXPECT_THAT(reference, StartsWith("source,line_number,reason,raw_line\n"
                                    "in.csv,0,wrong field count,\"raw,0\"\n"
                                    "in.csv,1,wrong field count,\"raw,1\"\n"));

  const std::string path = PathOf("dead.csv");
  std::string state1;
  {
    auto sink = OpenSink(path, FileSinkMode::kTransactional, DeadLetterCsvSinkOptions());
    auto w = WriterOf(*sink);
    feed(*w, 0, 3);
    state1 = *w->SnapshotState(4);
    feed(*w, 3, 4);
    EXPECT_EQ(Read(path), "");
    ASSERT_THAT(w->NotifyCheckpointComplete(4), IsOk());
    EXPECT_THAT(reference, StartsWith(Read(path)));
  }
  auto sink = OpenSink(path, FileSinkMode::kTransactional, DeadLetterCsvSinkOptions());
  auto w = WriterOf(*sink);
  ASSERT_THAT(w->RestoreState({state1}), IsOk());
  feed(*w, 3, 5);
  ASSERT_THAT(w->Flush(), IsOk());
  EXPECT_EQ(Read(path), reference);
}

TEST_F(TransactionalFileSinkTest, PlainModeDeclinesCheckpointsAndRestores) {
  auto sink = OpenSink(PathOf("plain.csv"), FileSinkMode::kPlain, RowOptions(true));
  auto w = WriterOf(*sink);
  auto state = w->SnapshotState(1);
  EXPECT_THAT(state.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(state.status().message(), HasSubstr("plain.csv"));
  EXPECT_THAT(w->RestoreState({"x"}), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(w->RestoreState({}), IsOk());  // nothing to restore
}

TEST_F(TransactionalFileSinkTest, OpenAndCreateWriterCheckTheirArguments) {
  EXPECT_THAT(TransactionalFileSink<Row>::Open("-", FileSinkMode::kTransactional, RowOptions(true))
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TransactionalFileSink<Row>::Open(PathOf("x.csv"), FileSinkMode::kPlain, {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  const auto missing_dir = TransactionalFileSink<Row>::Open(
      PathOf("missing/x.csv"), FileSinkMode::kPlain, RowOptions(false));
  EXPECT_THAT(missing_dir, Not(IsOk()));
  EXPECT_THAT(missing_dir.status().message(), HasSubstr("missing/x.csv"));

  auto sink = OpenSink(PathOf("p.csv"), FileSinkMode::kTransactional, RowOptions(true));
  SinkWriterContext two;
  two.parallelism = 2;
  EXPECT_THAT(sink->CreateWriter(two).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace brook::connectors
