// Helpers for the HTTP tests: a blocking TCP/HTTP client with deadlines, a
// minimal JSON reader, child processes that are always killed (RAII), temp
// directories, free ports, and bounded polling. Nothing here sleeps as a
// means of synchronisation: waits poll a condition until a deadline.
#ifndef BROOK_TESTS_HTTP_HTTP_TEST_UTIL_H_
#define BROOK_TESTS_HTTP_HTTP_TEST_UTIL_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace brook_http_test {

using Clock = std::chrono::steady_clock;

// Calls `done` every `interval` until it returns true or `timeout` passes.
inline bool PollUntil(const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60),
                      std::chrono::milliseconds interval = std::chrono::milliseconds(50)) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

// A TCP connection to 127.0.0.1 with per-call deadlines.
class TcpClient {
 public:
  TcpClient() = default;
  ~TcpClient() { Close(); }
  TcpClient(TcpClient&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  TcpClient& operator=(TcpClient&& o) noexcept {
    if (this != &o) {
      Close();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }

  bool Connect(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    Close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int flags = ::fcntl(fd_, F_GETFL, 0);
    ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    int rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    if (rc != 0 && errno != EINPROGRESS) {
      Close();
      return false;
    }
    if (rc != 0) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
        Close();
        return false;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        Close();
        return false;
      }
    }
    ::fcntl(fd_, F_SETFL, flags);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return true;
  }

  // Sends everything; false if the peer closed or `timeout` passed.
  bool Send(const std::string& data, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = Clock::now() + timeout;
    size_t off = 0;
    while (off < data.size()) {
      pollfd p{fd_, POLLOUT, 0};
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      if (left <= 0 || ::poll(&p, 1, left) != 1) return false;
      const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads what is available within `timeout`: appends to `out`; returns false
  // at end of stream or error (after appending what came before it).
  bool ReadSome(std::string& out, std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r <= 0) return true;  // nothing yet
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    out.append(buf, static_cast<size_t>(n));
    return true;
  }

  // Reads until the peer closes or `timeout`; true when it closed.
  bool ReadToEnd(std::string& out, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (!ReadSome(out, std::chrono::milliseconds(100))) return true;
    }
    return false;
  }

  // Reads until `out` contains `needle`, the peer closes, or `timeout`.
  bool ReadUntil(std::string& out, const std::string& needle,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = Clock::now() + timeout;
    while (out.find(needle) == std::string::npos) {
      if (Clock::now() >= deadline) return false;
      if (!ReadSome(out, std::chrono::milliseconds(100)))
        return out.find(needle) != std::string::npos;
    }
    return true;
  }

  // Abortive close: the peer sees a reset, as when a client crashes.
  void Reset() {
    if (fd_ < 0) return;
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    Close();
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

struct HttpResult {
  int status = 0;                              // 0: no (complete) response
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Parses a complete "Connection: close" response (body = the rest).
inline HttpResult ParseResponse(const std::string& raw) {
  HttpResult r;
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.compare(0, 9, "HTTP/1.1 ") != 0) return r;
  r.status = std::atoi(raw.c_str() + 9);
  std::istringstream head(raw.substr(0, end));
  std::string line;
  std::getline(head, line);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(value.begin());
    r.headers[name] = value;
  }
  r.body = raw.substr(end + 4);
  return r;
}

// One request on a fresh connection, "Connection: close".
inline HttpResult HttpGet(int port, const std::string& target,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30),
                          const std::string& method = "GET") {
  TcpClient c;
  if (!c.Connect(port, timeout)) return {};
  if (!c.Send(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
              timeout)) {
    return {};
  }
  std::string raw;
  if (!c.ReadToEnd(raw, timeout)) return {};
  return ParseResponse(raw);
}

// GET with bounded retries while the answer is not a complete response.
inline HttpResult HttpGetRetry(int port, const std::string& target,
                               std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  HttpResult r;
  PollUntil(
      [&] {
        r = HttpGet(port, target, std::chrono::seconds(20));
        return r.status != 0;
      },
      timeout, std::chrono::milliseconds(100));
  return r;
}

