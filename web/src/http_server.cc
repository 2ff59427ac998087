// Boost 1.74's Asio uses std::exchange etc. without including <utility>
// under C++20.
#include <utility>

#include "brook/web/http_server.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "brook/status.h"

namespace brook::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding; false on a bad %-escape.
bool Decode(absl::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return true;
}

bool ParseQuery(absl::string_view query, std::vector<std::pair<std::string, std::string>>& out) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    absl::string_view part = query.substr(0, amp);
    query = amp == absl::string_view::npos ? absl::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    std::string name;
    std::string value;
    if (!Decode(part.substr(0, eq), name)) return false;
    if (eq != absl::string_view::npos && !Decode(part.substr(eq + 1), value)) return false;
    out.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

bool ValidPath(absl::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

int StatusForCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 503;
    default:
      return 500;
  }
}

bool IsHttpError(const beast::error_code& ec) {
  return &ec.category() == &http::make_error_code(http::error::bad_method).category();
}

using TokenDigest = std::array<unsigned char, 32>;

// SHA-256 of `token`: comparing digests with CRYPTO_memcmp takes the same
// time whatever the presented token's length and content.
TokenDigest DigestOf(absl::string_view token) {
  TokenDigest d{};
  unsigned int n = 0;
  EVP_Digest(token.data(), token.size(), d.data(), &n, EVP_sha256(), nullptr);
  return d;
}

// The token of an `Authorization: Bearer <token>` header (RFC 6750 2.1; the
// scheme is case-insensitive), else nullopt.
std::optional<absl::string_view> BearerToken(absl::string_view authorization) {
  constexpr absl::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = authorization[i];
    if ((c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c) != kScheme[i]) return std::nullopt;
  }
  absl::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

