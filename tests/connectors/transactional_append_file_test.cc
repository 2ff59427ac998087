// TransactionalAppendFile: uncommitted bytes never visible, idempotent
// commits, restore = commit what the checkpoint covered + drop what followed.
#include "brook/connectors/transactional_append_file.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::Not;

namespace brook::connectors {
namespace {

namespace fs = std::filesystem;

class TransactionalAppendFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("txfile-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "out.csv").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static void Append(TransactionalAppendFile& f, const std::string& s) {
    ASSERT_THAT(f.Append(s), IsOk());
  }
  std::unique_ptr<TransactionalAppendFile> OpenFile() {
    auto f = TransactionalAppendFile::Open(path_);
    EXPECT_THAT(f, IsOk());
    return f.ok() ? *std::move(f) : nullptr;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(TransactionalAppendFileTest, UncommittedOutputIsNeverVisible) {
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  ASSERT_THAT(f->StartFresh(), IsOk());
  Append(*f, "a1\n");
  EXPECT_EQ(Read(path_), "");
  auto l1 = f->PreCommit();
  ASSERT_THAT(l1, IsOk());
  EXPECT_EQ(*l1, 3);
  // Pre-committed (durable in the pending file) but not visible.
  EXPECT_EQ(Read(path_), "");
  EXPECT_EQ(Read(f->pending_path()), "a1\n");
  Append(*f, "b2\n");
  ASSERT_THAT(f->Commit(*l1), IsOk());
  EXPECT_EQ(Read(path_), "a1\n");
  EXPECT_EQ(f->committed_length(), 3);
}

TEST_F(TransactionalAppendFileTest, CommitIsIdempotentAndNeverGoesBack) {
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  ASSERT_THAT(f->StartFresh(), IsOk());
  Append(*f, "one\n");
  const int64_t l1 = *f->PreCommit();
  Append(*f, "two\n");
  const int64_t l2 = *f->PreCommit();
  ASSERT_THAT(f->Commit(l2), IsOk());
  ASSERT_THAT(f->Commit(l2), IsOk());
  ASSERT_THAT(f->Commit(l1), IsOk());  // a late commit of an older checkpoint
  EXPECT_EQ(Read(path_), "one\ntwo\n");
}

TEST_F(TransactionalAppendFileTest, CommitBeyondPreCommitIsRefused) {
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  ASSERT_THAT(f->StartFresh(), IsOk());
  Append(*f, "x\n");
  const absl::Status s = f->Commit(2);  // written but not pre-committed
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition)) << s;
  EXPECT_EQ(Read(path_), "");
}

TEST_F(TransactionalAppendFileTest, RestoreCommitsWhatTheCheckpointCoveredAndDropsTheRest) {
  int64_t l2 = 0;
  {
    auto f = OpenFile();
    ASSERT_NE(f, nullptr);
    ASSERT_THAT(f->StartFresh(), IsOk());
    Append(*f, "a\n");
    const int64_t l1 = *f->PreCommit();  // checkpoint 1, completed
    ASSERT_THAT(f->Commit(l1), IsOk());
    Append(*f, "b\n");
    l2 = *f->PreCommit();  // checkpoint 2: complete, but its commit never ran
    Append(*f, "c-after-the-checkpoint\n");
    ASSERT_THAT(f->Flush(), IsOk());
    // Crash: the object goes away without another commit.
  }
  EXPECT_EQ(Read(path_), "a\n");
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  ASSERT_THAT(f->Restore(l2), IsOk());
  EXPECT_EQ(Read(path_), "a\nb\n");
  EXPECT_EQ(Read(f->pending_path()), "a\nb\n");
  Append(*f, "c\n");
  ASSERT_THAT(f->CommitAll(), IsOk());
  EXPECT_EQ(Read(path_), "a\nb\nc\n");
  EXPECT_FALSE(fs::exists(f->pending_path()));
}

TEST_F(TransactionalAppendFileTest, RestoreTruncatesOutputCommittedAfterTheCheckpoint) {
  int64_t l1 = 0;
  {
    auto f = OpenFile();
    ASSERT_NE(f, nullptr);
    ASSERT_THAT(f->StartFresh(), IsOk());
    Append(*f, "a\n");
    l1 = *f->PreCommit();
    Append(*f, "b\n");
    // The end of input committed everything, then the process died before
    // it could exit: the pending file is gone.
    ASSERT_THAT(f->CommitAll(), IsOk());
  }
  EXPECT_EQ(Read(path_), "a\nb\n");
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  ASSERT_THAT(f->Restore(l1), IsOk());
  EXPECT_EQ(Read(path_), "a\n");
  EXPECT_EQ(Read(f->pending_path()), "a\n");
  Append(*f, "b\n");
  ASSERT_THAT(f->CommitAll(), IsOk());
  EXPECT_EQ(Read(path_), "a\nb\n");
}

TEST_F(TransactionalAppendFileTest, RestoreBeyondBothFilesIsDataLoss) {
  {
    auto f = OpenFile();
    ASSERT_NE(f, nullptr);
    ASSERT_THAT(f->StartFresh(), IsOk());
    Append(*f, "abc\n");
    ASSERT_THAT(f->PreCommit(), IsOk());
  }
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  const absl::Status s = f->Restore(100);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kDataLoss)) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr(".inprogress"));
}

TEST_F(TransactionalAppendFileTest, StartFreshEmptiesBothFiles) {
  {
    std::ofstream(path_) << "old output\n";
    std::ofstream(path_ + ".inprogress") << "old pending\n";
  }
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(Read(path_), "old output\n");  // Open changes nothing
  ASSERT_THAT(f->StartFresh(), IsOk());
  EXPECT_EQ(Read(path_), "");
  EXPECT_EQ(Read(f->pending_path()), "");
  Append(*f, "new\n");
  ASSERT_THAT(f->CommitAll(), IsOk());
  EXPECT_EQ(Read(path_), "new\n");
}

TEST_F(TransactionalAppendFileTest, OpenReportsBadPaths) {
  EXPECT_THAT(TransactionalAppendFile::Open("-"), Not(IsOk()));
  EXPECT_THAT(TransactionalAppendFile::Open((dir_ / "missing" / "out.csv").string()), Not(IsOk()));
}

}  // namespace
}  // namespace brook::connectors