// A free TCP port on loopback right now (for programs that need a number).
inline int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// A directory removed (recursively) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "brook_http_test") {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base ? base : "/tmp") + "/" + prefix + ".XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// The absolute path of `name` found on PATH (or in /usr/bin, /usr/sbin,
// /usr/local/bin), or "" when it is not installed.
inline std::string FindExecutable(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':')) {
      if (!d.empty()) dirs.push_back(d);
    }
  }
  for (const char* d : {"/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin"}) dirs.push_back(d);
  for (const std::string& d : dirs) {
    const std::string candidate = d + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// A child process in its own process group, killed (the whole group, with
// SIGKILL) and reaped when this object goes away, on every path.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess() { Kill(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] with stdout and stderr to the given files (or /dev/null
  // when empty) and stdin from `stdin_path` (or /dev/null).
  bool Start(const std::vector<std::string>& argv, const std::string& stdout_path = "",
             const std::string& stderr_path = "", const std::string& stdin_path = "") {
    Kill();
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
      ::setpgid(0, 0);
      auto redirect = [](const std::string& path, int target, int flags) {
        const int fd = ::open(path.empty() ? "/dev/null" : path.c_str(), flags, 0644);
        if (fd >= 0) {
          ::dup2(fd, target);
          ::close(fd);
        }
      };
      redirect(stdin_path, 0, O_RDONLY);
      redirect(stdout_path, 1, O_WRONLY | O_CREAT | O_TRUNC);
      redirect(stderr_path, 2, O_WRONLY | O_CREAT | O_TRUNC);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also from the parent, so Kill() works at once
    pid_ = pid;
    pgid_ = pid;
    exit_code_.reset();
    return true;
  }

  // Exit status if it has exited (reaping it), else nullopt.
  std::optional<int> TryWait() {
    if (pid_ <= 0) return exit_code_;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exit_code_;
  }

  std::optional<int> Wait(std::chrono::milliseconds timeout) {
    std::optional<int> code;
    PollUntil([&] { return (code = TryWait()).has_value(); }, timeout,
              std::chrono::milliseconds(20));
    return code;
  }

  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  // Kills the process and whatever it left in its process group (e.g. a
  // browser's helpers), and reaps it.
  void Kill() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    // A group outlives its leader while members remain; they are ours.
    if (pgid_ > 0 && ::kill(-pgid_, 0) == 0) ::kill(-pgid_, SIGKILL);
    pgid_ = -1;
  }

  bool running() { return pid_ > 0 && !TryWait().has_value(); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  pid_t pgid_ = -1;
  std::optional<int> exit_code_;
};

// Starts `job` with argv_for(port) on a port picked here, stdout and stderr
// in dir/stdout.txt and dir/stderr.txt, and waits until its stderr contains
// `ready` or it exits. A port picked here may be taken before the job binds
// it: then ("cannot listen") it retries, up to 5 times. Returns the port
// with the job running, else 0; `err` gets its stderr either way.
inline int StartOnFreePort(ChildProcess& job,
                           const std::function<std::vector<std::string>(int port)>& argv_for,
                           const std::string& dir, const std::string& ready, std::string& err) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int port = FreePort();
    if (!job.Start(argv_for(port), dir + "/stdout.txt", dir + "/stderr.txt")) return 0;
    PollUntil(
        [&] {
          err = ReadFile(dir + "/stderr.txt");
          return err.find(ready) != std::string::npos || !job.running();
        },
        std::chrono::seconds(300));
    if (job.running() && err.find(ready) != std::string::npos) return port;
    if (err.find("cannot listen") == std::string::npos) return 0;
  }
  return 0;
}

// A minimal JSON reader for the tests' assertions.
namespace json {

struct Value;
using Object = std::map<std::string, Value>;
using Array = std::vector<Value>;

struct Value {
  std::variant<std::nullptr_t, bool, double, std::string, Array, Object> v;

