// KubeClient over cpprestsdk: the only file that includes it. Two http_clients share the
// config: one for short requests (30 s timeout) and one for watches, whose inactivity
// timeout must exceed the watch's timeoutSeconds (cpprest resets it per chunk).
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include <boost/asio/ssl.hpp>
#include <cpprest/http_client.h>
#include <pplx/threadpool.h>

#include "controller/kube/kube_client.h"

namespace portico::controller {

namespace {

namespace http = web::http;

constexpr auto kRequestTimeout = std::chrono::seconds(30);
constexpr auto kWatchTimeout = std::chrono::seconds(15 * 60);
constexpr int kTransportAttempts = 10;

// The token of a projected service account rotates: re-read it when the file changes.
class TokenSource {
 public:
  explicit TokenSource(const KubeConfig& config) : token_(config.token), file_(config.tokenFile) {}
  std::string current() {
    if (file_.empty()) return token_;
    struct stat st {};
    if (::stat(file_.c_str(), &st) != 0) return token_;
    std::lock_guard lock(mu_);
    if (st.st_mtim.tv_sec != mtime_ || st.st_ino != inode_) {
      std::ifstream in(file_);
      std::ostringstream text;
      text << in.rdbuf();
      token_ = text.str();
      while (!token_.empty() && (token_.back() == '\n' || token_.back() == '\r')) token_.pop_back();
      mtime_ = st.st_mtim.tv_sec;
      inode_ = st.st_ino;
    }
    return token_;
  }

 private:
  std::mutex mu_;
  std::string token_;
  std::string file_;
  time_t mtime_ = 0;
  ino_t inode_ = 0;
};

class CppRestKubeClient final : public KubeClient {
 public:
  explicit CppRestKubeClient(const KubeConfig& config)
      : config_(config), tokens_(config),
        requests_(config.server, clientConfig(config, kRequestTimeout)),
        watches_(config.server, clientConfig(config, kWatchTimeout)) {}

  Expected<KubeResponse> request(std::string_view method, const std::string& path, const std::string& body,
                                 std::string_view contentType) override {
    // cpprest reuses pooled keep-alive connections; after an apiserver restart each dead
    // one fails a request once ("Failed to write request body") and leaves the pool.
    // Immediate retries, up to more than the pool holds here, reach a fresh connection. It is safe for what the controller sends: reads,
    // updates with a resourceVersion precondition, and Events (a duplicate is harmless).
    std::string lastError;
    for (int attempt = 0; attempt < kTransportAttempts; ++attempt) {
      try {
        http::http_request req = makeRequest(method, path);
        if (!body.empty()) req.set_body(body, std::string(contentType));
        http::http_response response = requests_.request(req).get();
        KubeResponse out;
        out.status = response.status_code();
        out.body = response.extract_utf8string(true).get();
        return out;
      } catch (const std::exception& e) {
        lastError = e.what();
      }
    }
    return makeError(std::string(method) + " " + config_.server + path + ": " + lastError);
  }

  Expected<int> watch(const std::string& path, const std::function<bool(std::string_view)>& onLine,
                      WatchCancel& cancel) override {
    pplx::cancellation_token_source cts;
    cancel.setHook([cts]() mutable { cts.cancel(); });
    struct Unhook {
      WatchCancel& c;
      ~Unhook() { c.setHook(nullptr); }
    } unhook{cancel};
    try {
      http::http_response response = watches_.request(makeRequest("GET", path), cts.get_token()).get();
      const int status = response.status_code();
      if (status != http::status_codes::OK) return status;
      auto stream = response.body().streambuf();
      std::string pending;
      std::vector<uint8_t> chunk(64 * 1024);
      for (;;) {
        // bumpc waits for the next byte; then in_avail says how much more is already
        // here. (getn(buf, N) would wait for N bytes or the end of the stream.)
        const auto first = stream.bumpc().get();
        if (first == std::char_traits<uint8_t>::eof()) break;
        pending.push_back(static_cast<char>(first));
        for (size_t avail = stream.in_avail(); avail > 0; avail = stream.in_avail()) {
          const size_t n = stream.getn(chunk.data(), std::min(avail, chunk.size())).get();
          if (n == 0) break;
          pending.append(reinterpret_cast<const char*>(chunk.data()), n);
        }
        size_t start = 0;
        for (size_t eol; (eol = pending.find('\n', start)) != std::string::npos; start = eol + 1) {
          if (eol > start && !onLine(std::string_view(pending).substr(start, eol - start))) {
            cts.cancel();
            return status;
          }
        }
        pending.erase(0, start);
      }
      return status;
    } catch (const std::exception& e) {
      if (cancel.cancelled()) return 0;
      return makeError("watch " + config_.server + path + ": " + e.what());
    }
  }

 private:
  static http::client::http_client_config clientConfig(const KubeConfig& config, std::chrono::seconds timeout) {
    http::client::http_client_config c;
    c.set_timeout(timeout);
    c.set_validate_certificates(!config.insecureSkipTlsVerify);
    const std::string ca = config.caPem;
    const std::string cert = config.clientCertPem;
    const std::string key = config.clientKeyPem;
    c.set_ssl_context_callback([ca, cert, key](boost::asio::ssl::context& ctx) {
      SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
      if (!ca.empty()) ctx.add_certificate_authority(boost::asio::buffer(ca));
      if (!cert.empty()) {
        ctx.use_certificate_chain(boost::asio::buffer(cert));
        ctx.use_private_key(boost::asio::buffer(key), boost::asio::ssl::context::pem);
      }
    });
    return c;
  }

  http::http_request makeRequest(std::string_view method, const std::string& path) {
    http::http_request req{http::method(method)};
    req.set_request_uri(path);
    req.headers().add("Accept", "application/json");
    req.headers().add("User-Agent", "portico");
    if (const std::string token = tokens_.current(); !token.empty())
      req.headers().add("Authorization", "Bearer " + token);
    return req;
  }

  KubeConfig config_;
  TokenSource tokens_;
  http::client::http_client requests_;
  http::client::http_client watches_;
};

}  // namespace

std::unique_ptr<KubeClient> makeKubeClient(const KubeConfig& config) {
  // Before any other cpprest call: its default pool has 40 threads; the I/O here is a
  // handful of watches and status writes.
  static std::once_flag poolSized;
  std::call_once(poolSized, [] { crossplat::threadpool::initialize_with_threads(2); });
  return std::make_unique<CppRestKubeClient>(config);
}

}  // namespace portico::controller
