// brook::web::HttpServer: routing, status codes, limits, timeouts, connection
// bound, and Server-Sent Events, over real loopback sockets.
#include "brook/web/http_server.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/http_test_util.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;

namespace {

using ::brook::web::HttpRequest;
using ::brook::web::HttpResponse;
using ::brook::web::HttpServer;
using ::brook::web::HttpServerOptions;
using ::brook_http_test::HttpGet;
using ::brook_http_test::HttpResult;
using ::brook_http_test::ParseResponse;
using ::brook_http_test::PollUntil;
using ::brook_http_test::TcpClient;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

HttpServerOptions SmallLimits() {
  HttpServerOptions o;
  o.max_connections = 8;
  o.max_header_bytes = 4096;
  o.max_body_bytes = 1024;
  o.request_timeout = absl::Seconds(1);
  o.write_timeout = absl::Seconds(1);
  o.event_stream_poll_interval = absl::Milliseconds(20);
  return o;
}

// A server with /hello (echoes the query) and /events (counts 1, 2, 3...).
std::unique_ptr<HttpServer> StartServer(HttpServerOptions options = SmallLimits()) {
  auto server = std::make_unique<HttpServer>(options);
  EXPECT_THAT(server
                  ->Handle("/hello",
                           [](const HttpRequest& r) {
                             return HttpResponse::Text(
                                 200, absl::StrCat("hello ", r.QueryParam("name").value_or("?")));
                           })
                  , IsOk());
  EXPECT_THAT(server
                  ->HandleEventStream(
                      "/events",
                      [](const HttpRequest& r) -> absl::StatusOr<brook::web::EventStreamPoll> {
                        if (r.QueryParam("fail").has_value()) {
                          return absl::InvalidArgumentError("bad stream");
                        }
                        auto n = std::make_shared<int>(0);
                        return brook::web::EventStreamPoll(
                            [n](std::vector<brook::web::ServerSentEvent>& events) {
                              ++*n;
                              events.push_back({"tick", absl::StrCat("n=", *n, "\nsecond line")});
                              return true;
                            });
                      })
                  , IsOk());
  EXPECT_THAT(server->Start(), IsOk());
  return server;
}

TEST(HttpServerTest, ServesRegisteredPathsOnAnEphemeralPort) {
  auto server = StartServer();
  ASSERT_GT(server->port(), 0);
  HttpResult r = HttpGet(server->port(), "/hello?name=a%20b+c");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello a b c");
  EXPECT_EQ(r.headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(r.headers["cache-control"], "no-store");
  EXPECT_EQ(r.headers["x-content-type-options"], "nosniff");
}

TEST(HttpServerTest, UnknownPathIs404AndOtherMethods405) {
  auto server = StartServer();
  EXPECT_EQ(HttpGet(server->port(), "/nope").status, 404);
  EXPECT_EQ(HttpGet(server->port(), "/hello/").status, 404);  // exact match only
  EXPECT_EQ(HttpGet(server->port(), "/../etc/passwd").status, 404);
  HttpResult post = HttpGet(server->port(), "/hello", 30s, "POST");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers["allow"], "GET");
  EXPECT_EQ(HttpGet(server->port(), "/hello", 30s, "DELETE").status, 405);
}

TEST(HttpServerTest, MalformedRequestsGet400AndTheServerKeepsServing) {
  auto server = StartServer();
  const std::vector<std::string> bad = {
      "GARBAGE\r\n\r\n",
      "GET\r\n\r\n",
      "GET /hello HTTP/9.9\r\n\r\n",
      "GET /hello HTTP/1.1\r\nNo colon here\r\n\r\n",
      "GET http://example.com/hello HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /hello?name=%zz HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
      std::string("GET /he\0llo HTTP/1.1\r\n\r\n", 24),
      "GET /hello HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
  };
  for (const std::string& request : bad) {
    TcpClient c;
    ASSERT_TRUE(c.Connect(server->port()));
    ASSERT_TRUE(c.Send(request));
    std::string raw;
    EXPECT_TRUE(c.ReadToEnd(raw)) << "server did not close after: " << request;
    EXPECT_EQ(ParseResponse(raw).status, 400) << request << " -> " << raw;
  }
  EXPECT_EQ(HttpGet(server->port(), "/hello?name=x").body, "hello x");
  EXPECT_GE(server->stats().bad_requests, static_cast<int64_t>(bad.size()));
}

TEST(HttpServerTest, OversizedHeadersGet431AndBodies413) {
  auto server = StartServer();
  {
    TcpClient c;
    ASSERT_TRUE(c.Connect(server->port()));
    ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n"));
    std::string raw;
    EXPECT_TRUE(c.ReadToEnd(raw));
    EXPECT_EQ(ParseResponse(raw).status, 431);
  }
  {
    TcpClient c;
    ASSERT_TRUE(c.Connect(server->port()));
    ASSERT_TRUE(
        c.Send("POST /hello HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n" + std::string(4096, 'b')));
    std::string raw;
    EXPECT_TRUE(c.ReadToEnd(raw));
    EXPECT_EQ(ParseResponse(raw).status, 413);
  }
  EXPECT_EQ(HttpGet(server->port(), "/hello?name=y").body, "hello y");
}

TEST(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto server = StartServer();
  TcpClient c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(
      c.Send("GET /hello?name=1 HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /hello?name=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string raw;
  EXPECT_TRUE(c.ReadToEnd(raw));
  EXPECT_THAT(raw, HasSubstr("hello 1"));
  EXPECT_THAT(raw, HasSubstr("hello 2"));
}

TEST(HttpServerTest, IdleAndSlowClientsAreDisconnected) {
  auto server = StartServer();
  TcpClient idle;
  ASSERT_TRUE(idle.Connect(server->port()));
  TcpClient slow;  // a request that never completes (slowloris)
  ASSERT_TRUE(slow.Connect(server->port()));
  ASSERT_TRUE(slow.Send("GET /hello HTTP/1.1\r\nX-A: 1\r\n"));
  std::string ignored;
  EXPECT_TRUE(idle.ReadToEnd(ignored, 30s));  // closed by request_timeout (1s)
  EXPECT_TRUE(slow.ReadToEnd(ignored, 30s));
  EXPECT_TRUE(PollUntil([&] { return server->stats().timeouts >= 2; }));
}

TEST(HttpServerTest, AtTheLimitTheLongestWaitingConnectionMakesRoom) {
  auto options = SmallLimits();
  options.request_timeout = absl::Seconds(60);  // idle ones stay unless evicted
  auto server = StartServer(options);
  std::vector<TcpClient> idle(options.max_connections);
  for (TcpClient& c : idle) {
    ASSERT_TRUE(c.Connect(server->port()));
    const int64_t n = &c - idle.data() + 1;
    // One at a time, so that the first is the longest waiting.
    ASSERT_TRUE(PollUntil([&] { return server->stats().open_connections == n; }));
  }
  // One more: the first idle connection is closed to make room for it.
  HttpResult r = HttpGet(server->port(), "/hello?name=z");
  EXPECT_EQ(r.body, "hello z");
  std::string raw;
  EXPECT_TRUE(idle.front().ReadToEnd(raw, 10s));
  EXPECT_EQ(raw, "");
  EXPECT_EQ(server->stats().evicted, 1);
  EXPECT_EQ(server->stats().rejected, 0);
  // The others are still open and served.
  ASSERT_TRUE(idle.back().Send("GET /hello?name=y HTTP/1.1\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(idle.back().ReadToEnd(raw));
  EXPECT_EQ(ParseResponse(raw).body, "hello y");
}

TEST(HttpServerTest, EventStreamSendsEventsAndNoticesDisconnects) {
  auto server = StartServer();
  TcpClient c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"));
  std::string raw;
  ASSERT_TRUE(c.ReadUntil(raw, "data: n=3\n"));
  EXPECT_THAT(raw, HasSubstr("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(raw, HasSubstr("Content-Type: text/event-stream"));
  EXPECT_THAT(raw, HasSubstr("event: tick\ndata: n=1\ndata: second line\n\n"));
  EXPECT_EQ(server->stats().open_event_streams, 1);
  c.Reset();
  EXPECT_TRUE(PollUntil([&] {
    return server->stats().open_event_streams == 0 && server->stats().open_connections == 0;
  }));
}

TEST(HttpServerTest, EventStreamHandlerErrorsBecomeStatusCodes) {
  auto server = StartServer();
  EXPECT_EQ(HttpGet(server->port(), "/events?fail=1").status, 400);
}

TEST(HttpServerTest, AnEventStreamClientThatNeverReadsIsDropped) {
  auto options = SmallLimits();
  auto server = std::make_unique<HttpServer>(options);
  const std::string big(1 << 20, 'x');  // 1 MiB per event: fills socket buffers fast
  ASSERT_THAT(server
                  ->HandleEventStream(
                      "/flood",
                      [&](const HttpRequest&) -> absl::StatusOr<brook::web::EventStreamPoll> {
                        return brook::web::EventStreamPoll(
                            [&](std::vector<brook::web::ServerSentEvent>& e) {
                              e.push_back({"", big});
                              return true;
                            });
                      })
                  , IsOk());
  ASSERT_THAT(server->Handle("/ok", [](const HttpRequest&) { return HttpResponse::Text(200, "ok"); }), IsOk());
  ASSERT_THAT(server->Start(), IsOk());
  TcpClient c;
  const int small = 4096;
  ASSERT_TRUE(c.Connect(server->port()));
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  ASSERT_TRUE(c.Send("GET /flood HTTP/1.1\r\nHost: x\r\n\r\n"));
  // Never read: the server's write stalls and write_timeout (1s) drops us,
  // while other clients are served meanwhile.
  EXPECT_EQ(HttpGet(server->port(), "/ok").body, "ok");
  EXPECT_TRUE(PollUntil([&] {
    const auto s = server->stats();
    return s.timeouts >= 1 && s.open_event_streams == 0;
  }));
  EXPECT_EQ(HttpGet(server->port(), "/ok").body, "ok");
}

TEST(HttpServerTest, RegistrationAndStartErrors) {
  HttpServer server(SmallLimits());
  auto ok = [](const HttpRequest&) { return HttpResponse::Text(200, "x"); };
  EXPECT_THAT(server.Handle("no-slash", ok), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(server.Handle("/q?x", ok), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(server.Handle("/a", ok), IsOk());
  EXPECT_THAT(server.Handle("/a", ok), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_THAT(server.Start(), IsOk());
  EXPECT_THAT(server.Handle("/b", ok), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(server.Start(), StatusIs(absl::StatusCode::kFailedPrecondition));

  HttpServerOptions taken = SmallLimits();
  taken.port = server.port();
  taken.address = "127.0.0.1";
  HttpServer second(taken);
  EXPECT_THAT(second.Start(), StatusIs(absl::StatusCode::kUnavailable));

  HttpServerOptions bad = SmallLimits();
  bad.address = "not-an-address";
  EXPECT_THAT(HttpServer(bad).Start(), StatusIs(absl::StatusCode::kInvalidArgument));
  bad = SmallLimits();
  bad.port = 70000;
  EXPECT_THAT(HttpServer(bad).Start(), StatusIs(absl::StatusCode::kInvalidArgument));
  bad = SmallLimits();
  bad.max_connections = 0;
  EXPECT_THAT(HttpServer(bad).Start(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(HttpServerTest, StopClosesOpenConnectionsAndIsIdempotent) {
  auto server = StartServer();
  TcpClient stream;
  ASSERT_TRUE(stream.Connect(server->port()));
  ASSERT_TRUE(stream.Send("GET /events HTTP/1.1\r\n\r\n"));
  std::string raw;
  ASSERT_TRUE(stream.ReadUntil(raw, "n=1"));
  TcpClient idle;
  ASSERT_TRUE(idle.Connect(server->port()));
  server->Stop();
  server->Stop();
  EXPECT_TRUE(stream.ReadToEnd(raw));
  std::string ignored;
  EXPECT_TRUE(idle.ReadToEnd(ignored));
}

}  // namespace
