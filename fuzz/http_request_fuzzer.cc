// Fuzz target: raw bytes sent to brook::web::HttpServer (Boost.Beast's
// parser, the server's request target and query decoding, its limits and
// error responses, event streams) over a loopback connection: a server with
// a plain handler, a handler that reads query parameters, and an event
// stream is started once; each input is written on a new connection, the
// sending side shut down, and the answer read until the server closes.
// The server must answer or close within 20 s (its request timeout is 1 s;
// the margin is for a starved, shared machine), else the harness aborts (a
// hang), and then still serve a normal request. The harness's own system
// calls are restarted after signals (libFuzzer's SIGALRM watchdog).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "brook/web/http_server.h"

namespace {

namespace web = brook::web;

constexpr int kAnswerTimeoutMs = 20000;  // >> request_timeout: a starved machine is slow

web::HttpServer& Server() {
  static web::HttpServer* server = [] {
    auto* s = new web::HttpServer({.max_connections = 64,
                                   .max_header_bytes = 4096,
                                   .max_body_bytes = 1024,
                                   .request_timeout = absl::Seconds(1),
                                   .write_timeout = absl::Seconds(1),
                                   .event_stream_poll_interval = absl::Milliseconds(1),
                                   .event_stream_keepalive = absl::Milliseconds(5)});
    auto ok = s->Handle("/", [](const web::HttpRequest&) {
      return web::HttpResponse::Html(200, "<p>ok</p>");
    });
    ok.Update(s->Handle("/api/topk", [](const web::HttpRequest& r) {
      auto location = r.QueryParam("location");
      std::string body = "{\"q\":" + std::to_string(r.query.size());
      if (location) body += ",\"location\":" + std::to_string(location->size());
      return web::HttpResponse::Json(200, body + "}");
    }));
    ok.Update(s->HandleEventStream(
        "/api/events", [](const web::HttpRequest& r) -> absl::StatusOr<web::EventStreamPoll> {
          if (r.QueryParam("fail")) return absl::InvalidArgumentError("fail");
          auto n = std::make_shared<int>(0);
          return web::EventStreamPoll([n](std::vector<web::ServerSentEvent>& events) {
            events.push_back({"update", "line 1\nline 2"});
            return ++*n < 3;
          });
        }));
    ok.Update(s->Start());
    if (!ok.ok()) {
      std::fprintf(stderr, "http fuzz: %s\n", std::string(ok.message()).c_str());
      std::abort();
    }
    return s;
  }();
  return *server;
}

int OpenFds() {
  int n = 0;
  for (int fd = 0; fd < 65536; ++fd) n += fcntl(fd, F_GETFD) != -1;
  return n;
}

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "http fuzz: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

// poll() for `events` on `fd` until `deadline`; libFuzzer's SIGALRM (its
// -timeout watchdog, every timeout/2+1 s) interrupts it, which is not an
// answer: wait again for the time left. False at the deadline.
bool PollUntil(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) Fail("poll");
  }
}

// Sends `request`, half-closes, reads until EOF; the bytes read. Every call
// is restarted after a signal (EINTR), the blocking connect() included: a
// signal used to end the wait for the answer, reported as a hang of the
// server (docs/fuzzing.md).
std::string Exchange(std::string_view request) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kAnswerTimeoutMs);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(Server().port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // An interrupted connect() goes on in the background: wait until it is
  // writable, then connect() again says whether it completed (EISCONN).
  while (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno != EISCONN) {
    if (errno != EINTR && errno != EALREADY) Fail("connect");
    if (!PollUntil(fd, POLLOUT, deadline)) Fail("connect: no connection within the deadline");
  }
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the server may close early (an error response)
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[4096];
  for (;;) {
    if (!PollUntil(fd, POLLIN, deadline)) {
      const web::HttpServerStats st = Server().stats();
      std::fprintf(stderr,
                   "http fuzz: no answer or close within %d ms (server: %lld open, %lld "
                   "streams, %lld accepted, %lld rejected, %lld timeouts; %d fds open)\n",
                   kAnswerTimeoutMs, static_cast<long long>(st.open_connections),
                   static_cast<long long>(st.open_event_streams),
                   static_cast<long long>(st.accepted), static_cast<long long>(st.rejected),
                   static_cast<long long>(st.timeouts), OpenFds());
      std::abort();
    }
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed (or reset)
    answer.append(buf, static_cast<size_t>(n));
  }
  // The client half-closed first, so its socket is in TIME_WAIT once the
  // server's FIN arrived, however it is closed: tens of thousands of inputs
  // reuse ephemeral ports in TIME_WAIT, as Linux allows for loopback
  // (net.ipv4.tcp_tw_reuse, default 2).
  close(fd);
  return answer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Exchange(std::string_view(reinterpret_cast<const char*>(data), size));
  // Still serving.
  const std::string answer = Exchange("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  if (answer.rfind("HTTP/1.1 200", 0) != 0) {
    std::fprintf(stderr, "http fuzz: the server stopped serving: %s\n", answer.c_str());
    std::abort();
  }
  return 0;
}
