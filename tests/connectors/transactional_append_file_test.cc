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
    ASSERT_EQ(std::fwrite(s.data(), 1, s.size(), f.pending()), s.size());
  }
  std::unique_ptr<TransactionalAppendFile> OpenFile() {
    auto f = TransactionalAppendFile::Open(path_);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *std::move(f) : nullptr;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(TransactionalAppendFileTest, UncommittedOutputIsNeverVisible) {
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->StartFresh().ok());
  Append(*f, "a1\n");
  EXPECT_EQ(Read(path_), "");
  auto l1 = f->PreCommit();
  ASSERT_TRUE(l1.ok()) << l1.status();
  EXPECT_EQ(*l1, 3);
  // Pre-committed (durable in the pending file) but not visible.
  EXPECT_EQ(Read(path_), "");
  EXPECT_EQ(Read(f->pending_path()), "a1\n");
  Append(*f, "b2\n");
  ASSERT_TRUE(f->Commit(*l1).ok());
  EXPECT_EQ(Read(path_), "a1\n");
  EXPECT_EQ(f->committed_length(), 3);
}

TEST_F(TransactionalAppendFileTest, CommitIsIdempotentAndNeverGoesBack) {
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->StartFresh().ok());
  Append(*f, "one\n");
  const int64_t l1 = *f->PreCommit();
  Append(*f, "two\n");
  const int64_t l2 = *f->PreCommit();
  ASSERT_TRUE(f->Commit(l2).ok());
  ASSERT_TRUE(f->Commit(l2).ok());
  ASSERT_TRUE(f->Commit(l1).ok());  // a late commit of an older checkpoint
  EXPECT_EQ(Read(path_), "one\ntwo\n");
}

TEST_F(TransactionalAppendFileTest, CommitBeyondPreCommitIsRefused) {
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->StartFresh().ok());
  Append(*f, "x\n");
  const absl::Status s = f->Commit(2);  // written but not pre-committed
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(Read(path_), "");
}

TEST_F(TransactionalAppendFileTest, RestoreCommitsWhatTheCheckpointCoveredAndDropsTheRest) {
  int64_t l2 = 0;
  {
    auto f = OpenFile();
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->StartFresh().ok());
    Append(*f, "a\n");
    const int64_t l1 = *f->PreCommit();  // checkpoint 1, completed
    ASSERT_TRUE(f->Commit(l1).ok());
    Append(*f, "b\n");
    l2 = *f->PreCommit();  // checkpoint 2: complete, but its commit never ran
    Append(*f, "c-after-the-checkpoint\n");
    std::fflush(f->pending());
    // Crash: the object goes away without another commit.
  }
  EXPECT_EQ(Read(path_), "a\n");
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Restore(l2).ok());
  EXPECT_EQ(Read(path_), "a\nb\n");
  EXPECT_EQ(Read(f->pending_path()), "a\nb\n");
  Append(*f, "c\n");
  ASSERT_TRUE(f->CommitAll().ok());
  EXPECT_EQ(Read(path_), "a\nb\nc\n");
  EXPECT_FALSE(fs::exists(f->pending_path()));
}

TEST_F(TransactionalAppendFileTest, RestoreTruncatesOutputCommittedAfterTheCheckpoint) {
  int64_t l1 = 0;
  {
    auto f = OpenFile();
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->StartFresh().ok());
    Append(*f, "a\n");
    l1 = *f->PreCommit();
    Append(*f, "b\n");
    // The end of input committed everything, then the process died before
    // it could exit: the pending file is gone.
    ASSERT_TRUE(f->CommitAll().ok());
  }
  EXPECT_EQ(Read(path_), "a\nb\n");
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Restore(l1).ok());
  EXPECT_EQ(Read(path_), "a\n");
  EXPECT_EQ(Read(f->pending_path()), "a\n");
  Append(*f, "b\n");
  ASSERT_TRUE(f->CommitAll().ok());
  EXPECT_EQ(Read(path_), "a\nb\n");
}

TEST_F(TransactionalAppendFileTest, RestoreBeyondBothFilesIsDataLoss) {
  {
    auto f = OpenFile();
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->StartFresh().ok());
    Append(*f, "abc\n");
    ASSERT_TRUE(f->PreCommit().ok());
  }
  auto f = OpenFile();
  ASSERT_NE(f, nullptr);
  const absl::Status s = f->Restore(100);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
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
  ASSERT_TRUE(f->StartFresh().ok());
  EXPECT_EQ(Read(path_), "");
  EXPECT_EQ(Read(f->pending_path()), "");
  Append(*f, "new\n");
  ASSERT_TRUE(f->CommitAll().ok());
  EXPECT_EQ(Read(path_), "new\n");
}

TEST_F(TransactionalAppendFileTest, OpenReportsBadPaths) {
  EXPECT_FALSE(TransactionalAppendFile::Open("-").ok());
  EXPECT_FALSE(TransactionalAppendFile::Open((dir_ / "missing" / "out.csv").string()).ok());
}

}  // namespace
}  // namespace brook::connectors
