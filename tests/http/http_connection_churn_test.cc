// brook::web::HttpServer under connection churn: many short loopback
// connections, one after another and from several clients at once, that ask
// and read, close first, reset, send garbage or half a request, pipeline two
// requests, leave an event stream, or sit idle until the request timeout.
// Over TLS: handshakes completed, abandoned, reset, or answered with plain
// HTTP. Every connection must get its answer or a clean close within a
// deadline, and the server must end with no connection open and still serve.
//
// The number of connections is BROOK_HTTP_CHURN_CONNECTIONS (default 2,000,
// well under a second in Release); a fifth of that over TLS. The documented run (docs/fuzzing.md) is
//   BROOK_HTTP_CHURN_CONNECTIONS=50000 build/tests/brook_http_test
//       --gtest_filter='HttpConnectionChurnTest.*'
// which runs through the ephemeral ports more than once.
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "brook/testing/status_matchers.h"
#include "brook/web/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/http_test_util.h"
#include "http/tls_test_util.h"

namespace {

using ::brook::testing::IsOk;
using ::brook::web::EventStreamPoll;
using ::brook::web::HttpRequest;
using ::brook::web::HttpResponse;
using ::brook::web::HttpServer;
using ::brook::web::HttpServerStats;
using ::brook::web::ServerSentEvent;
using ::brook_http_test::HttpGet;
using ::brook_http_test::ParseResponse;
using ::brook_http_test::PollUntil;
using ::brook_http_test::TcpClient;
using ::brook_http_test::TempDir;
using ::brook_http_test::TlsClient;
using namespace std::chrono_literals;

// Per connection: generous, for loaded machines and sanitizer builds.
constexpr auto kDeadline = 10s;
constexpr int kConcurrentClients = 4;

int ConnectionCount() {
  const char* env = std::getenv("BROOK_HTTP_CHURN_CONNECTIONS");
  const int n = env != nullptr ? std::atoi(env) : 0;
  return n > 0 ? n : 2000;
}

// What one connection does; the n-th connection of a client is kind n % kKinds.
enum Kind {
  kGet,                    // GET, Connection: close; read to the end
  kKeepAliveClientCloses,  // keep-alive GET; the client closes after the answer
  kResetAtOnce,            // connect, then reset without a byte
  kGarbage,                // not HTTP: 400, then the server closes
  kPartialThenEof,         // half a request head, then the client's FIN
  kPartialThenReset,       // half a request head, then a reset
  kEventStream,            // an event stream the client leaves after one event
  kPipelined,              // two requests in one write: 200 then 404
  kKinds
};

// Runs connection kind `kind`; empty if it behaved, else what went wrong.
std::string RunConnection(int port, int kind) {
  TcpClient c;
  if (!c.Connect(port, kDeadline)) return "connect failed";
  std::string raw;
  const auto send = [&](const std::string& bytes) { return c.Send(bytes, kDeadline); };
  switch (kind) {
    case kGet: {
      if (!send("GET /hello?name=churn HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n") ||
          !c.ReadToEnd(raw, kDeadline)) {
        return "GET: no answer and close";
      }
      const auto r = ParseResponse(raw);
      return r.status == 200 && r.body == "hello churn" ? "" : "GET: wrong answer: " + raw;
    }
    case kKeepAliveClientCloses:
      if (!send("GET /hello?name=ka HTTP/1.1\r\nHost: h\r\n\r\n") ||
          !c.ReadUntil(raw, "hello ka", kDeadline)) {
        return "keep-alive GET: no answer: " + raw;
      }
      c.Close();
      return "";
    case kResetAtOnce:
      c.Reset();
      return "";
    case kGarbage:
      if (!send("\x01\x02 not http \r\n\r\n") || !c.ReadToEnd(raw, kDeadline)) {
        return "garbage: no answer and close";
      }
      return ParseResponse(raw).status == 400 ? "" : "garbage: wrong answer: " + raw;
    case kPartialThenEof:
      if (!send("GET /hello HTTP/1.1\r\nHo")) return "partial: send failed";
      ::shutdown(c.fd(), SHUT_WR);
      // Nothing to answer: the server closes (within the deadline, not at
      // its request timeout's end only by chance: the FIN ends the request).
      return c.ReadToEnd(raw, kDeadline) ? "" : "partial request: no close";
    case kPartialThenReset:
      if (!send("GET /hello HTTP/1.1\r\nHo")) return "partial: send failed";
      c.Reset();
      return "";
    case kEventStream:
      if (!send("GET /events HTTP/1.1\r\nHost: h\r\n\r\n") ||
          !c.ReadUntil(raw, "data: n=1\n", kDeadline)) {
        return "event stream: no first event: " + raw;
      }
      c.Close();
      return "";
    case kPipelined: {
      if (!send("GET /hello?name=a HTTP/1.1\r\nHost: h\r\n\r\n"
                "GET /nope HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n") ||
          !c.ReadToEnd(raw, kDeadline)) {
        return "pipelined: no answers and close";
      }
      const bool both = raw.find("hello a") != std::string::npos &&
                        raw.find("HTTP/1.1 404") != std::string::npos;
      return both ? "" : "pipelined: wrong answers: " + raw;
    }
    default:
      return "unknown kind";
  }
}

// The same over TLS (kinds 0-3): a verified HTTPS GET; plain HTTP to the
// TLS port (the handshake fails, the server closes); a reset at once; half a
// ClientHello, then a reset.
constexpr int kTlsKinds = 4;

std::string RunTlsConnection(int port, const std::string& ca_file, int kind) {
  if (kind == 0) {
    TlsClient c(ca_file);
    if (!c.Connect(port, kDeadline)) return "TLS: " + c.error();
    if (!c.Send("GET /hello?name=tls HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")) {
      return "TLS GET: send failed";
    }
    const std::string raw = c.Read();
    const auto r = ParseResponse(raw);
    return r.status == 200 && r.body == "hello tls" ? "" : "TLS GET: wrong answer: " + raw;
  }
  TcpClient c;
  if (!c.Connect(port, kDeadline)) return "connect failed";
  std::string raw;
  switch (kind) {
    case 1:
      if (!c.Send("GET /hello HTTP/1.1\r\nHost: h\r\n\r\n", kDeadline) ||
          !c.ReadToEnd(raw, kDeadline)) {
        return "plain HTTP to TLS: no close";
      }
      return raw.find("hello") == std::string::npos ? "" : "plain HTTP to TLS answered: " + raw;
    case 2:
      c.Reset();
      return "";
    case 3:
      // A TLS record header announcing a ClientHello that never comes.
      if (!c.Send(std::string("\x16\x03\x01\x02\x00\x01", 6), kDeadline)) {
        return "half ClientHello: send failed";
      }
      c.Reset();
      return "";
    default:
      return "unknown kind";
  }
}

class HttpConnectionChurnTest : public ::testing::Test {
 protected:
  // Starts the server; over TLS with a throwaway certificate if `tls`.
  void StartServer(bool tls) {
    brook::web::HttpServerOptions o{.max_connections = 64,
                                    .max_header_bytes = 4096,
                                    .max_body_bytes = 1024,
                                    .request_timeout = absl::Milliseconds(300),
                                    .write_timeout = absl::Seconds(10),
                                    .event_stream_poll_interval = absl::Milliseconds(1)};
    if (tls) {
      ASSERT_TRUE(brook_http_test::MakeTestCertificate(dir_.path()));
      o.tls_cert_file = dir_ / "cert.pem";
      o.tls_key_file = dir_ / "key.pem";
      ca_file_ = o.tls_cert_file;
    }
    server_ = std::make_unique<HttpServer>(o);
    ASSERT_THAT(server_->Handle("/hello",
                                [](const HttpRequest& r) {
                                  return HttpResponse::Text(
                                      200, absl::StrCat("hello ", r.QueryParam("name").value_or("")));
                                }),
                IsOk());
    ASSERT_THAT(server_->HandleEventStream(
                    "/events",
                    [](const HttpRequest&) -> absl::StatusOr<EventStreamPoll> {
                      auto n = std::make_shared<int>(0);
                      return EventStreamPoll([n](std::vector<ServerSentEvent>& events) {
                        events.push_back({"tick", absl::StrCat("n=", ++*n)});
                        return true;
                      });
                    }),
                IsOk());
    ASSERT_THAT(server_->Start(), IsOk());
  }

