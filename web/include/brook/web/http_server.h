// File: brook/web/http_server.h
//
// A small, defensive HTTP/1.1 server for a job's own endpoints (metrics,
// status pages, JSON APIs, Server-Sent Events), built on Boost.Beast/Asio.
// It is meant to be exposed to operators and dashboards, not to the
// internet: it binds to loopback unless told otherwise. Part of the
// brook::web library (as Flink's flink-runtime-web), which keeps Boost.Beast
// out of brook::engine: link brook::web to use it.
// Example:
//   brook::web::HttpServer server({.address = "127.0.0.1", .port = 0});
//   BROOK_RETURN_IF_ERROR(server.Handle("/metrics", [&](const brook::web::HttpRequest&) {
//     return brook::web::HttpResponse::Text(200, brook::web::FormatPrometheusText(env.metrics()),
//                                           brook::web::kPrometheusContentType);
//   }));
//   BROOK_RETURN_IF_ERROR(server.Start());   // server.port(): the bound port
//
// Behaviour:
// - Handlers are registered by exact path (no prefixes, no patterns) before
//   Start(). Only GET is served: another method gets 405 (with `Allow: GET`),
//   an unregistered path 404, an unparsable request or request target 400,
//   a request head larger than max_header_bytes 431, a body larger than
//   max_body_bytes 413. An error response closes the connection. Nothing is
//   ever read from or written to the file system; a path is only a map key.
// - At most max_connections connections are open at once. When all are
//   taken, a new connection evicts the one that has waited longest for a
//   request (idle keep-alive, TLS handshake or request head still arriving),
//   so idle crowds and slow-loris clients cannot starve a new client; only
//   when none is waiting (all stream events or are being answered) is the
//   new connection closed at once, unanswered.
// - Slow clients: a request must arrive completely within request_timeout
//   of the previous one (or of connecting; over TLS the handshake included),
//   so a request head sent a byte at a time is cut off at that deadline; a
//   response or event must be written within write_timeout, else the
//   connection is closed.
// - TLS (tls_cert_file and tls_key_file set): every connection is TLS 1.2 or
//   1.3 (Boost.Asio's SSL stream over OpenSSL); a failed handshake closes it.
// - Authentication (bearer_token set): every request, whatever its path or
//   method, must carry `Authorization: Bearer <token>` (RFC 6750); an event
//   stream may carry `?access_token=<token>` instead (browsers' EventSource
//   cannot set headers; the server logs no request targets). Else it is
//   answered 401 with `WWW-Authenticate: Bearer realm="brook"` (plus
//   `error="invalid_token"` when a wrong token came), body from
//   unauthorized_handler. Tokens are compared in constant time (SHA-256
//   digests, CRYPTO_memcmp). Without TLS the token crosses the network in
//   clear: use both beyond loopback.
// - Event streams (HandleEventStream): the response is `text/event-stream`
//   (Server-Sent Events). Every event_stream_poll_interval the server asks the
//   client's poll function for new events and writes them. While a write is
//   still in flight it does not poll: a slow client skips intermediate updates
//   instead of queueing them (the per-client queue holds one write), and a
//   client whose write stalls past write_timeout is disconnected. A comment
//   line is sent after event_stream_keepalive of silence so that proxies and
//   clients see the stream alive; a client that closes its end is noticed at
//   once.
//
// Threads: the server runs on its own Asio io_context with one thread,
// started by Start() and joined by Stop(). Handlers and poll functions run on
// that thread, one at a time, so they must not block for long: read
// thread-safe snapshots (e.g. MetricRegistry::Snapshot()) rather than wait on
// a pipeline. Whatever a client does, it never blocks the caller's threads.
// Handle()/HandleEventStream()/Start()/Stop() are called from one owner
// thread; port(), address() and stats() from any thread.
#ifndef BROOK_WEB_HTTP_SERVER_H_
#define BROOK_WEB_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace brook::web {

struct HttpRequest {
  std::string method;  // e.g. "GET"
  std::string target;  // as received, e.g. "/api/topk?location=3"
  std::string path;    // target before '?', not decoded: "/api/topk"
  // Query parameters in order, percent- and '+'-decoded.
  std::vector<std::pair<std::string, std::string>> query;