absl::Status CheckReadable(const std::string& path, absl::string_view what) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the TLS ", what, " file '", path, "': ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<std::string> HttpRequest::QueryParam(absl::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

HttpResponse HttpResponse::Text(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

HttpResponse HttpResponse::Json(int status, std::string json) {
  return Text(status, std::move(json), "application/json; charset=utf-8");
}

HttpResponse HttpResponse::Html(int status, std::string html) {
  return Text(status, std::move(html), "text/html; charset=utf-8");
}

// What the server needs of a connection, TLS or not.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Cancels every operation; the session goes away with its last handler.
  virtual void Close() = 0;
  // Whether the connection waits for (the rest of) a request: idle between
  // keep-alive requests, in its TLS handshake, or reading a request head. The
  // longest waiting is evicted when max_connections are open.
  bool waiting() const { return waiting_; }
  std::chrono::steady_clock::time_point waiting_since() const { return waiting_since_; }

 protected:
  void SetWaiting(bool waiting) {
    waiting_ = waiting;
    if (waiting) waiting_since_ = std::chrono::steady_clock::now();
  }

 private:
  bool waiting_ = false;
  std::chrono::steady_clock::time_point waiting_since_;
};

// The server's state; HttpServer::Impl is this (a named type sessions can use).
struct ServerCore {
  explicit ServerCore(HttpServerOptions o) : options(std::move(o)) {}

  HttpServerOptions options;
  std::map<std::string, HttpHandler, std::less<>> handlers;
  std::map<std::string, EventStreamHandler, std::less<>> stream_handlers;
  bool started = false;  // owner thread only
  bool stopped = false;  // owner thread only
  std::atomic<int> port{0};

  std::atomic<int64_t> open_connections{0};
  std::atomic<int64_t> open_streams{0};
  std::atomic<int64_t> accepted{0};
  std::atomic<int64_t> rejected{0};
  std::atomic<int64_t> requests{0};
  std::atomic<int64_t> bad_requests{0};
  std::atomic<int64_t> timeouts{0};
  std::atomic<int64_t> evicted{0};
  std::atomic<int64_t> unauthorized{0};
  std::atomic<int64_t> tls_handshake_failures{0};

  // Set by Start(): with a bearer token, its digest; with TLS, the context.
  std::optional<TokenDigest> token_digest;
  std::optional<asio::ssl::context> tls;

  // Server thread only (and the owner after the thread has been joined).
  std::set<SessionBase*> sessions;
  // Sessions not Close()d yet: what max_connections bounds (a closed one
  // holds no descriptor, only memory until its last handler has run).
  int live_sessions = 0;
  bool closing = false;

  // Declared after everything sessions touch: destroying the io_context
  // destroys pending handlers and with them the last session references.
  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry;
  std::thread thread;

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void CloseAll();
};

struct HttpServer::Impl : ServerCore {
  using ServerCore::ServerCore;
};

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection over `Stream` (PlainStream or TlsStream): reads requests one
// after another (keep-alive), answers each, or turns into an event stream.
template <class Stream>
class HttpSession : public SessionBase, public std::enable_shared_from_this<HttpSession<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;

 public:
  template <class... StreamArgs>
  explicit HttpSession(ServerCore* server, StreamArgs&&... stream_args)
      : server_(server),
        stream_(std::forward<StreamArgs>(stream_args)...),
        buffer_(server->options.max_header_bytes + server->options.max_body_bytes + 4096),
        timer_(server->io) {
    server_->sessions.insert(this);
    ++server_->live_sessions;
    server_->open_connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~HttpSession() override {
    if (!closed_) --server_->live_sessions;
    server_->sessions.erase(this);
    server_->open_connections.fetch_sub(1, std::memory_order_relaxed);
    if (streaming_) server_->open_streams.fetch_sub(1, std::memory_order_relaxed);
  }

  void Start() {
    beast::error_code ec;
    Tcp().socket().set_option(tcp::no_delay(true), ec);
    if constexpr (kTls) {
      // The handshake counts as part of the first request: same deadline.
      SetWaiting(true);
      Tcp().expires_after(ToChrono(options().request_timeout));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = shared_from_this()](beast::error_code ec) {
                                if (self->closed_) return;
                                if (ec) {
                                  self->server_->tls_handshake_failures.fetch_add(
                                      1, std::memory_order_relaxed);
                                  self->Close();
                                  return;
                                }
                                self->ReadRequest();
                              });
    } else {
      ReadRequest();
    }
  }

  void Close() override {
    if (closed_) return;
    closed_ = true;
    --server_->live_sessions;
    SetWaiting(false);
    timer_.cancel();
    beast::error_code ec;
    Tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
    Tcp().close();
  }

 private:
  const HttpServerOptions& options() const { return server_->options; }
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  void ReadRequest() {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options().max_header_bytes));
    parser_->body_limit(options().max_body_bytes);
    // The deadline covers the whole request, head included: a client that
    // sends its header a byte at a time (slow loris) is cut off at it.
    Tcp().expires_after(ToChrono(options().request_timeout));
    SetWaiting(true);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  // Whether `req` carries the bearer token (always true without one); event
  // streams may carry it as ?access_token= instead, since a browser's
  // EventSource cannot set headers.
  bool Authorized(const http::request<http::string_body>& req, const HttpRequest& request,
                  bool event_stream) const {
    if (!server_->token_digest) return true;
    std::optional<absl::string_view> token;
    if (auto it = req.find(http::field::authorization); it != req.end()) {
      token = BearerToken(absl::string_view(it->value().data(), it->value().size()));
    }
    std::optional<std::string> param;
    if (!token && event_stream && (param = request.QueryParam("access_token"))) token = *param;
    if (!token) return false;
    const TokenDigest presented = DigestOf(*token);
    return CRYPTO_memcmp(presented.data(), server_->token_digest->data(), presented.size()) == 0;
  }

  void RespondUnauthorized(const HttpRequest& request, unsigned version, bool keep_alive,
                           bool token_presented) {
    server_->unauthorized.fetch_add(1, std::memory_order_relaxed);
    HttpResponse r;
    try {
      r = options().unauthorized_handler ? options().unauthorized_handler(request)
                                         : HttpResponse::Text(401, "unauthorized\n");
    } catch (const std::exception& e) {
      r = HttpResponse::Text(401, "unauthorized\n");
    }
    r.status = 401;
    r.headers.emplace_back("WWW-Authenticate",
                           token_presented ? "Bearer realm=\"brook\", error=\"invalid_token\""
                                           : "Bearer realm=\"brook\"");
    Respond(std::move(r), version, keep_alive);
  }

  void OnRead(beast::error_code ec) {
    if (closed_) return;
    SetWaiting(false);
    if (ec) {
      if (ec == beast::error::timeout) {
        server_->timeouts.fetch_add(1, std::memory_order_relaxed);
        Close();
      } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        RespondError(431, "request header fields too large\n");
      } else if (ec == http::error::body_limit) {
        RespondError(413, "request body too large\n");
      } else if (IsHttpError(ec) && ec != http::error::end_of_stream &&
                 ec != http::error::partial_message) {
        RespondError(400, "bad request\n");
      } else {
        Close();  // end of stream, reset, or a client that vanished mid-request
      }
      return;
    }
    http::request<http::string_body> req = parser_->release();
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    const absl::string_view target = request.target;
    const size_t q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (!ValidPath(request.path) ||
        (q != absl::string_view::npos && !ParseQuery(target.substr(q + 1), request.query))) {
      RespondError(400, "bad request target\n");
      return;
    }
    const auto stream_it = server_->stream_handlers.find(request.path);
    const bool event_stream = stream_it != server_->stream_handlers.end();
    // Authentication first: without the token a client learns nothing, not
    // even which paths or methods exist.
    if (!Authorized(req, request, event_stream)) {
      const bool presented = req.find(http::field::authorization) != req.end() ||
                             (event_stream && request.QueryParam("access_token").has_value());
      RespondUnauthorized(request, version, keep_alive, presented);
      return;
    }
    if (req.method() != http::verb::get) {
      HttpResponse r = HttpResponse::Text(405, "method not allowed\n");
      r.headers.emplace_back("Allow", "GET");
      Respond(std::move(r), version, keep_alive);
      return;
    }
    if (event_stream) {
      StartEventStream(stream_it->second, request, version);
      return;
    }
    auto it = server_->handlers.find(request.path);
    if (it == server_->handlers.end()) {
      Respond(HttpResponse::Text(404, "not found\n"), version, keep_alive);
      return;
    }
    HttpResponse response;
    try {
      response = it->second(request);
    } catch (const std::exception& e) {
      response = HttpResponse::Text(500, "internal error\n");
    }
    Respond(std::move(response), version, keep_alive);
  }

  // Answers a request that could not be read completely, then closes.
  void RespondError(int status, std::string body) {
    server_->bad_requests.fetch_add(1, std::memory_order_relaxed);
    Respond(HttpResponse::Text(status, std::move(body)), 11, /*keep_alive=*/false);
  }

  void Respond(HttpResponse r, unsigned version, bool keep_alive) {
    server_->requests.fetch_add(1, std::memory_order_relaxed);
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version);
    res->set(http::field::server, "brook");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-store");
    res->set("X-Content-Type-Options", "nosniff");
    for (const auto& [name, value] : r.headers) res->set(name, value);
    res->keep_alive(keep_alive);
    res->body() = std::move(r.body);
    res->prepare_payload();
    Tcp().expires_after(ToChrono(options().write_timeout));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        self->OnWrite(ec, res->need_eof());
                      });
  }

  void OnWrite(beast::error_code ec, bool close) {
    if (closed_) return;
    if (ec) {
      if (ec == beast::error::timeout) server_->timeouts.fetch_add(1, std::memory_order_relaxed);
      Close();
      return;
    }
    if (close) {
      LingeringClose();
      return;
    }
    ReadRequest();
  }

  // Closing a socket with unread input makes the kernel send a reset, which
  // may destroy the response before the client reads it (e.g. a 431 sent while
  // the client still uploads headers). So: shut down our side, then read and
  // discard what the client still sends, for a bounded time and amount.
  // Over TLS: a close_notify alert, and the peer's awaited, instead.
  void LingeringClose() {
    Tcp().expires_after(std::chrono::seconds(2));
    if constexpr (kTls) {
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->Close(); });
      return;
    }
    beast::error_code ec;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    linger_budget_ = 1 << 20;
    DrainForClose();
  }

  void DrainForClose() {
    Tcp().async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec || n >= self->linger_budget_) {
                                self->Close();
                                return;
                              }
                              self->linger_budget_ -= n;
                              self->DrainForClose();
                            });
  }

  void StartEventStream(const EventStreamHandler& handler, const HttpRequest& request,
                        unsigned version) {
    absl::StatusOr<EventStreamPoll> poll;
    try {
      poll = handler(request);
    } catch (const std::exception& e) {
      poll = absl::InternalError("event stream handler failed");
    }
    if (!poll.ok() || !*poll) {
      const absl::Status s = poll.ok() ? absl::InternalError("no poll function") : poll.status();
      Respond(HttpResponse::Text(StatusForCode(s.code()), absl::StrCat(s.message(), "\n")), version,
              /*keep_alive=*/false);
      return;
    }
    server_->requests.fetch_add(1, std::memory_order_relaxed);
    poll_ = *std::move(poll);
    streaming_ = true;
    server_->open_streams.fetch_add(1, std::memory_order_relaxed);
    // The body runs until either side closes: no length, no chunking.
    pending_ =
        "HTTP/1.1 200 OK\r\n"
        "Server: brook\r\n"
        "Content-Type: text/event-stream; charset=utf-8\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "X-Accel-Buffering: no\r\n"
        "Connection: close\r\n"
        "\r\n"
        "retry: 2000\n\n";
    // The first events go out with the header, the rest every poll interval.
    std::vector<ServerSentEvent> events;
    bool more = false;
    try {
      more = poll_(events);
    } catch (const std::exception& e) {
      Close();
      return;
    }
    for (const ServerSentEvent& e : events) AppendEvent(e);
    WriteEvents(more);
    WatchForDisconnect();
  }

  // An event-stream client sends nothing after its request, so any read
  // completion means it closed (or misbehaves): end the stream either way.
  // Over TLS the raw socket is watched too: the stream only writes now, so
  // the TLS engine never reads concurrently.
  void WatchForDisconnect() {
    Tcp().socket().async_read_some(
        asio::buffer(discard_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec != asio::error::operation_aborted) self->Close();
        });
  }

  void ScheduleTick() {
    if (closed_) return;
    timer_.expires_after(ToChrono(options().event_stream_poll_interval));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Tick();
    });
  }

  void Tick() {
    if (closed_) return;
    if (writing_) {  // the client is behind: skip this update
      ScheduleTick();
      return;
    }
    std::vector<ServerSentEvent> events;
    bool more = false;
    try {
      more = poll_(events);
    } catch (const std::exception& e) {
      Close();
      return;
    }
    pending_.clear();
    for (const ServerSentEvent& e : events) AppendEvent(e);
    if (pending_.empty() && std::chrono::steady_clock::now() - last_write_ >=
                                ToChrono(options().event_stream_keepalive)) {
      pending_ = ": keepalive\n\n";
    }
    if (pending_.empty()) {
      if (more) {
        ScheduleTick();
      } else {
        Close();
      }
      return;
    }
    WriteEvents(more);
  }

  void AppendEvent(const ServerSentEvent& e) {
    if (!e.event.empty() && e.event.find_first_of("\r\n") == std::string::npos) {
      absl::StrAppend(&pending_, "event: ", e.event, "\n");
    }
    absl::string_view data = e.data;
    do {
      const size_t nl = data.find('\n');
      absl::string_view line = data.substr(0, nl);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      absl::StrAppend(&pending_, "data: ", line, "\n");
      data = nl == absl::string_view::npos ? absl::string_view() : data.substr(nl + 1);
    } while (!data.empty());
    pending_.push_back('\n');
  }

  void WriteEvents(bool more) {
    writing_ = true;
    Tcp().expires_after(ToChrono(options().write_timeout));
    asio::async_write(stream_, asio::buffer(pending_),
                      [self = shared_from_this(), more](beast::error_code ec, std::size_t) {
                        self->writing_ = false;
                        if (self->closed_) return;
                        if (ec) {
                          if (ec == beast::error::timeout) {
                            self->server_->timeouts.fetch_add(1, std::memory_order_relaxed);
                          }
                          self->Close();
                          return;
                        }
                        self->last_write_ = std::chrono::steady_clock::now();
                        if (!more) {
                          self->Close();
                          return;
                        }
                        self->ScheduleTick();
                      });
  }

  ServerCore* server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  asio::steady_timer timer_;
  std::array<char, 4096> discard_{};
  size_t linger_budget_ = 0;
  bool closed_ = false;
  // Event stream.
  bool streaming_ = false;
  bool writing_ = false;
  EventStreamPoll poll_;
  std::string pending_;
  std::chrono::steady_clock::time_point last_write_ = std::chrono::steady_clock::now();
};

