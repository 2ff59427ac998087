// File: brook/connectors/transactional_append_file.cc
#include "brook/connectors/transactional_append_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/status.h"

namespace brook::connectors {
namespace {

absl::Status IoError(int error_number, const std::string& what) {
  absl::Status status = absl::ErrnoToStatus(error_number, what);
  if (status.code() == absl::StatusCode::kUnknown) {
    return absl::UnavailableError(status.message());
  }
  return status;
}

absl::StatusOr<int64_t> FileSize(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return IoError(errno, absl::StrCat("stat '", path, "'"));
  return static_cast<int64_t>(st.st_size);
}

// Copies bytes [from, to) of `src` to the same offsets of `dst`.
absl::Status CopyRange(int src, const std::string& src_path, int dst,
                       const std::string& dst_path, int64_t from, int64_t to) {
  constexpr int64_t kChunk = int64_t{1} << 20;
  std::vector<char> buffer(static_cast<size_t>(std::min(kChunk, std::max<int64_t>(to - from, 1))));
  while (from < to) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(to - from, buffer.size()));
    const ssize_t n = ::pread(src, buffer.data(), want, from);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(errno, absl::StrCat("read '", src_path, "'"));
    }
    if (n == 0) {
      return absl::DataLossError(
          absl::StrCat("'", src_path, "' ends at offset ", from, ", expected ", to, " bytes"));
    }
    size_t done = 0;
    while (done < static_cast<size_t>(n)) {
      const ssize_t w = ::pwrite(dst, buffer.data() + done, static_cast<size_t>(n) - done,
                                 from + static_cast<int64_t>(done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return IoError(errno, absl::StrCat("write '", dst_path, "'"));
      }
      done += static_cast<size_t>(w);
    }
    from += n;
  }
  return absl::OkStatus();
}