  // Runs `count` connections from one client, kinds in turn starting at
  // `first_kind`; stops at the first failure, or when another client failed.
  void RunClient(int count, int first_kind) {
    for (int i = 0; i < count && !failed_.load(); ++i) {
      const int kind = (first_kind + i) % (ca_file_.empty() ? kKinds : kTlsKinds);
      std::string error = ca_file_.empty() ? RunConnection(server_->port(), kind)
                                           : RunTlsConnection(server_->port(), ca_file_, kind);
      if (!error.empty()) {
        RecordFailure(absl::StrCat("connection ", i, " (kind ", kind, "): ", error));
        return;
      }
      connections_.fetch_add(1);
    }
  }

  // Until the churn is over (at least once): a connection that sends
  // nothing (no request, no handshake), which the server must close at its
  // request timeout (300 ms).
  void RunIdleClient(const std::atomic<bool>& churn_done) {
    do {
      TcpClient c;
      std::string raw;
      if (!c.Connect(server_->port(), kDeadline) || !c.ReadToEnd(raw, kDeadline) ||
          !raw.empty()) {
        RecordFailure("idle connection: no close at the request timeout: " + raw);
        return;
      }
      idle_connections_.fetch_add(1);
    } while (!churn_done.load() && !failed_.load());
  }

