// brook::web::HttpServer under abuse and guarded: TLS, bearer tokens,
// slow-loris clients, a thousand connections, random bytes; and the camera
// binary's --http_tls_*, --http_token_file and --http_insecure flags.
#include <sys/resource.h>

#include <algorithm>
#include <random>
#include <string>
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
using ::brook::testing::StatusIs;
using ::brook::web::HttpRequest;
using ::brook::web::HttpResponse;
using ::brook::web::HttpServer;
using ::brook::web::HttpServerOptions;
using ::brook_http_test::HttpGet;
using ::brook_http_test::HttpResult;
using ::brook_http_test::HttpsGet;
using ::brook_http_test::ParseResponse;
using ::brook_http_test::PollUntil;
using ::brook_http_test::ReadFile;
using ::brook_http_test::TcpClient;
using ::brook_http_test::TempDir;
using ::brook_http_test::TlsClient;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr char kToken[] = "0bd1-a-test-token";
const std::string kAuth = absl::StrCat("Authorization: Bearer ", kToken, "\r\n");

HttpServerOptions Options() {
  HttpServerOptions o;
  o.request_timeout = absl::Seconds(1);  // the header deadline
  o.write_timeout = absl::Seconds(1);
  o.event_stream_poll_interval = absl::Milliseconds(20);
  return o;
}

// A server with /hello and the event stream /events ("tick" n=1, 2, ...).
std::unique_ptr<HttpServer> StartServer(const HttpServerOptions& options) {
  auto server = std::make_unique<HttpServer>(options);
  EXPECT_THAT(server->Handle("/hello",
                             [](const HttpRequest&) { return HttpResponse::Text(200, "hello"); }),
              IsOk());
  EXPECT_THAT(server->HandleEventStream(
                  "/events",
                  [](const HttpRequest&) -> absl::StatusOr<brook::web::EventStreamPoll> {
                    auto n = std::make_shared<int>(0);
                    return brook::web::EventStreamPoll(
                        [n](std::vector<brook::web::ServerSentEvent>& events) {
                          events.push_back({"tick", absl::StrCat("n=", ++*n)});
                          return true;
                        });
                  }),
              IsOk());
  EXPECT_THAT(server->Start(), IsOk());
  return server;
}

// GET on a fresh plain connection with extra header lines.
HttpResult Get(int port, const std::string& target, const std::string& headers = "",
               const std::string& method = "GET") {
  TcpClient c;
  if (!c.Connect(port)) return {};
  if (!c.Send(method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers +
              "\r\n")) {
    return {};
  }
  std::string raw;
  if (!c.ReadToEnd(raw)) return {};
  return ParseResponse(raw);
}

