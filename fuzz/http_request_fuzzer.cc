// Fuzz target: raw bytes sent to brook::web::HttpServer (Boost.Beast's
// parser, the server's request target and query decoding, its limits and
// error responses, event streams) over a loopback connection: a server with
// a plain handler, a handler that reads query parameters, and an event
// stream is started once; each input is written on a new connection, the
// sending side shut down, and the answer read until the server closes.
// The server must answer or close within 20 s (its request timeout is 1 s;
// the margin is for a starved, shared machine), else the harness aborts (a
// hang), and then still serve a normal request.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

// Sends `request`, half-closes, reads until EOF; the bytes read.
std::string Exchange(std::string_view request) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) std::abort();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(Server().port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) std::abort();
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (an error response)
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAnswerTimeoutMs);
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
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
    if (n <= 0) break;  // closed (or reset)
    answer.append(buf, static_cast<size_t>(n));
  }
  // Reset rather than close: as the side that sent FIN first, this socket
  // would sit in TIME_WAIT for a minute, and tens of thousands of inputs
  // would run through the ephemeral ports.
  const linger reset{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
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
