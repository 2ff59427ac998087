// File: connectors/src/line_reader.cc
#include "brook/connectors/line_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "brook/status.h"
#include "fmt/format.h"
#include "simdjson.h"

namespace brook::connectors {
namespace {

static_assert(kLinePadding >= simdjson::SIMDJSON_PADDING);

constexpr size_t kReadBytes = size_t{1} << 20;
// Room for one whole maximal line plus a full read; see LineReader::Next.
constexpr size_t kBufferBytes = kMaxLineBytes + kReadBytes + 2;
constexpr std::string_view kBom = "\xEF\xBB\xBF";

absl::Status IoError(int error_number, const std::string& what) {
  absl::Status status = absl::ErrnoToStatus(error_number, what);
  // EIO and friends map to kUnknown; a failed read is worth retrying.
  if (status.code() == absl::StatusCode::kUnknown) {
    return absl::UnavailableError(status.message());
  }
  return status;
}

// Offset of the first byte that starts an invalid UTF-8 sequence, or npos.
// Runs only after simdjson's fast check has failed, so plain code suffices.
size_t InvalidUtf8Offset(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned lo = 0x80;
    unsigned hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c == 0xE0) {
      len = 3;
      lo = 0xA0;  // overlong
    } else if (c == 0xED) {
      len = 3;
      hi = 0x9F;  // surrogates
    } else if (c >= 0xE1 && c <= 0xEF) {
      len = 3;
    } else if (c == 0xF0) {
      len = 4;
      lo = 0x90;  // overlong
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = 4;
    } else if (c == 0xF4) {
      len = 4;
      hi = 0x8F;  // beyond U+10FFFF
    } else {
      return i;
    }
    if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

}  // namespace

bool CheckLine(const Line& line, std::string& reason) {
  if (line.overlong) {
    reason = fmt::format("line too long: {} bytes exceeds {}", line.length, kMaxLineBytes);
    return false;
  }
  if (!simdjson::validate_utf8(line.text.data(), line.text.size())) {
    reason = fmt::format("invalid UTF-8 at byte offset {}", InvalidUtf8Offset(line.text));
    return false;
  }
  return true;
}

absl::StatusOr<std::unique_ptr<LineReader>> LineReader::Open(const std::string& path) {
  if (path == "-") {
    return std::unique_ptr<LineReader>(
        new LineReader(STDIN_FILENO, /*owns_fd=*/false, path, "stdin"));
  }
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return IoError(errno, fmt::format("open {}", path));
  auto source = std::unique_ptr<LineReader>(new LineReader(fd, /*owns_fd=*/true, path, path));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return IoError(errno, fmt::format("stat {}", path));
  }
  if (S_ISDIR(st.st_mode)) {
    return IoError(EISDIR, fmt::format("open {}", path));
  }
  if (S_ISREG(st.st_mode)) {
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  return source;
}

LineReader::LineReader(int fd, bool owns_fd, std::string path, std::string source)
    : fd_(fd),
      owns_fd_(owns_fd),
      path_(std::move(path)),
      source_(std::move(source)),
      buf_(new char[kBufferBytes + kLinePadding]) {}

LineReader::~LineReader() {
  if (owns_fd_) ::close(fd_);
}

absl::StatusOr<bool> LineReader::Next(Line& line) {
  for (;;) {
    if (const void* nl = std::memchr(buf_.get() + scan_, '\n', end_ - scan_)) {
      const size_t stop = static_cast<const char*>(nl) - buf_.get();
      Emit(line, stop, stop + 1);
      return true;
    }
    scan_ = end_;
    if (eof_) {
      if (begin_ == end_) return false;
      Emit(line, end_, end_);
      return true;
    }
    // +1 so that a line of exactly kMaxLineBytes with a "\r\n" still fits.
    if (end_ - begin_ > kMaxLineBytes + 1) {
      BROOK_RETURN_IF_ERROR(SkipOverlong(line));
      return true;
    }
    if (begin_ > 0) {
      std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      scan_ -= begin_;
      begin_ = 0;
    }
    BROOK_RETURN_IF_ERROR(Fill());
  }
}

absl::Status LineReader::Seek(int64_t offset, int64_t line_number, int64_t min_offset,
                              int64_t min_line) {
  if (!owns_fd_) {
    return absl::FailedPreconditionError("Seek: cannot seek stdin");
  }
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    return IoError(errno, fmt::format("stat {}", path_));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(fmt::format("Seek {}: not a regular file", path_));
  }
  if (offset < min_offset || line_number < min_line) {
    return absl::InvalidArgumentError(
        fmt::format("Seek {}: offset {} / line {} is before the first data line "
                    "(offset {}, line {})",
                    path_, offset, line_number, min_offset, min_line));
  }
  if (offset > st.st_size) {
    return absl::OutOfRangeError(
        fmt::format("Seek {}: offset {} is past the end ({} bytes)", path_, offset, st.st_size));
  }
  if (offset > min_offset) {
    char previous = 0;
    const ssize_t n = ::pread(fd_, &previous, 1, offset - 1);
    if (n < 0) return IoError(errno, fmt::format("read {}", path_));
    if (n != 1 || previous != '\n') {
      return absl::InvalidArgumentError(
          fmt::format("Seek {}: offset {} is not the start of a line", path_, offset));
    }
  }
  if (::lseek(fd_, offset, SEEK_SET) < 0) {
    return IoError(errno, fmt::format("seek {}", path_));
  }
  begin_ = end_ = scan_ = 0;
  eof_ = false;
  offset_ = offset;
  next_line_ = line_number;
  return absl::OkStatus();
}