TEST(HttpSecurityTest, EveryPathAndMethodNeedsTheBearerToken) {
  HttpServerOptions o = Options();
  o.bearer_token = kToken;
  auto server = StartServer(o);
  const int port = server->port();
  // Nothing is revealed without the token: not even 404 or 405.
  for (const auto& [target, method] : std::vector<std::pair<std::string, std::string>>{
           {"/hello", "GET"}, {"/nope", "GET"}, {"/hello", "POST"}, {"/events", "GET"}}) {
    const HttpResult r = Get(port, target, "", method);
    EXPECT_EQ(r.status, 401) << method << " " << target;
    EXPECT_EQ(r.headers.at("www-authenticate"), "Bearer realm=\"brook\"");
    EXPECT_THAT(r.body, Not(HasSubstr("hello")));
  }
  for (const std::string& wrong : std::vector<std::string>{
           "Authorization: Bearer wrong\r\n", "Authorization: Bearer 0bd1-a-test-toke\r\n",
        absl::StrCat("Authorization: Bearer ", kToken, "x\r\n"),
        absl::StrCat("Authorization: Basic ", kToken, "\r\n"), std::string("Authorization:\r\n")}) {
    const HttpResult r = Get(port, "/hello", wrong);
    EXPECT_EQ(r.status, 401) << wrong;
  }
  EXPECT_THAT(Get(port, "/hello", "Authorization: Bearer wrong\r\n").headers["www-authenticate"],
              HasSubstr("error=\"invalid_token\""));
  EXPECT_EQ(Get(port, "/hello", kAuth).body, "hello");
  EXPECT_EQ(Get(port, "/hello", absl::StrCat("authorization: bearer  ", kToken, "\r\n")).status,
            200);
  EXPECT_EQ(Get(port, "/nope", kAuth).status, 404);
  EXPECT_EQ(Get(port, "/hello", kAuth, "POST").status, 405);
  // ?access_token= is accepted for event streams only (EventSource cannot
  // set headers).
  EXPECT_EQ(Get(port, absl::StrCat("/hello?access_token=", kToken)).status, 401);
  TcpClient stream;
  ASSERT_TRUE(stream.Connect(port));
  ASSERT_TRUE(stream.Send(
      absl::StrCat("GET /events?access_token=", kToken, " HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string raw;
  ASSERT_TRUE(stream.ReadUntil(raw, "data: n=2\n"));
  EXPECT_THAT(raw, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_GE(server->stats().unauthorized, 10);
}

TEST(HttpSecurityTest, UnauthorizedHandlerMakesThe401Body) {
  HttpServerOptions o = Options();
  o.bearer_token = kToken;
  o.unauthorized_handler = [](const HttpRequest& r) {
    return HttpResponse::Html(200, absl::StrCat("<p>sign in for ", r.path, "</p>"));
  };
  auto server = StartServer(o);
  HttpResult r = Get(server->port(), "/hello");
  EXPECT_EQ(r.status, 401);  // whatever the handler says
  EXPECT_EQ(r.body, "<p>sign in for /hello</p>");
  EXPECT_THAT(r.headers["content-type"], HasSubstr("text/html"));
  EXPECT_EQ(r.headers["www-authenticate"], "Bearer realm=\"brook\"");
}

TEST(HttpSecurityTest, TlsServesVerifiedClientsAndDropsPlainOnes) {
  TempDir dir;
  ASSERT_TRUE(brook_http_test::MakeTestCertificate(dir.path()));
  HttpServerOptions o = Options();
  o.tls_cert_file = dir / "cert.pem";
  o.tls_key_file = dir / "key.pem";
  o.bearer_token = kToken;
  auto server = StartServer(o);
  EXPECT_TRUE(server->tls());
  const int port = server->port();
  const std::string ca = dir / "cert.pem";
  EXPECT_EQ(HttpsGet(port, ca, "/hello").status, 401);
  const HttpResult ok = HttpsGet(port, ca, "/hello", kAuth);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "hello");
  // Keep-alive over TLS, then an event stream on a second connection.
  {
    TlsClient c(ca);
    ASSERT_TRUE(c.Connect(port)) << c.error();
    ASSERT_TRUE(c.Send(absl::StrCat("GET /hello HTTP/1.1\r\nHost: x\r\n", kAuth, "\r\n")));
    EXPECT_THAT(c.Read("hello"), HasSubstr("200 OK"));
    ASSERT_TRUE(c.Send(absl::StrCat("GET /hello HTTP/1.1\r\nHost: x\r\n", kAuth, "\r\n")));
    EXPECT_THAT(c.Read("hello"), HasSubstr("200 OK"));
  }
  {
    TlsClient c(ca);
    ASSERT_TRUE(c.Connect(port)) << c.error();
    ASSERT_TRUE(c.Send(absl::StrCat("GET /events HTTP/1.1\r\nHost: x\r\n", kAuth, "\r\n")));
    EXPECT_THAT(c.Read("data: n=3\n"), HasSubstr("data: n=3\n"));
  }
  // Plain HTTP and random bytes to the TLS port: the handshake fails and the
  // connection is closed, without an answer.
  for (const std::string& plain :
       {std::string("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"), std::string(300, '\x16')}) {
    TcpClient c;
    ASSERT_TRUE(c.Connect(port));
    c.Send(plain);
    std::string raw;
    EXPECT_TRUE(c.ReadToEnd(raw, 10s));
    EXPECT_THAT(raw, Not(HasSubstr("hello")));
  }
  EXPECT_TRUE(PollUntil([&] { return server->stats().tls_handshake_failures >= 2; }, 10s));
  // A client that does not trust the certificate refuses the server.
  TempDir other;
  ASSERT_TRUE(brook_http_test::MakeTestCertificate(other.path()));
  TlsClient untrusting(other / "cert.pem");
  EXPECT_FALSE(untrusting.Connect(port));
  EXPECT_EQ(HttpsGet(port, ca, "/hello", kAuth).status, 200);
}

TEST(HttpSecurityTest, BadTlsFilesAreClearErrors) {
  TempDir dir;
  ASSERT_TRUE(brook_http_test::MakeTestCertificate(dir.path()));
  TempDir other;
  ASSERT_TRUE(brook_http_test::MakeTestCertificate(other.path()));
  auto start = [](const std::string& cert, const std::string& key) {
    HttpServerOptions o;
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    return HttpServer(o).Start();
  };
  EXPECT_THAT(start(dir / "missing.pem", dir / "key.pem"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(dir / "missing.pem")));
  EXPECT_THAT(start(dir / "cert.pem", dir / "missing.pem"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(dir / "missing.pem")));
  EXPECT_THAT(start(dir / "key.pem", dir / "key.pem"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("certificate file")));
  EXPECT_THAT(start(dir / "cert.pem", other / "key.pem"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key values mismatch")));
  EXPECT_THAT(start(dir / "cert.pem", ""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(HttpSecurityTest, LoopbackAddresses) {
  EXPECT_TRUE(brook::web::IsLoopbackAddress("127.0.0.1"));
  EXPECT_TRUE(brook::web::IsLoopbackAddress("127.3.2.1"));
  EXPECT_TRUE(brook::web::IsLoopbackAddress("::1"));
  EXPECT_FALSE(brook::web::IsLoopbackAddress("0.0.0.0"));
  EXPECT_FALSE(brook::web::IsLoopbackAddress("::"));
  EXPECT_FALSE(brook::web::IsLoopbackAddress("10.1.2.3"));
  EXPECT_FALSE(brook::web::IsLoopbackAddress("localhost"));
}

// Slow loris: clients send their request head a byte a second. The 1 s
// header deadline cuts each off, and a normal client is answered meanwhile.
TEST(HttpAbuseTest, SlowLorisClientsAreCutOffAtTheHeaderDeadline) {
  HttpServerOptions o = Options();
  o.max_connections = 16;
  auto server = StartServer(o);
  const int port = server->port();
  const std::string head = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n\r\n";
  std::vector<TcpClient> lorises(32);  // twice the connection limit
  for (TcpClient& c : lorises) ASSERT_TRUE(c.Connect(port));
  const auto start = brook_http_test::Clock::now();
  for (int second = 0; second < 3; ++second) {
    for (TcpClient& c : lorises) c.Send(head.substr(second, 1), 100ms);
    const auto t0 = brook_http_test::Clock::now();
    EXPECT_EQ(HttpGet(port, "/hello").body, "hello");
    EXPECT_LT(brook_http_test::Clock::now() - t0, 500ms);
    std::this_thread::sleep_for(1s);
  }
  for (TcpClient& c : lorises) {
    std::string raw;
    EXPECT_TRUE(c.ReadToEnd(raw, 5s));  // closed
    EXPECT_EQ(raw, "");                 // unanswered
  }
  EXPECT_LT(brook_http_test::Clock::now() - start, 10s);
  EXPECT_GE(server->stats().timeouts + server->stats().evicted, 32);
}

// 1,000 connections at once (against a limit of 64): the idle ones are
// evicted oldest first, and a normal client is still answered at once.
TEST(HttpAbuseTest, AThousandConnectionsDoNotStarveANormalClient) {
  rlimit nofile{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &nofile), 0);
  nofile.rlim_cur = std::max<rlim_t>(nofile.rlim_cur, std::min<rlim_t>(nofile.rlim_max, 4096));
  ::setrlimit(RLIMIT_NOFILE, &nofile);
  const int n = static_cast<int>(std::min<rlim_t>(1000, nofile.rlim_cur - 200));
  HttpServerOptions o = Options();
  o.request_timeout = absl::Seconds(30);  // idle ones stay unless evicted
  o.max_connections = 64;
  auto server = StartServer(o);
  const int port = server->port();
  std::vector<TcpClient> crowd(n);
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(crowd[i].Connect(port));
    if (i % 3 == 0) crowd[i].Send("GET /hel");  // some started a request
  }
  const auto t0 = brook_http_test::Clock::now();
  const HttpResult r = HttpGet(port, "/hello", 10s);
  EXPECT_EQ(r.body, "hello");
  EXPECT_LT(brook_http_test::Clock::now() - t0, 2s);
  EXPECT_TRUE(PollUntil([&] { return server->stats().evicted >= n - 64; }, 20s))
      << server->stats().evicted;
  EXPECT_TRUE(PollUntil([&] { return server->stats().open_connections <= 64; }, 10s));
  // Event streams are not evicted: with every slot streaming, a newcomer is
  // turned away instead.
  std::vector<TcpClient> streams(64);
  for (TcpClient& s : streams) {
    ASSERT_TRUE(s.Connect(port));
    ASSERT_TRUE(s.Send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string raw;
    ASSERT_TRUE(s.ReadUntil(raw, "data: n=1\n"));
  }
  const int64_t rejected = server->stats().rejected;
  EXPECT_EQ(HttpGet(port, "/hello", 10s).status, 0);
  EXPECT_GT(server->stats().rejected, rejected);
  streams.clear();
  EXPECT_TRUE(PollUntil([&] { return HttpGet(port, "/hello").body == "hello"; }, 10s));
}

// Random bytes: answered 400 (or 431 when no line ends within the header
// limit) and closed; the server keeps serving.
TEST(HttpAbuseTest, RandomBytesGet400AndAClose) {
  HttpServerOptions o = Options();
  o.max_header_bytes = 4096;
  auto server = StartServer(o);
  const int port = server->port();
  std::mt19937 rng(16);
  for (int i = 0; i < 50; ++i) {
    std::string bytes(1 + rng() % 2000, '\0');
    for (char& b : bytes) b = static_cast<char>(rng());
    if (i % 2 == 0) bytes[0] = '\x01';  // never a method character
    TcpClient c;
    ASSERT_TRUE(c.Connect(port));
    c.Send(bytes);
    std::string raw;
    const bool closed = c.ReadToEnd(raw, 5s);
    const int status = ParseResponse(raw).status;
    if (i % 2 == 0) EXPECT_EQ(status, 400) << i;
    if (status != 0) {
      EXPECT_TRUE(status == 400 || status == 431) << i << ": " << status;
      EXPECT_TRUE(closed) << i;
    }
  }
  EXPECT_EQ(HttpGet(port, "/hello").body, "hello");
  EXPECT_GE(server->stats().bad_requests, 25);
}

#ifdef CAMERA_TOP_K_BINARY
// The camera binary over TLS with a token file: the handshake verifies, a
// request without the token is 401 on every endpoint, with it 200.
TEST(GuardedDashboardBinaryTest, TlsAndTokenAgainstTheRunningJob) {
  TempDir dir;
  ASSERT_TRUE(brook_http_test::MakeTestCertificate(dir.path()));
  brook_http_test::WriteFile(dir / "token", absl::StrCat(kToken, "\n"));
  const std::string ca = dir / "cert.pem";
  brook_http_test::ChildProcess job;
  std::string err;
  const int port = brook_http_test::StartOnFreePort(
      job,
      [&](int port) -> std::vector<std::string> {
        return {CAMERA_TOP_K_BINARY, "--generate", "--generate_count=5000", "--progress=false",
                "--http_port=" + std::to_string(port), "--http_linger=inf",
                "--http_tls_cert=" + ca, "--http_tls_key=" + (dir / "key.pem"),
                "--http_token_file=" + (dir / "token"), "--output=" + (dir / "out.csv")};
      },
      dir.path(), "until stopped", err);
  ASSERT_NE(port, 0) << err;
  EXPECT_THAT(err, HasSubstr(absl::StrCat("dashboard at https://127.0.0.1:", port, "/")));
  for (const std::string target : {"/", "/api/health", "/api/topk", "/metrics", "/api/events"}) {
    HttpResult r = HttpsGet(port, ca, target);
    EXPECT_EQ(r.status, 401) << target;
    EXPECT_EQ(r.headers["www-authenticate"], "Bearer realm=\"brook\"") << target;
  }
  // The page's 401 asks for the token; it holds no data.
  EXPECT_THAT(HttpsGet(port, ca, "/").body, HasSubstr("sessionStorage"));
  EXPECT_THAT(HttpsGet(port, ca, "/").body, Not(HasSubstr("initial-state")));
  EXPECT_THAT(HttpsGet(port, ca, "/api/health", kAuth).body, HasSubstr("\"state\":\"finished\""));
  EXPECT_THAT(HttpsGet(port, ca, "/", kAuth).body, HasSubstr("initial-state"));
  const HttpResult metrics = HttpsGet(port, ca, "/metrics", kAuth);
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("brook_http_unauthorized_total"));
  // Plain HTTP gets no answer from the TLS port.
  EXPECT_EQ(HttpGet(port, "/api/health", 10s).status, 0);
  job.Signal(SIGTERM);
  EXPECT_EQ(job.Wait(120s), std::optional<int>(0));
}

// The job over TLS with a token, attacked while it runs (a crowd of idle
// connections, slow-loris clients, random bytes, requests without the token)
// and served (authorized requests, an event stream): its output is
// byte-identical to a run without HTTP.
TEST(GuardedDashboardBinaryTest, OutputIsByteIdenticalUnderAbuse) {
  TempDir dir;
  ASSERT_TRUE(brook_http_test::MakeTestCertificate(dir.path()));
  brook_http_test::WriteFile(dir / "token", kToken);
  const std::string ca = dir / "cert.pem";
  // A paced generator: the job runs for about 3 s.
  const std::vector<std::string> job_args = {CAMERA_TOP_K_BINARY, "--generate",
                                             "--generate_count=300000",
                                             "--generate_rate=100000", "--progress=false"};
  {
    std::vector<std::string> argv = job_args;
    argv.push_back("--output=" + (dir / "reference.csv"));
    brook_http_test::ChildProcess reference;
    ASSERT_TRUE(reference.Start(argv));
    ASSERT_EQ(reference.Wait(300s), std::optional<int>(0));
  }
  brook_http_test::ChildProcess job;
  std::string err;
  const int port = brook_http_test::StartOnFreePort(
      job,
      [&](int port) {
        std::vector<std::string> argv = job_args;
        argv.insert(argv.end(), {"--http_port=" + std::to_string(port), "--http_tls_cert=" + ca,
                                 "--http_tls_key=" + (dir / "key.pem"),
                                 "--http_token_file=" + (dir / "token"),
                                 "--output=" + (dir / "out.csv")});
        return argv;
      },
      dir.path(), "dashboard at", err);
  ASSERT_NE(port, 0) << err;
  std::vector<TcpClient> crowd(200);
  for (TcpClient& c : crowd) c.Connect(port);
  std::vector<TcpClient> lorises(20);
  for (TcpClient& c : lorises) c.Connect(port);
  TlsClient stream(ca);
  ASSERT_TRUE(stream.Connect(port)) << stream.error();
  ASSERT_TRUE(stream.Send(absl::StrCat("GET /api/events HTTP/1.1\r\nHost: x\r\n", kAuth, "\r\n")));
  EXPECT_THAT(stream.Read("event: update"), HasSubstr("200 OK"));
  std::mt19937 rng(7);
  int served = 0;
  int refused = 0;
  for (int round = 0; job.running() && round < 600; ++round) {
    for (TcpClient& c : lorises) c.Send(std::string(1, 'G'), 10ms);
    TcpClient garbage;
    if (garbage.Connect(port)) {
      std::string bytes(500, '\0');
      for (char& b : bytes) b = static_cast<char>(rng());
      garbage.Send(bytes, 100ms);
    }
    if (HttpsGet(port, ca, "/metrics").status == 401) ++refused;
    if (HttpsGet(port, ca, "/api/health", kAuth).status == 200) ++served;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(job.Wait(300s), std::optional<int>(0)) << ReadFile(dir / "stderr.txt");
  EXPECT_GE(served, 3);
  EXPECT_GE(refused, 3);
  EXPECT_EQ(ReadFile(dir / "out.csv"), ReadFile(dir / "reference.csv"));
  EXPECT_THAT(ReadFile(dir / "reference.csv"), HasSubstr("\n"));
}

// Flags refused before any work, with exit status 2 and a message naming
// the flag and the file.
TEST(GuardedDashboardBinaryTest, UnsafeOrBrokenSecurityFlagsExit2) {
  TempDir dir;
  ASSERT_TRUE(brook_http_test::MakeTestCertificate(dir.path()));
  brook_http_test::WriteFile(dir / "empty", "");
  const std::string cert = dir / "cert.pem";
  const std::string key = dir / "key.pem";
  const std::string missing = dir / "no-such-cert.pem";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--http_address=0.0.0.0"}, "--http_insecure"},
      {{"--http_address=::"}, "not loopback"},
      {{"--http_tls_cert=" + missing, "--http_tls_key=" + key}, missing},
      {{"--http_tls_cert=" + cert, "--http_tls_key=" + missing}, "--http_tls_key: cannot read"},
      {{"--http_tls_cert=" + cert}, "go together"},
      {{"--http_tls_cert=" + key, "--http_tls_key=" + key}, key},
      {{"--http_token_file=" + (dir / "empty")}, "is empty"},
      {{"--http_token_file=" + missing}, missing},
      // Secrets of the stores and Kafka properties.
      {{"--kafka_property=no.such.property=1"}, "No such configuration property: \"no.such"},
      {{"--kafka_property=security.protocol=carrier-pigeon"}, "security.protocol"},
      {{"--kafka_property_file=" + missing}, missing},
      {{"--clickhouse_url=http://127.0.0.1:1", "--clickhouse_password_file=" + missing}, missing},
      {{"--clickhouse_url=http://u:p@127.0.0.1:1", "--clickhouse_password_file=" + cert},
       "has a password"},
      {{"--postgres=host=127.0.0.1 port=1", "--postgres_password_file=" + (dir / "empty")},
       "--postgres_password_file: '" + (dir / "empty") + "' is empty"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> argv = {CAMERA_TOP_K_BINARY, "--generate", "--generate_count=10",
                                     "--output=" + (dir / "out.csv"),
                                     "--http_port=" + std::to_string(brook_http_test::FreePort())};
    argv.insert(argv.end(), flags.begin(), flags.end());
    brook_http_test::ChildProcess p;
    ASSERT_TRUE(p.Start(argv, "", dir / "stderr.txt"));
    EXPECT_EQ(p.Wait(120s), std::optional<int>(2)) << flags[0];
    EXPECT_THAT(ReadFile(dir / "stderr.txt"), HasSubstr(message)) << flags[0];
  }
}
#endif  // CAMERA_TOP_K_BINARY

}  // namespace
