#include "fuzz_util.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace brook_fuzz {
namespace {

void Die(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz harness: %s %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

MemFile::MemFile(std::string_view bytes) {
  fd_ = memfd_create("brook-fuzz", 0);
  if (fd_ < 0) Die("memfd_create failed", "");
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd_, bytes.data() + done, bytes.size() - done);
    if (n <= 0) Die("write to memfd failed", "");
    done += static_cast<size_t>(n);
  }
  path_ = "/proc/self/fd/" + std::to_string(fd_);
}

MemFile::~MemFile() { close(fd_); }

const std::string& ProcessTempDir() {
  static const std::string* dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                        "/brook-fuzz.XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) Die("mkdtemp failed", templ);
    auto* d = new std::string(templ);
    std::atexit([] { RemoveAll(ProcessTempDir()); });
    return d;
  }();
  return *dir;
}

void WriteFileOrDie(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) Die("cannot write", path);
}

void RemoveAll(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace brook_fuzz