absl::Status LineReader::Fill() {
  for (;;) {
    const ssize_t n = ::read(fd_, buf_.get() + end_, kBufferBytes - end_);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(errno, fmt::format("read {}", source_));
    }
    if (n == 0) eof_ = true;
    end_ += static_cast<size_t>(n);
    return absl::OkStatus();
  }
}

// Hands out [begin_, stop) and moves on to `next`.
void LineReader::Emit(Line& line, size_t stop, size_t next) {
  const char* start = buf_.get() + begin_;
  size_t len = stop - begin_;
  if (len > 0 && start[len - 1] == '\r') --len;
  line.text = std::string_view(start, len);
  if (offset_ == 0 && line.text.starts_with(kBom)) {
    line.text.remove_prefix(kBom.size());
  }
  line.number = next_line_++;
  line.length = static_cast<int64_t>(line.text.size());
  line.overlong = line.text.size() > kMaxLineBytes;
  if (line.overlong) line.text = line.text.substr(0, kMaxLineBytes);
  offset_ += static_cast<int64_t>(next - begin_);
  begin_ = scan_ = next;
}

// Keeps the head of a line too long for the buffer and discards the rest.
absl::Status LineReader::SkipOverlong(Line& line) {
  overlong_.assign(buf_.get() + begin_, kMaxLineBytes);
  int64_t length = static_cast<int64_t>(end_ - begin_);
  int64_t consumed = length;
  char last = buf_[end_ - 1];
  begin_ = end_ = scan_ = 0;
  for (;;) {
    BROOK_RETURN_IF_ERROR(Fill());
    if (const void* nl = std::memchr(buf_.get(), '\n', end_)) {
      const size_t stop = static_cast<const char*>(nl) - buf_.get();
      length += static_cast<int64_t>(stop);
      consumed += static_cast<int64_t>(stop) + 1;
      if (stop > 0) last = buf_[stop - 1];
      begin_ = scan_ = stop + 1;
      break;
    }
    length += static_cast<int64_t>(end_);
    consumed += static_cast<int64_t>(end_);
    if (end_ > 0) last = buf_[end_ - 1];
    end_ = 0;
    if (eof_) break;
  }
  if (last == '\r') --length;
  line.text = overlong_;
  line.number = next_line_++;
  line.overlong = true;
  line.length = length;
  offset_ += consumed;
  return absl::OkStatus();
}
}  // namespace brook::connectors
