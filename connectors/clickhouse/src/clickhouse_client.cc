// File: connectors/clickhouse/src/clickhouse_client.cc
#include "brook/connectors/clickhouse/clickhouse_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace brook::connectors {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// %XX-decodes a URL's user or password.
absl::StatusOr<std::string> PercentDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    int value = 0;
    if (i + 2 >= s.size() || !absl::ascii_isxdigit(s[i + 1]) || !absl::ascii_isxdigit(s[i + 2])) {
      return absl::InvalidArgumentError("bad %-escape in the URL's user or password");
    }
    for (int k = 1; k <= 2; ++k) {
      const char c = absl::ascii_tolower(s[i + k]);
      value = value * 16 + (absl::ascii_isdigit(c) ? c - '0' : c - 'a' + 10);
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

void AppendUrlEncoded(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

// ClickHouse's HTTP error answers: the status code and "Code: N, e.displayText() = ...".
absl::Status ServerError(unsigned status, absl::string_view body, const ClickHouseEndpoint& at) {
  std::string message = absl::StrCat("ClickHouse at ", at.ToString(), ": HTTP ", status, ": ",
                                     absl::StripAsciiWhitespace(body));
  switch (status) {
    case 401:
    case 403:
      return absl::UnauthenticatedError(message);
    case 404:
      return absl::NotFoundError(message);
    case 400:
      return absl::InvalidArgumentError(message);
    default:
      // 18.16 answers a wrong password with 500 and code 193 (192: unknown user).
      if (absl::StrContains(body, "Code: 192,") || absl::StrContains(body, "Code: 193,") ||
          absl::StrContains(body, "Code: 516,")) {
        return absl::UnauthenticatedError(message);
      }
      return absl::InternalError(message);
  }
}

}  // namespace

std::string ClickHouseEndpoint::ToString() const {
  return absl::StrCat("http://", user.empty() ? "" : absl::StrCat(user, "@"), host, ":", port);
}

absl::StatusOr<ClickHouseEndpoint> ParseClickHouseUrl(std::string_view url_view) {
  const absl::string_view url(url_view.data(), url_view.size());
  auto bad = [url](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("ClickHouse URL '", url, "': ", why,
                                                   " (expected http://[USER:PASSWORD@]HOST:PORT)"));
  };
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) return bad("not an http:// URL");
  absl::ConsumeSuffix(&rest, "/");
  if (rest.find_first_of("/?#") != absl::string_view::npos) return bad("has a path or a query");
  ClickHouseEndpoint e;
  if (const size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    absl::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = userinfo.find(':');
    auto user = PercentDecode(userinfo.substr(0, colon));
    if (!user.ok()) return bad(user.status().message());
    e.user = *std::move(user);
    if (colon != absl::string_view::npos) {
      auto password = PercentDecode(userinfo.substr(colon + 1));
      if (!password.ok()) return bad(password.status().message());
      e.password = *std::move(password);
    }
    if (e.user.empty()) return bad("empty user");
  }
  if (const size_t colon = rest.rfind(':'); colon != absl::string_view::npos) {
    if (!absl::SimpleAtoi(rest.substr(colon + 1), &e.port) || e.port < 1 || e.port > 65535) {
      return bad("bad port");
    }
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return bad("no host");
  e.host = std::string(rest);
  return e;
}

void AppendClickHouseStringLiteral(std::string_view s, std::string& out) {
  out.push_back('\'');
  for (char c : s) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
}

ClickHouseClient::ClickHouseClient(ClickHouseEndpoint endpoint, ClickHouseClientOptions options)
    : endpoint_(std::move(endpoint)), options_(options) {
  if (!endpoint_.user.empty()) {
    authorization_ = absl::StrCat(
        "Basic ", absl::Base64Escape(absl::StrCat(endpoint_.user, ":", endpoint_.password)));
  }
}

absl::StatusOr<std::string> ClickHouseClient::Query(std::string_view statement,
                                                    std::string_view data) const {
  std::string target = "/";
  if (!data.empty()) {
    target += "?query=";
    AppendUrlEncoded(statement, target);
  }
  const std::string_view body = data.empty() ? statement : data;

  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  const auto timeout = absl::ToChronoMilliseconds(options_.timeout);
  auto failed = [&](const char* what) {
    return absl::UnavailableError(
        absl::StrCat("ClickHouse at ", endpoint_.ToString(), ": ", what, ": ", ec.message()));
  };
  // Each step runs the io_context to completion: async operations only for
  // tcp_stream's timeouts.
  auto run = [&] {
    ioc.restart();
    ioc.run();
  };
  asio::ip::tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(endpoint_.host, std::to_string(endpoint_.port), ec);
  if (ec) return failed("cannot resolve the host");
  stream.expires_after(timeout);
  stream.async_connect(endpoints, [&](beast::error_code e, const auto&) { ec = e; });
  run();
  if (ec) return failed("cannot connect");

  http::request<http::span_body<const char>> request{http::verb::post, target, 11};
  request.set(http::field::host, endpoint_.host);
  request.set(http::field::connection, "close");
  request.set(http::field::content_type, "text/plain; charset=UTF-8");
  if (!authorization_.empty()) request.set(http::field::authorization, authorization_);
  request.body() = http::span_body<const char>::value_type(body.data(), body.size());
  request.prepare_payload();
  stream.expires_after(timeout);
  http::async_write(stream, request, [&](beast::error_code e, size_t) { ec = e; });
  run();
  if (ec) return failed("sending the request failed");

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  stream.expires_after(timeout);
  http::async_read(stream, buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
  run();
  if (ec) return failed("no complete answer");
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  http::response<http::string_body> response = parser.release();
  if (response.result_int() != 200) {
    return ServerError(response.result_int(), response.body(), endpoint_);
  }
  return std::move(response.body());
}

absl::StatusOr<std::string> ClickHouseClient::QueryWithRetries(std::string_view statement,
                                                               std::string_view data) const {
  absl::Duration backoff = options_.retry_backoff;
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<std::string> result = Query(statement, data);
    if (result.ok() || !absl::IsUnavailable(result.status()) || attempt >= options_.max_retries) {
      return result;
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff *= 2;
  }
}

}  // namespace brook::connectors