void ServerCore::Accept() {
  acceptor->async_accept(
      io, [this](beast::error_code ec, tcp::socket socket) { OnAccept(ec, std::move(socket)); });
}

void ServerCore::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (closing || !acceptor->is_open()) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    // E.g. out of file descriptors: back off instead of spinning.
    accept_retry->expires_after(std::chrono::milliseconds(100));
    accept_retry->async_wait([this](beast::error_code ec) {
      if (!ec && !closing) Accept();
    });
    return;
  }
  if (live_sessions >= options.max_connections) {
    // Full: make room by evicting the connection that has waited longest for
    // a request (an idle keep-alive client or a slow loris), so that a crowd
    // of idle connections cannot starve a new client; with none waiting
    // (every slot streams events or is being answered), turn the new one away.
    SessionBase* oldest = nullptr;
    for (SessionBase* s : sessions) {
      if (s->waiting() && (oldest == nullptr || s->waiting_since() < oldest->waiting_since())) {
        oldest = s;
      }
    }
    if (oldest == nullptr) {
      rejected.fetch_add(1, std::memory_order_relaxed);
      beast::error_code ignored;
      socket.close(ignored);
      Accept();
      return;
    }
    evicted.fetch_add(1, std::memory_order_relaxed);
    oldest->Close();
  }
  accepted.fetch_add(1, std::memory_order_relaxed);
  if (tls) {
    std::make_shared<HttpSession<TlsStream>>(this, std::move(socket), *tls)->Start();
  } else {
    std::make_shared<HttpSession<PlainStream>>(this, std::move(socket))->Start();
  }
  Accept();
}

