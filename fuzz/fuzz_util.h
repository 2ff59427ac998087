// Helpers shared by brook's fuzz targets (fuzz/*_fuzzer.cc). A target gets
// its input as bytes; most of brook's parsers read files, so the bytes are
// given to them as one: a memfd (no disk I/O), opened by path through
// /proc/self/fd, which is a regular, seekable file as a real input is.
#ifndef BROOK_FUZZ_FUZZ_UTIL_H_
#define BROOK_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace brook_fuzz {

// A file in memory holding given bytes; closed when destroyed.
class MemFile {
 public:
  explicit MemFile(std::string_view bytes);
  ~MemFile();
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  // "/proc/self/fd/N": each open() of it reads from the start.
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// A directory under $TMPDIR (or /tmp) for one fuzzing process, removed with
// its contents when the process exits.
const std::string& ProcessTempDir();

// Writes `bytes` to `path` (truncating); aborts on failure (the harness's own
// I/O failing is no finding about the target).
void WriteFileOrDie(const std::string& path, std::string_view bytes);

// Removes `path` and everything under it; missing is fine.
void RemoveAll(const std::string& path);

}  // namespace brook_fuzz

#endif  // BROOK_FUZZ_FUZZ_UTIL_H_
