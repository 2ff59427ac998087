// The POSIX FileSystem: the only place where brook's durable files meet the
// system calls.
#include "brook/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace brook {
namespace {

absl::Status IoError(absl::string_view op, const std::string& path, int error) {
  absl::Status status = absl::ErrnoToStatus(error, absl::StrCat(op, " '", path, "'"));
  if (status.code() == absl::StatusCode::kUnknown) return absl::UnavailableError(status.message());
  return status;
}

class PosixFile final : public File {
 public:
  PosixFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFile() override { (void)Close(); }

  absl::Status Write(int64_t offset, absl::Span<const std::string_view> pieces) override {
    std::vector<iovec> iov;
    iov.reserve(pieces.size());
    for (std::string_view piece : pieces) {
      if (!piece.empty()) iov.push_back({const_cast<char*>(piece.data()), piece.size()});
    }
    size_t next = 0;
    while (next < iov.size()) {
      const int count = static_cast<int>(std::min<size_t>(iov.size() - next, IOV_MAX));
      const ssize_t written = ::pwritev(fd_, &iov[next], count, offset);
      if (written < 0) {
        if (errno == EINTR) continue;
        return IoError("write", path_, errno);
      }
      offset += written;
      auto left = static_cast<size_t>(written);
      while (next < iov.size() && left >= iov[next].iov_len) left -= iov[next++].iov_len;
      if (left > 0) {  // a short write: go on from where it stopped
        iov[next].iov_base = static_cast<char*>(iov[next].iov_base) + left;
        iov[next].iov_len -= left;
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Read(int64_t offset, size_t size, char* out) override {
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pread(fd_, out + done, size - done, offset + static_cast<int64_t>(done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("read", path_, errno);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  absl::StatusOr<int64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return IoError("stat", path_, errno);
    return static_cast<int64_t>(st.st_size);
  }

  absl::Status Truncate(int64_t size) override {
    if (::ftruncate(fd_, size) != 0) return IoError("truncate", path_, errno);
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (::fsync(fd_) != 0) return IoError("fsync", path_, errno);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    const int rc = ::close(std::exchange(fd_, -1));
    if (rc != 0) return IoError("close", path_, errno);
    return absl::OkStatus();
  }

  const std::string& path() const override { return path_; }

 private:
  const std::string path_;
  int fd_;
};

class PosixFileSystem final : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override {
    const int flags =
        O_RDWR | O_CREAT | O_CLOEXEC | (mode == OpenMode::kCreateOrTruncate ? O_TRUNC : 0);
    const int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return IoError("open", path, errno);
    return std::make_unique<PosixFile>(path, fd);
  }

  absl::StatusOr<FileContents> ReadFile(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IoError("open", path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int error = errno;
      ::close(fd);
      return IoError("stat", path, error);
    }
    FileContents contents;
    contents.size = static_cast<size_t>(st.st_size);
    if (contents.size == 0) {
      ::close(fd);
      static const uint64_t kEmpty = 0;
      contents.data = reinterpret_cast<const unsigned char*>(&kEmpty);
      return contents;
    }
    // Checkpoint files are read once and in order: map them rather than copy.
    void* map = ::mmap(nullptr, contents.size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    const int error = errno;
    ::close(fd);
    if (map == MAP_FAILED) return IoError("mmap", path, error);
    ::madvise(map, contents.size, MADV_SEQUENTIAL);
    const size_t size = contents.size;
    contents.data = static_cast<const unsigned char*>(map);
    contents.owner = std::shared_ptr<const void>(
        map, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
    return contents;
  }

  bool FileExists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return IoError("rename", absl::StrCat(from, "' to '", to), errno);
    }
    return absl::OkStatus();
  }

  absl::Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return IoError("remove", path, errno);
    return absl::OkStatus();
  }

  absl::Status RemoveAll(const std::string& path) override {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) return IoError("remove", path, ec.value());
    return absl::OkStatus();
  }

  absl::Status CreateDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return IoError("mkdir", path, errno);
    return absl::OkStatus();
  }

  absl::Status CreateDirs(const std::string& path) override {
    std::error_code ec, is_directory_ec;
    std::filesystem::create_directories(path, ec);
    if (std::filesystem::is_directory(path, is_directory_ec)) return absl::OkStatus();
    if (ec && ec != std::errc::file_exists) return IoError("mkdir", path, ec.value());
    return absl::FailedPreconditionError(absl::StrCat("mkdir '", path, "': not a directory"));
  }

  absl::Status SyncDir(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return IoError("open", path, errno);
    const int rc = ::fsync(fd);
    const int error = errno;
    ::close(fd);
    if (rc != 0) return IoError("fsync", path, error);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return IoError("list", path, errno);
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(dir)) {
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    const int error = errno;
    ::closedir(dir);
    if (error != 0) return IoError("list", path, error);
    return names;
  }
};

}  // namespace

FileSystem* FileSystem::Default() {
  static FileSystem* const kPosix = new PosixFileSystem;
  return kPosix;
}

std::string ParentDir(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

}  // namespace brook