void ServerCore::CloseAll() {
  closing = true;
  beast::error_code ec;
  if (acceptor) acceptor->close(ec);
  if (accept_retry) accept_retry->cancel();
  // Close() never destroys a session synchronously (handlers hold it).
  for (SessionBase* s : sessions) s->Close();
}

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Handle(std::string path, HttpHandler handler) {
  if (impl_->started) return absl::FailedPreconditionError("HttpServer::Handle after Start()");
  if (!ValidPath(path) || path.find('?') != std::string::npos || !handler) {
    return absl::InvalidArgumentError(absl::StrCat("bad HTTP handler path '", path, "'"));
  }
  if (impl_->handlers.contains(path) || impl_->stream_handlers.contains(path)) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP path '", path, "' already registered"));
  }
  impl_->handlers.emplace(std::move(path), std::move(handler));
  return absl::OkStatus();
}

absl::Status HttpServer::HandleEventStream(std::string path, EventStreamHandler handler) {
  if (impl_->started) {
    return absl::FailedPreconditionError("HttpServer::HandleEventStream after Start()");
  }
  if (!ValidPath(path) || path.find('?') != std::string::npos || !handler) {
    return absl::InvalidArgumentError(absl::StrCat("bad HTTP handler path '", path, "'"));
  }
  if (impl_->handlers.contains(path) || impl_->stream_handlers.contains(path)) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP path '", path, "' already registered"));
  }
  impl_->stream_handlers.emplace(std::move(path), std::move(handler));
  return absl::OkStatus();
}