  void RecordFailure(std::string error) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.exchange(true)) first_failure_ = std::move(error);
  }

  // Runs `count` connections from `clients` clients at once, beside an idle one.
  void Churn(int count, int clients) {
    std::atomic<bool> churn_done{false};
    std::thread idle([&] { RunIdleClient(churn_done); });
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
      const int share = count / clients + (t < count % clients ? 1 : 0);
      threads.emplace_back([this, share, t] { RunClient(share, t); });
    }
    for (std::thread& t : threads) t.join();
    churn_done = true;
    idle.join();
  }

  // The server ends with nothing open and still serves.
  void ExpectServerSettled() {
    EXPECT_TRUE(PollUntil([&] { return server_->stats().open_connections == 0; }, 10s))
        << server_->stats().open_connections << " connections still open";
    const HttpServerStats st = server_->stats();
    EXPECT_EQ(st.rejected, 0);
    EXPECT_EQ(st.evicted, 0);
    // Each idle connection timed out (a starved server may time out others);
    // over TLS, in its handshake, which counts as a failed one.
    EXPECT_GE(ca_file_.empty() ? st.timeouts : st.tls_handshake_failures,
              idle_connections_.load());
    if (ca_file_.empty()) {
      EXPECT_EQ(HttpGet(server_->port(), "/hello?name=after", kDeadline).body, "hello after");
    } else {
      EXPECT_EQ(RunTlsConnection(server_->port(), ca_file_, 0), "");
    }
  }

  void ExpectAllAnswered(int count) {
    ASSERT_FALSE(failed_.load()) << first_failure_ << " after " << connections_.load()
                                 << " connections; server accepted "
                                 << server_->stats().accepted;
    EXPECT_EQ(connections_.load(), count);
    ExpectServerSettled();
  }

  TempDir dir_;
  std::string ca_file_;  // empty: plain HTTP

  std::unique_ptr<HttpServer> server_;
  std::atomic<bool> failed_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> idle_connections_{0};
  std::mutex mu_;
  std::string first_failure_;
};

TEST_F(HttpConnectionChurnTest, SequentialConnectionsAllAnswered) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*tls=*/false));
  Churn(ConnectionCount(), 1);
  ExpectAllAnswered(ConnectionCount());
}

TEST_F(HttpConnectionChurnTest, ConcurrentClientsAllAnswered) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*tls=*/false));
  Churn(ConnectionCount(), kConcurrentClients);
  ExpectAllAnswered(ConnectionCount());
}

TEST_F(HttpConnectionChurnTest, ConcurrentTlsClientsAllAnswered) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*tls=*/true));
  Churn(ConnectionCount() / 5, kConcurrentClients);
  ExpectAllAnswered(ConnectionCount() / 5);
}

}  // namespace
