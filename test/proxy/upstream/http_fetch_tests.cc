#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "proxy/upstream/http_fetch.h"

using namespace portico::proxy;
using namespace std::chrono_literals;

namespace {

// A tiny server on 127.0.0.1: answers every connection with a canned response after reading
// the request head (or, with `silent`, reads and never answers). TLS when given a cert + key.
class TestServer {
 public:
  explicit TestServer(std::string response, bool silent = false, SSL_CTX* tls = nullptr)
      : response_(std::move(response)), silent_(silent), tls_(tls) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TestServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/") const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string lastRequest() {
    std::lock_guard lock(mutex_);
    return request_;
  }

 private:
  bool waitReadable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }

  void serve() {
    while (waitReadable(fd_)) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      SSL* ssl = nullptr;
      if (tls_) {
        ssl = SSL_new(tls_);
        SSL_set_fd(ssl, c);
        if (SSL_accept(ssl) != 1) {
          SSL_free(ssl);
          ::close(c);
          continue;
        }
      }
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos && waitReadable(c)) {
        const int n = ssl ? SSL_read(ssl, buf, sizeof buf) : static_cast<int>(::read(c, buf, sizeof buf));
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
        if (head[0] == '\x16') break;  // a TLS ClientHello: answer in plain HTTP at once
      }
      {
        std::lock_guard lock(mutex_);
        request_ = head;
      }
      if (silent_) {
        while (!stop_) std::this_thread::sleep_for(10ms);
      } else {
        std::size_t sent = 0;
        while (sent < response_.size()) {
          const int n = ssl ? SSL_write(ssl, response_.data() + sent, static_cast<int>(response_.size() - sent))
                            : static_cast<int>(::send(c, response_.data() + sent, response_.size() - sent, MSG_NOSIGNAL));
          if (n <= 0) break;
          sent += static_cast<std::size_t>(n);
        }
      }
      if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
      }
      ::close(c);
    }
  }

  std::string response_;
  bool silent_;
  SSL_CTX* tls_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::string request_;
  std::thread thread_;
};