  // HttpRequest::QueryParam(): the first value of parameter `name`.
  std::optional<std::string> QueryParam(absl::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra headers. The server always sets Content-Type, Content-Length,
  // Cache-Control: no-store and X-Content-Type-Options: nosniff itself.
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse Text(int status, std::string body,
                           std::string content_type = "text/plain; charset=utf-8");
  static HttpResponse Json(int status, std::string json);
  static HttpResponse Html(int status, std::string html);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest& request)>;

struct HttpServerOptions {
  // IPv4 or IPv6 address literal to listen on. Default: loopback only.
  std::string address = "127.0.0.1";
  // TCP port; 0 = any free port (read it back with HttpServer::port()).
  int port = 0;
  // Connections open at once (event streams included), >= 1.
  int max_connections = 64;
  // Request line plus headers, bytes, >= 256.
  size_t max_header_bytes = 16 * 1024;
  // Request body, bytes (GET requests carry none).
  size_t max_body_bytes = 16 * 1024;
  // Time to receive one whole request, and the most a keep-alive connection
  // may idle between requests. > 0.
  absl::Duration request_timeout = absl::Seconds(10);
  // Time to write one response or one batch of events. > 0.
  absl::Duration write_timeout = absl::Seconds(10);
  // How often event-stream poll functions are called. > 0.
  absl::Duration event_stream_poll_interval = absl::Milliseconds(250);
  // Silence after which an event stream gets a keep-alive comment. > 0.
  absl::Duration event_stream_keepalive = absl::Seconds(15);
  // TLS: PEM files of the certificate chain and of its private key, both or
  // neither (empty: plain HTTP). Read once by Start().
  std::string tls_cert_file;
  std::string tls_key_file;
  // Bearer token every request must carry; empty: no authentication.
  std::string bearer_token;
  // Makes the body of a 401 (e.g. a page that asks for the token: it must
  // not carry anything the token protects). The server sets the status and
  // WWW-Authenticate itself. Default: "unauthorized" in plain text.
  HttpHandler unauthorized_handler;
};

// One Server-Sent Event. `data` may span lines (each becomes a `data:` line);
// `event` (the event type) must not contain line breaks; empty = "message".
struct ServerSentEvent {
  std::string event;
  std::string data;
};

// Called every poll interval for one client: appends the events to send now
// (none is fine). Returning false ends the stream after those events.
using EventStreamPoll = std::function<bool(std::vector<ServerSentEvent>& events)>;
// Called once per request to an event-stream path: the client's poll
// function, or an error status, answered as kInvalidArgument -> 400,
// kNotFound -> 404, kResourceExhausted -> 503, anything else -> 500.
using EventStreamHandler =
    std::function<absl::StatusOr<EventStreamPoll>(const HttpRequest& request)>;

// Counters for tests and health pages.
struct HttpServerStats {
  int64_t open_connections = 0;  // now, event streams included
  int64_t open_event_streams = 0;
  int64_t accepted = 0;      // connections accepted and served
  int64_t rejected = 0;      // connections closed at once (max_connections)
  int64_t requests = 0;      // requests answered (any status)
  int64_t bad_requests = 0;  // answered 400, 413 or 431
  int64_t timeouts = 0;      // connections closed by request_timeout/write_timeout
  int64_t evicted = 0;       // waiting connections closed to make room (max_connections)
  int64_t unauthorized = 0;  // answered 401 (no or a wrong bearer token)
  int64_t tls_handshake_failures = 0;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options = {});
  // Stop()s.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // HttpServer::Handle(): serves GET `path` (exact match, starting with '/')
  // with `handler`. kInvalidArgument for a bad or already registered path,
  // kFailedPrecondition after Start().
  absl::Status Handle(std::string path, HttpHandler handler);
  // HttpServer::HandleEventStream(): serves GET `path` as an event stream.
  // Same errors as Handle().
  absl::Status HandleEventStream(std::string path, EventStreamHandler handler);

  // HttpServer::Start(): binds, listens and starts the server thread.
  // kInvalidArgument for a bad address or option, or a TLS certificate or
  // key file that cannot be read or used (the message names the file),
  // kUnavailable when the
  // address cannot be bound (e.g. the port is in use), kFailedPrecondition
  // when called twice.
  absl::Status Start();

  // HttpServer::Stop(): closes the listener and every connection and joins
  // the server thread. Idempotent; the server cannot be restarted.
  void Stop();

  // The bound port after Start() (the chosen one when options.port was 0),
  // else 0.
  int port() const;
  const std::string& address() const;
  // Whether connections are TLS (options.tls_cert_file set).
  bool tls() const;
  HttpServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// IsLoopbackAddress(): whether `address` is an IP address literal of the
// loopback interface (127.0.0.0/8, ::1). False for anything else, names
// included.
bool IsLoopbackAddress(absl::string_view address);

}  // namespace brook::web

#endif  // BROOK_WEB_HTTP_SERVER_H_