  bool is_null() const { return std::holds_alternative<std::nullptr_t>(v); }
  bool is_object() const { return std::holds_alternative<Object>(v); }
  bool is_array() const { return std::holds_alternative<Array>(v); }
  double num() const { return std::holds_alternative<double>(v) ? std::get<double>(v) : 0; }
  int64_t i64() const { return static_cast<int64_t>(num()); }
  std::string str() const {
    return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : "";
  }
  bool boolean() const { return std::holds_alternative<bool>(v) && std::get<bool>(v); }
  const Array& arr() const {
    static const Array kEmpty;
    return is_array() ? std::get<Array>(v) : kEmpty;
  }
  const Value& operator[](const std::string& key) const {
    static const Value kNull;
    if (!is_object()) return kNull;
    const Object& o = std::get<Object>(v);
    auto it = o.find(key);
    return it == o.end() ? kNull : it->second;
  }
  bool has(const std::string& key) const {
    return is_object() && std::get<Object>(v).count(key) > 0;
  }
};

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}
  std::optional<Value> Parse() {
    Value v;
    if (!ParseValue(v)) return std::nullopt;
    Skip();
    if (i_ != s_.size()) return std::nullopt;
    return v;
  }

 private:
  void Skip() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) {
      ++i_;
    }
  }
  bool Literal(const char* word) {
    const size_t n = std::strlen(word);
    if (s_.compare(i_, n, word) != 0) return false;
    i_ += n;
    return true;
  }
  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  bool ParseString(std::string& out) {
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    ++i_;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          if (i_ + 4 > s_.size()) return false;
          const uint32_t cp = static_cast<uint32_t>(std::stoul(s_.substr(i_, 4), nullptr, 16));
          i_ += 4;
          AppendUtf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  bool ParseValue(Value& out) {
    Skip();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      Object o;
      Skip();
      if (i_ < s_.size() && s_[i_] == '}') {
        ++i_;
        out.v = std::move(o);
        return true;
      }
      for (;;) {
        Skip();
        std::string key;
        if (!ParseString(key)) return false;
        Skip();
        if (i_ >= s_.size() || s_[i_++] != ':') return false;
        Value v;
        if (!ParseValue(v)) return false;
        o[key] = std::move(v);
        Skip();
        if (i_ >= s_.size()) return false;
        if (s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (s_[i_] == '}') {
          ++i_;
          break;
        }
        return false;
      }
      out.v = std::move(o);
      return true;
    }
    if (c == '[') {
      ++i_;
      Array a;
      Skip();
      if (i_ < s_.size() && s_[i_] == ']') {
        ++i_;
        out.v = std::move(a);
        return true;
      }
      for (;;) {
        Value v;
        if (!ParseValue(v)) return false;
        a.push_back(std::move(v));
        Skip();
        if (i_ >= s_.size()) return false;
        if (s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (s_[i_] == ']') {
          ++i_;
          break;
        }
        return false;
      }
      out.v = std::move(a);
      return true;
    }
    if (c == '"') {
      std::string str;
      if (!ParseString(str)) return false;
      out.v = std::move(str);
      return true;
    }
    if (Literal("true")) {
      out.v = true;
      return true;
    }
    if (Literal("false")) {
      out.v = false;
      return true;
    }
    if (Literal("null")) {
      out.v = nullptr;
      return true;
    }
    const size_t start = i_;
    while (i_ < s_.size() && std::strchr("+-0123456789.eE", s_[i_]) != nullptr) ++i_;
    if (start == i_) return false;
    out.v = std::strtod(s_.substr(start, i_ - start).c_str(), nullptr);
    return true;
  }

  const std::string& s_;
  size_t i_ = 0;
};

inline std::optional<Value> Parse(const std::string& text) { return Parser(text).Parse(); }

}  // namespace json
}  // namespace brook_http_test

#endif  // BROOK_TESTS_HTTP_HTTP_TEST_UTIL_H_