absl::Status HttpServer::Start() {
  Impl& s = *impl_;
  if (s.started) return absl::FailedPreconditionError("HttpServer::Start called twice");
  const HttpServerOptions& o = s.options;
  if (o.port < 0 || o.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP port ", o.port, " not in [0, 65535]"));
  }
  if (o.max_connections < 1) {
    return absl::InvalidArgumentError("HttpServerOptions::max_connections must be >= 1");
  }
  if (o.max_header_bytes < 256 || o.max_header_bytes > (size_t{1} << 30) ||
      o.max_body_bytes > (size_t{1} << 30)) {
    return absl::InvalidArgumentError(
        "HttpServerOptions: max_header_bytes must be in [256, 1 GiB], max_body_bytes <= 1 GiB");
  }
  for (absl::Duration d : {o.request_timeout, o.write_timeout, o.event_stream_poll_interval,
                           o.event_stream_keepalive}) {
    if (d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("HttpServerOptions: timeouts and intervals must be > 0");
    }
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "HttpServerOptions: tls_cert_file and tls_key_file go together (both or neither)");
  }
  if (!o.tls_cert_file.empty()) {
    BROOK_RETURN_IF_ERROR(CheckReadable(o.tls_cert_file, "certificate"));
    BROOK_RETURN_IF_ERROR(CheckReadable(o.tls_key_file, "private key"));
    asio::ssl::context& tls = s.tls.emplace(asio::ssl::context::tls_server);
    // TLS 1.2 and 1.3 only; OpenSSL's default cipher list otherwise.
    tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    beast::error_code tls_ec;
    tls.use_certificate_chain_file(o.tls_cert_file, tls_ec);
    if (tls_ec) {
      s.tls.reset();
      return absl::InvalidArgumentError(absl::StrCat("bad TLS certificate file '", o.tls_cert_file,
                                                     "': ", tls_ec.message()));
    }
    tls.use_private_key_file(o.tls_key_file, asio::ssl::context::pem, tls_ec);
    if (tls_ec) {
      s.tls.reset();
      // Also a key that is not the certificate's: "key values mismatch".
      return absl::InvalidArgumentError(absl::StrCat("bad TLS private key file '", o.tls_key_file,
                                                     "' for the certificate '", o.tls_cert_file,
                                                     "': ", tls_ec.message()));
    }
  }
  if (!o.bearer_token.empty()) s.token_digest = DigestOf(o.bearer_token);
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(o.address, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad HTTP listen address '", o.address, "': expected an IP address"));
  }
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(o.port));
  const std::string where = absl::StrCat(o.address, ":", o.port);
  s.acceptor.emplace(s.io);
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    s.acceptor.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", where, ": ", ec.message()));
  }
  s.port.store(s.acceptor->local_endpoint().port());
  s.accept_retry.emplace(s.io);
  s.work.emplace(s.io.get_executor());
  s.started = true;
  s.Accept();
  s.thread = std::thread([impl = impl_.get()] {
    for (;;) {
      try {
        impl->io.run();
        return;
      } catch (...) {
        // A handler threw past its own catch (e.g. bad_alloc): keep serving.
      }
    }
  });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  if (!s.started) return;
  asio::post(s.io, [impl = impl_.get()] {
    impl->CloseAll();
    impl->work.reset();
    impl->io.stop();
  });
  if (s.thread.joinable()) s.thread.join();
}