std::string ok(const std::string& body, const std::string& type = "application/json") {
  return "HTTP/1.1 200 OK\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

// A self-signed certificate for 127.0.0.1 / localhost and a server TLS context using it.
struct SelfSigned {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  SSL_CTX* ctx = nullptr;
  std::string certPem;

  explicit SelfSigned(const char* san) {
    key = EVP_EC_gen("P-256");
    REQUIRE(key != nullptr);
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("portico-test"), -1,
                               -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
    for (const auto& [nid, value] : std::vector<std::pair<int, std::string>>{
             {NID_subject_alt_name, san}, {NID_basic_constraints, "critical,CA:TRUE"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
      REQUIRE(ext != nullptr);
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
    REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    certPem.assign(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    ctx = SSL_CTX_new(TLS_server_method());
    REQUIRE(SSL_CTX_use_certificate(ctx, cert) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey(ctx, key) == 1);
  }
  ~SelfSigned() {
    SSL_CTX_free(ctx);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

std::uint16_t closedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);  // never listened: connecting is refused
  return ntohs(addr.sin_port);
}

std::string errorOf(const portico::Expected<std::string>& r) { return r ? "ok: " + *r : r.error().message; }

}  // namespace

TEST_SUITE("http_fetch") {
  TEST_CASE("200: the body is returned and the request is a plain GET with Host") {
    TestServer server(ok(R"({"keys":[]})"));
    auto r = httpFetch(server.url("/.well-known/jwks.json?x=1#frag"), 2000ms);
    REQUIRE_MESSAGE(r.has_value(), errorOf(r));
    CHECK(*r == R"({"keys":[]})");
    const auto request = server.lastRequest();
    CHECK(request.starts_with("GET /.well-known/jwks.json?x=1 HTTP/1.1\r\n"));
    CHECK(request.find("Host: 127.0.0.1:" + std::to_string(server.port()) + "\r\n") != std::string::npos);
    CHECK(request.find("User-Agent: portico\r\n") != std::string::npos);
  }

  TEST_CASE("a chunked body and any 2xx status are accepted") {
    TestServer server("HTTP/1.1 203 Non-Authoritative\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    auto r = httpFetch(server.url(), 2000ms);
    CHECK(errorOf(r) == "ok: hello world");
  }

  TEST_CASE("a body delimited by the connection close is read") {
    TestServer server("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof");
    CHECK(errorOf(httpFetch(server.url(), 2000ms)) == "ok: until-eof");
  }

  TEST_CASE("non-2xx statuses are errors with the status") {
    TestServer notFound("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
    CHECK(errorOf(httpFetch(notFound.url("/jwks"), 2000ms)) == "GET " + notFound.url("/jwks") + ": HTTP 404 Not Found");
    TestServer redirect("HTTP/1.1 302 Found\r\nLocation: http://elsewhere/\r\nContent-Length: 0\r\n\r\n");
    CHECK(errorOf(httpFetch(redirect.url(), 2000ms)).find("HTTP 302 Found (redirects are not followed)") !=
          std::string::npos);
    TestServer error("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    CHECK(errorOf(httpFetch(error.url(), 2000ms)).ends_with("HTTP 503 Service Unavailable"));
  }

  TEST_CASE("a server that never answers times out within the timeout") {
    TestServer server("", /*silent=*/true);
    const auto start = std::chrono::steady_clock::now();
    auto r = httpFetch(server.url(), 300ms);
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(errorOf(r) == "GET " + server.url() + ": timed out after 300 ms (reading the response header)");
    CHECK(took >= 250ms);
    CHECK(took < 1500ms);
  }

  TEST_CASE("an oversize body is rejected") {
    TestServer big(ok(std::string(kHttpFetchMaxBodyBytes + 1, 'x')));
    const auto tooBig = errorOf(httpFetch(big.url(), 3000ms));
    CHECK_MESSAGE(tooBig.ends_with("response body larger than 1048576 bytes"), tooBig.substr(0, 200));
    TestServer bigUntilClose("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(kHttpFetchMaxBodyBytes + 1, 'z'));
    const auto tooBigUntilClose = errorOf(httpFetch(bigUntilClose.url(), 3000ms));
    CHECK_MESSAGE(tooBigUntilClose.ends_with("response body larger than 1048576 bytes"), tooBigUntilClose.substr(0, 200));
    TestServer exact(ok(std::string(kHttpFetchMaxBodyBytes, 'x')));
    auto r = httpFetch(exact.url(), 3000ms);
    REQUIRE_MESSAGE(r.has_value(), errorOf(r));
    CHECK(r->size() == kHttpFetchMaxBodyBytes);
    TestServer chunked("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + std::string(32, 'y') +
                       "\r\n0\r\n\r\n");
    HttpFetchOptions small;
    small.maxBodyBytes = 16;
    small.timeout = 2000ms;
    CHECK(errorOf(httpFetch(chunked.url(), small)).ends_with("response body larger than 16 bytes"));
  }

  TEST_CASE("a refused connection is an error naming the step") {
    const std::string url = "http://127.0.0.1:" + std::to_string(closedPort()) + "/jwks";
    const auto message = errorOf(httpFetch(url, 2000ms));
    CHECK(message.starts_with("GET " + url + ": connecting: "));
    CHECK(message.find("refused") != std::string::npos);
  }

  TEST_CASE("https: the peer is verified against the CA store and the host") {
    SelfSigned cert("IP:127.0.0.1,DNS:localhost");
    TestServer server(ok("secret"), false, cert.ctx);
    // Not in the system store: refused.
    const auto untrusted = errorOf(httpFetch(server.url(), 2000ms));
    CHECK(untrusted.starts_with("GET " + server.url() + ": TLS handshake (self-signed certificate)"));
    // Trusted through extraCaPem: accepted, for the IP and for the DNS name.
    HttpFetchOptions trusted;
    trusted.timeout = 2000ms;
    trusted.extraCaPem = cert.certPem;
    CHECK(errorOf(httpFetch(server.url(), trusted)) == "ok: secret");
    CHECK(errorOf(httpFetch("https://localhost:" + std::to_string(server.port()) + "/", trusted)) == "ok: secret");
  }

  TEST_CASE("https: a certificate for another name is refused") {
    SelfSigned cert("DNS:other.example");
    TestServer server(ok("secret"), false, cert.ctx);
    HttpFetchOptions trusted;
    trusted.timeout = 2000ms;
    trusted.extraCaPem = cert.certPem;
    const auto message = errorOf(httpFetch(server.url(), trusted));
    CHECK(message.find("TLS handshake") != std::string::npos);
    CHECK(message.find("mismatch") != std::string::npos);
  }

  TEST_CASE("https against a plain HTTP server fails fast") {
    TestServer server(ok("plain"));
    const std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/";
    const auto start = std::chrono::steady_clock::now();
    CHECK(errorOf(httpFetch(url, 2000ms)).find("TLS handshake") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < 1500ms);
  }

  TEST_CASE("URL parsing") {
    auto u = parseHttpUrl("https://idp.example/.well-known/jwks.json");
    REQUIRE(u);
    CHECK(u->tls);
    CHECK(u->host == "idp.example");
    CHECK(u->port == 443);
    CHECK(u->target == "/.well-known/jwks.json");
    CHECK(u->hostHeader() == "idp.example");
    u = parseHttpUrl("HTTP://[::1]:8080?x=1");
    REQUIRE(u);
    CHECK_FALSE(u->tls);
    CHECK(u->host == "::1");
    CHECK(u->port == 8080);
    CHECK(u->target == "/?x=1");
    CHECK(u->hostHeader() == "[::1]:8080");
    u = parseHttpUrl("http://h");
    REQUIRE(u);
    CHECK(u->target == "/");
    CHECK(u->port == 80);

    for (const char* bad : {"ftp://h/", "h/path", "http://", "http:///x", "http://user:pw@h/", "http://h:0/",
                            "http://h:65536/", "http://h:8a/", "http://h:/", "http://[::1/", "http://[::1]x/",
                            "http://[nothex]/", "http://h/a b", "http://h/\r\nX: y"}) {
      CAPTURE(bad);
      CHECK_FALSE(parseHttpUrl(bad).has_value());
      CHECK_FALSE(httpFetch(bad, 100ms).has_value());
    }
  }
}