absl::Status Sync(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return IoError(errno, absl::StrCat("fsync '", path, "'"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TransactionalAppendFile>> TransactionalAppendFile::Open(
    std::string path) {
  if (path.empty() || path == "-") {
    return absl::InvalidArgumentError(
        "a transactional output needs a file path (stdout cannot be committed)");
  }
  const std::string pending_path = path + std::string(kPendingSuffix);
  const int visible_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (visible_fd < 0) return IoError(errno, absl::StrCat("cannot open '", path, "'"));
  auto visible_length = FileSize(visible_fd, path);
  if (!visible_length.ok()) {
    ::close(visible_fd);
    return visible_length.status();
  }
  const int pending_fd = ::open(pending_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (pending_fd < 0) {
    const int e = errno;
    ::close(visible_fd);
    return IoError(e, absl::StrCat("cannot open '", pending_path, "'"));
  }
  std::FILE* pending = ::fdopen(pending_fd, "r+");
  if (pending == nullptr) {
    const int e = errno;
    ::close(pending_fd);
    ::close(visible_fd);
    return IoError(e, absl::StrCat("cannot open '", pending_path, "'"));
  }
  static constexpr size_t kBufferBytes = 1 << 20;
  std::setvbuf(pending, nullptr, _IOFBF, kBufferBytes);
  ::fseeko(pending, 0, SEEK_END);
  return std::unique_ptr<TransactionalAppendFile>(
      new TransactionalAppendFile(std::move(path), pending, visible_fd, *visible_length));
}

TransactionalAppendFile::TransactionalAppendFile(std::string path, std::FILE* pending,
                                                 int visible_fd, int64_t visible_length)
    : path_(std::move(path)),
      pending_(pending),
      visible_fd_(visible_fd),
      visible_length_(visible_length) {}

TransactionalAppendFile::~TransactionalAppendFile() {
  if (pending_ != nullptr) std::fclose(pending_);
  if (visible_fd_ >= 0) ::close(visible_fd_);
}

absl::Status TransactionalAppendFile::StartFresh() {
  if (finished_) return absl::FailedPreconditionError(absl::StrCat("'", path_, "' is finished"));
  const int fd = ::fileno(pending_);
  if (std::fflush(pending_) != 0 || ::ftruncate(fd, 0) != 0) {
    return IoError(errno, absl::StrCat("truncate '", pending_path(), "'"));
  }
  ::fseeko(pending_, 0, SEEK_SET);
  if (::ftruncate(visible_fd_, 0) != 0) {
    return IoError(errno, absl::StrCat("truncate '", path_, "'"));
  }
  BROOK_RETURN_IF_ERROR(Sync(fd, pending_path()));
  BROOK_RETURN_IF_ERROR(Sync(visible_fd_, path_));
  visible_length_ = 0;
  precommitted_length_ = 0;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> TransactionalAppendFile::PreCommit() {
  if (finished_) return absl::FailedPreconditionError(absl::StrCat("'", path_, "' is finished"));
  if (std::fflush(pending_) != 0) {
    return IoError(errno, absl::StrCat("write '", pending_path(), "'"));
  }
  BROOK_RETURN_IF_ERROR(Sync(::fileno(pending_), pending_path()));
  const off_t length = ::ftello(pending_);
  if (length < 0) return IoError(errno, absl::StrCat("tell '", pending_path(), "'"));
  precommitted_length_ = length;
  return precommitted_length_;
}

absl::Status TransactionalAppendFile::SetVisible(int64_t length) {
  if (visible_length_ > length) {
    if (::ftruncate(visible_fd_, length) != 0) {
      return IoError(errno, absl::StrCat("truncate '", path_, "'"));
    }
  } else if (visible_length_ < length) {
    BROOK_RETURN_IF_ERROR(CopyRange(::fileno(pending_), pending_path(), visible_fd_, path_,
                                    visible_length_, length));
  }
  BROOK_RETURN_IF_ERROR(Sync(visible_fd_, path_));
  visible_length_ = length;
  return absl::OkStatus();
}

absl::Status TransactionalAppendFile::Commit(int64_t length) {
  if (finished_) return absl::FailedPreconditionError(absl::StrCat("'", path_, "' is finished"));
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
  if (finished_) return absl::FailedPreconditionError(absl::StrCat("'", path_, "' is finished"));
  if (length < 0) return absl::DataLossError(absl::StrCat("negative length for '", path_, "'"));
  const int fd = ::fileno(pending_);
  if (std::fflush(pending_) != 0) {
    return IoError(errno, absl::StrCat("write '", pending_path(), "'"));
  }
  BROOK_ASSIGN_OR_RETURN(const int64_t pending_size, FileSize(fd, pending_path()));
  BROOK_ASSIGN_OR_RETURN(const int64_t visible_size, FileSize(visible_fd_, path_));
  visible_length_ = visible_size;
  if (pending_size >= length) {
    if (::ftruncate(fd, length) != 0) {
      return IoError(errno, absl::StrCat("truncate '", pending_path(), "'"));
    }
  } else if (visible_size >= length) {
    // The pending file went away after a CommitAll(): the visible file holds
    // the same bytes.
    BROOK_RETURN_IF_ERROR(CopyRange(visible_fd_, path_, fd, pending_path(), pending_size, length));
  } else {
    return absl::DataLossError(absl::StrCat(
        "the checkpoint covers ", length, " bytes of output, but '", pending_path(), "' has ",
        pending_size, " and '", path_, "' ", visible_size,
        ": the output files do not belong to this checkpoint"));
  }
  BROOK_RETURN_IF_ERROR(Sync(fd, pending_path()));
  ::fseeko(pending_, 0, SEEK_END);
  precommitted_length_ = length;
  return SetVisible(length);
}

absl::Status TransactionalAppendFile::CommitAll() {
  BROOK_ASSIGN_OR_RETURN(const int64_t length, PreCommit());
  BROOK_RETURN_IF_ERROR(Commit(length));
  std::fclose(pending_);
  pending_ = nullptr;
  finished_ = true;
  if (::unlink(pending_path().c_str()) != 0 && errno != ENOENT) {
    return IoError(errno, absl::StrCat("remove '", pending_path(), "'"));
  }
  return absl::OkStatus();
}

}  // namespace brook::connectors