bool HttpServer::tls() const { return !impl_->options.tls_cert_file.empty(); }

bool IsLoopbackAddress(absl::string_view address) {
  beast::error_code ec;
  const asio::ip::address a = asio::ip::make_address(std::string(address), ec);
  return !ec && a.is_loopback();
}

int HttpServer::port() const { return impl_->port.load(); }

const std::string& HttpServer::address() const { return impl_->options.address; }

HttpServerStats HttpServer::stats() const {
  const Impl& s = *impl_;
  HttpServerStats st;
  st.open_connections = s.open_connections.load(std::memory_order_relaxed);
  st.open_event_streams = s.open_streams.load(std::memory_order_relaxed);
  st.accepted = s.accepted.load(std::memory_order_relaxed);
  st.rejected = s.rejected.load(std::memory_order_relaxed);
  st.requests = s.requests.load(std::memory_order_relaxed);
  st.bad_requests = s.bad_requests.load(std::memory_order_relaxed);
  st.timeouts = s.timeouts.load(std::memory_order_relaxed);
  st.evicted = s.evicted.load(std::memory_order_relaxed);
  st.unauthorized = s.unauthorized.load(std::memory_order_relaxed);
  st.tls_handshake_failures = s.tls_handshake_failures.load(std::memory_order_relaxed);
  return st;
}

}  // namespace brook::web
