// Helpers for the TLS and authentication tests: a throwaway certificate made
// with the openssl CLI, and a blocking HTTPS client on OpenSSL that verifies
// the server against that certificate (as curl --cacert would).
#ifndef BROOK_TESTS_HTTP_TLS_TEST_UTIL_H_
#define BROOK_TESTS_HTTP_TLS_TEST_UTIL_H_

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "http/http_test_util.h"

namespace brook_http_test {

// A self-signed certificate for 127.0.0.1 (P-256, one day) and its key,
// written to dir/cert.pem and dir/key.pem. False when openssl fails.
inline bool MakeTestCertificate(const std::string& dir) {
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout '" +
      dir + "/key.pem' -out '" + dir + "/cert.pem' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// One TLS connection to 127.0.0.1:port that trusts only `ca_file` and checks
// the certificate names 127.0.0.1. Blocking, with a deadline per call.
class TlsClient {
 public:
  explicit TlsClient(const std::string& ca_file) : ctx_(SSL_CTX_new(TLS_client_method())) {
    // SSL_write() writes with write(2): a peer that closed must not kill the
    // test with SIGPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
    SSL_CTX_load_verify_locations(ctx_.get(), ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
  }

  // Connects and completes the handshake; false (error() says why) if
  // either fails or the certificate does not verify.
  bool Connect(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    if (!tcp_.Connect(port, timeout)) return Fail("connect failed");
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(tcp_.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(tcp_.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), tcp_.fd());
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), "127.0.0.1");
    if (SSL_connect(ssl_.get()) != 1) return Fail("handshake failed");
    return true;
  }

  bool Send(const std::string& data) {
    return SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  }

  // Reads until the peer closes (or `needle` arrives, when not empty).
  std::string Read(const std::string& needle = "") {
    std::string out;
    char buf[4096];
    for (;;) {
      if (!needle.empty() && out.find(needle) != std::string::npos) break;
      const int n = SSL_read(ssl_.get(), buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  const std::string& error() const { return error_; }

 private:
  struct FreeCtx {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  struct FreeSsl {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  bool Fail(const std::string& what) {
    char buf[256] = {0};
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    error_ = what + ": " + buf;
    return false;
  }

  std::unique_ptr<SSL_CTX, FreeCtx> ctx_;
  std::unique_ptr<SSL, FreeSsl> ssl_;
  TcpClient tcp_;
  std::string error_;
};

// GET `target` over TLS with `headers` ("Name: value\r\n" lines), closing.
inline HttpResult HttpsGet(int port, const std::string& ca_file, const std::string& target,
                           const std::string& headers = "") {
  TlsClient c(ca_file);
  if (!c.Connect(port)) return {};
  if (!c.Send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
              headers + "\r\n")) {
    return {};
  }
  return ParseResponse(c.Read());
}

}  // namespace brook_http_test

#endif  // BROOK_TESTS_HTTP_TLS_TEST_UTIL_H_
