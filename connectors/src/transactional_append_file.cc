// File: brook/connectors/transactional_append_file.cc
#include "brook/connectors/transactional_append_file.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/status.h"

namespace brook::connectors {
namespace {

constexpr size_t kBufferBytes = size_t{1} << 20;

// Copies bytes [from, to) of `src` to the same offsets of `dst`.
absl::Status CopyRange(File& src, File& dst, int64_t from, int64_t to) {
  std::vector<char> buffer(static_cast<size_t>(
      std::min<int64_t>(kBufferBytes, std::max<int64_t>(to - from, 1))));
  while (from < to) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(to - from, buffer.size()));
    BROOK_ASSIGN_OR_RETURN(const size_t n, src.Read(from, want, buffer.data()));
    if (n == 0) {
      return absl::DataLossError(
          absl::StrCat("'", src.path(), "' ends at offset ", from, ", expected ", to, " bytes"));
    }
    BROOK_RETURN_IF_ERROR(dst.Write(from, std::string_view(buffer.data(), n)));
    from += static_cast<int64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TransactionalAppendFile>> TransactionalAppendFile::Open(
    std::string path, FileSystem* fs) {
  if (path.empty() || path == "-") {
    return absl::InvalidArgumentError(
        "a transactional output needs a file path (stdout cannot be committed)");
  }
  if (fs == nullptr) fs = FileSystem::Default();
  constexpr auto kKeep = FileSystem::OpenMode::kCreateOrKeep;
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<File> visible, fs->OpenFile(path, kKeep));
  BROOK_ASSIGN_OR_RETURN(const int64_t visible_length, visible->Size());
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<File> pending,
                         fs->OpenFile(path + std::string(kPendingSuffix), kKeep));
  BROOK_ASSIGN_OR_RETURN(const int64_t pending_length, pending->Size());
  return std::unique_ptr<TransactionalAppendFile>(
      new TransactionalAppendFile(std::move(path), fs, std::move(pending), pending_length,
                                  std::move(visible), visible_length));
}

TransactionalAppendFile::TransactionalAppendFile(std::string path, FileSystem* fs,
                                                 std::unique_ptr<File> pending,
                                                 int64_t pending_length,
                                                 std::unique_ptr<File> visible,
                                                 int64_t visible_length)
    : path_(std::move(path)),
      fs_(fs),
      pending_(std::move(pending)),
      pending_length_(pending_length),
      visible_(std::move(visible)),
      visible_length_(visible_length) {}

TransactionalAppendFile::~TransactionalAppendFile() = default;

absl::Status TransactionalAppendFile::FinishedError() const {
  return absl::FailedPreconditionError(absl::StrCat("'", path_, "' is finished"));
}

absl::Status TransactionalAppendFile::Append(std::string_view bytes) {
  if (finished_) return FinishedError();
  if (buffer_.size() + bytes.size() <= kBufferBytes) {
    buffer_.append(bytes);
    return absl::OkStatus();
  }
  BROOK_RETURN_IF_ERROR(Flush());
  if (bytes.size() < kBufferBytes) {
    buffer_.append(bytes);
    return absl::OkStatus();
  }
  BROOK_RETURN_IF_ERROR(pending_->Write(pending_length_, bytes));
  pending_length_ += static_cast<int64_t>(bytes.size());
  return absl::OkStatus();
}

absl::Status TransactionalAppendFile::Flush() {
  if (finished_) return FinishedError();
  if (buffer_.empty()) return absl::OkStatus();
  BROOK_RETURN_IF_ERROR(pending_->Write(pending_length_, buffer_));
  pending_length_ += static_cast<int64_t>(buffer_.size());
  buffer_.clear();
  return absl::OkStatus();
}

absl::Status TransactionalAppendFile::StartFresh() {
  if (finished_) return FinishedError();
  buffer_.clear();
  BROOK_RETURN_IF_ERROR(pending_->Truncate(0));
  pending_length_ = 0;
  BROOK_RETURN_IF_ERROR(visible_->Truncate(0));
  BROOK_RETURN_IF_ERROR(pending_->Sync());
  BROOK_RETURN_IF_ERROR(visible_->Sync());
  // Open() may have created them: their entries must be as durable as the
  // bytes a checkpoint will count on.
  BROOK_RETURN_IF_ERROR(fs_->SyncDir(ParentDir(path_)));
  visible_length_ = 0;
  precommitted_length_ = 0;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> TransactionalAppendFile::PreCommit() {
  BROOK_RETURN_IF_ERROR(Flush());
  BROOK_RETURN_IF_ERROR(pending_->Sync());
  precommitted_length_ = pending_length_;
  return precommitted_length_;
}

absl::Status TransactionalAppendFile::SetVisible(int64_t length) {
  if (visible_length_ > length) {
    BROOK_RETURN_IF_ERROR(visible_->Truncate(length));
  } else if (visible_length_ < length) {
    BROOK_RETURN_IF_ERROR(CopyRange(*pending_, *visible_, visible_length_, length));
  }
  BROOK_RETURN_IF_ERROR(visible_->Sync());
  visible_length_ = length;
  return absl::OkStatus();
}

absl::Status TransactionalAppendFile::Commit(int64_t length) {
  if (finished_) return FinishedError();
  if (length > precommitted_length_) {
    return absl::FailedPreconditionError(
        absl::StrCat("commit of ", length, " bytes of '", path_, "' beyond the ",
                     precommitted_length_, " pre-committed"));
  }
  // Idempotent, and never backwards: a late commit of an older checkpoint
  // finds its bytes visible already.
  if (length <= visible_length_) return absl::OkStatus();
  return SetVisible(length);
}

absl::Status TransactionalAppendFile::Restore(int64_t length) {
  if (finished_) return FinishedError();
  if (length < 0) return absl::DataLossError(absl::StrCat("negative length for '", path_, "'"));
  BROOK_RETURN_IF_ERROR(Flush());
  BROOK_ASSIGN_OR_RETURN(const int64_t pending_size, pending_->Size());
  BROOK_ASSIGN_OR_RETURN(const int64_t visible_size, visible_->Size());
  visible_length_ = visible_size;
  if (pending_size >= length) {
    BROOK_RETURN_IF_ERROR(pending_->Truncate(length));
  } else if (visible_size >= length) {
    // The pending file went away after a CommitAll(): the visible file holds
    // the same bytes.
    BROOK_RETURN_IF_ERROR(CopyRange(*visible_, *pending_, pending_size, length));
  } else {
    return absl::DataLossError(absl::StrCat(
        "the checkpoint covers ", length, " bytes of output, but '", pending_path(), "' has ",
        pending_size, " and '", path_, "' ", visible_size,
        ": the output files do not belong to this checkpoint"));
  }
  BROOK_RETURN_IF_ERROR(pending_->Sync());
  pending_length_ = length;
  precommitted_length_ = length;
  return SetVisible(length);
}

absl::Status TransactionalAppendFile::CommitAll() {
  BROOK_ASSIGN_OR_RETURN(const int64_t length, PreCommit());
  BROOK_RETURN_IF_ERROR(Commit(length));
  absl::Status closed = pending_->Close();
  pending_.reset();
  finished_ = true;
  BROOK_RETURN_IF_ERROR(closed);
  absl::Status removed = fs_->RemoveFile(pending_path());
  if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  return absl::OkStatus();
}

}  // namespace brook::connectors
