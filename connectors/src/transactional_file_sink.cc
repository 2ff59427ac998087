// File: brook/connectors/transactional_file_sink.cc
#include "brook/connectors/transactional_file_sink.h"

#include <cerrno>
#include <cstring>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace brook::connectors::file_sink_internal {
namespace {

// A writer's snapshot: format version, pending length, whether the header is
// out, rows written, then the rows buffered for ordering.
constexpr uint8_t kStateVersion = 1;

absl::Status WriteError(int error_number, const std::string& path) {
  absl::Status status = absl::ErrnoToStatus(error_number, absl::StrCat("write '", path, "'"));
  if (status.code() == absl::StatusCode::kUnknown) {
    return absl::UnavailableError(status.message());
  }
  return status;
}

}  // namespace

absl::StatusOr<std::shared_ptr<std::FILE>> OpenPlainOutput(const std::string& path) {
  if (path.empty() || path == "-") {
    return std::shared_ptr<std::FILE>(stdout, [](std::FILE* f) { std::fflush(f); });
  }
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot create '", path, "': ", std::strerror(errno)));
  }
  static constexpr size_t kBufferBytes = 1 << 20;
  std::setvbuf(f, nullptr, _IOFBF, kBufferBytes);
  return std::shared_ptr<std::FILE>(f, [](std::FILE* f) { std::fclose(f); });
}

FileSinkCore::FileSinkCore(std::shared_ptr<TransactionalAppendFile> file,
                           std::shared_ptr<std::FILE> plain, std::string path, std::string header)
    : file_(std::move(file)),
      plain_(std::move(plain)),
      path_(std::move(path)),
      header_(std::move(header)) {}

absl::Status FileSinkCore::PlainStreamError(const char* why) const {
  return absl::FailedPreconditionError(absl::StrCat(
      "the file sink writes '", path_.empty() ? "-" : path_, "' as a plain stream: ", why));
}

absl::Status FileSinkCore::EnsureStarted() {
  if (file_ == nullptr || started_) return absl::OkStatus();
  started_ = true;
  return file_->StartFresh();
}

absl::Status FileSinkCore::Begin() {
  BROOK_RETURN_IF_ERROR(EnsureStarted());
  if (header_written_ || header_.empty()) return absl::OkStatus();
  header_written_ = true;
  BROOK_RETURN_IF_ERROR(Append(header_));
  return Append("\n");
}

absl::Status FileSinkCore::Append(std::string_view bytes) {
  if (bytes.empty()) return absl::OkStatus();
  if (file_ != nullptr && file_->finished()) {
    return absl::FailedPreconditionError(absl::StrCat("'", path_, "': write after the end"));
  }
  if (file_ != nullptr) return file_->Append(bytes);
  if (std::fwrite(bytes.data(), 1, bytes.size(), plain_.get()) != bytes.size()) {
    return WriteError(errno, path_);
  }
  return absl::OkStatus();
}

absl::Status FileSinkCore::PreCommit(int64_t checkpoint_id, int64_t rows_written,
                                     DataOutputView& out) {
  if (file_ == nullptr) {
    return PlainStreamError("checkpointing needs its transactional mode");
  }
  BROOK_RETURN_IF_ERROR(EnsureStarted());
  BROOK_ASSIGN_OR_RETURN(const int64_t length, file_->PreCommit());
  precommitted_[checkpoint_id] = length;
  out.WriteUint8(kStateVersion);
  out.WriteInt64(length);
  out.WriteUint8(header_written_ ? 1 : 0);
  out.WriteInt64(rows_written);
  return absl::OkStatus();
}

absl::Status FileSinkCore::Commit(int64_t checkpoint_id) {
  if (file_ == nullptr || file_->finished()) return absl::OkStatus();
  auto it = precommitted_.upper_bound(checkpoint_id);
  if (it == precommitted_.begin()) return absl::OkStatus();
  const int64_t length = std::prev(it)->second;
  precommitted_.erase(precommitted_.begin(), it);
  return file_->Commit(length);
}

absl::Status FileSinkCore::DecodeState(const std::vector<std::string>& states, DataInputView& in,
                                       int64_t* rows_written) {
  if (file_ == nullptr) {
    return PlainStreamError("it cannot restore a checkpoint");
  }
  if (states.size() != 1) {
    return absl::FailedPreconditionError(
        "a file sink runs at parallelism 1 and restores from exactly one writer's state");
  }
  if (started_) {
    return absl::FailedPreconditionError("file sink: restore after output was written");
  }
  uint8_t version = 0, header = 0;
  BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
  if (version != kStateVersion) {
    return absl::DataLossError(absl::StrCat("file sink state: unknown version ", version));
  }
  BROOK_RETURN_IF_ERROR(in.ReadInt64(&restored_length_));
  BROOK_RETURN_IF_ERROR(in.ReadUint8(&header));
  if (header > 1) return absl::DataLossError("file sink state: bad header flag");
  header_written_ = header == 1;
  return in.ReadInt64(rows_written);
}

absl::Status FileSinkCore::Restore() {
  started_ = true;
  return file_->Restore(restored_length_);
}

absl::Status FileSinkCore::Finish() {
  BROOK_RETURN_IF_ERROR(Begin());
  if (file_ == nullptr) {
    if (std::fflush(plain_.get()) != 0) return WriteError(errno, path_);
    return absl::OkStatus();
  }
  if (file_->finished()) return absl::OkStatus();
  precommitted_.clear();
  return file_->CommitAll();
}

}  // namespace brook::connectors::file_sink_internal
