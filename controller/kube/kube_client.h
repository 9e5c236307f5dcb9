// The Kubernetes API as the controller needs it: plain requests and line-by-line watch
// streams. One interface, so the rest of the controller never sees cpprestsdk (which
// lives in cpprest_kube_client.cc only) and tests can substitute a fake.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "proxy/common/expected.h"

namespace portico::controller {

// Where and how to reach the API server (from a kubeconfig or the pod's service account).
struct KubeConfig {
  std::string server;         // "https://10.0.0.1:443"
  std::string caPem;          // empty: system trust store
  std::string clientCertPem;  // client certificate authentication
  std::string clientKeyPem;
  std::string token;          // bearer token, if not read from tokenFile
  std::string tokenFile;      // re-read when it changes (projected, rotating tokens)
  bool insecureSkipTlsVerify = false;  // development only
  std::string describe() const;        // "https://host:port (client certificate, CA from kubeconfig)"
};

// The current context of a kubeconfig file. Fails naming the file and the missing field.
[[nodiscard]] Expected<KubeConfig> loadKubeconfig(const std::string& path);
// KUBERNETES_SERVICE_HOST/PORT and /var/run/secrets/kubernetes.io/serviceaccount.
[[nodiscard]] Expected<KubeConfig> inClusterConfig();

struct KubeResponse {
  int status = 0;    // HTTP status
  std::string body;  // JSON text (a Status object on errors)
};

// Cancels a watch from another thread; the watch returns soon after.
class WatchCancel {
 public:
  void cancel() {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    if (hook_) hook_();
  }
  bool cancelled() const {
    std::lock_guard lock(mu_);
    return cancelled_;
  }
  // The client's way to abort its open stream; runs at once if already cancelled.
  void setHook(std::function<void()> hook) {
    std::lock_guard lock(mu_);
    hook_ = std::move(hook);
    if (cancelled_ && hook_) hook_();
  }

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::function<void()> hook_;
};

class KubeClient {
 public:
  virtual ~KubeClient() = default;

  // One request. `path` starts with "/" and includes the query ("/api/v1/secrets?limit=500").
  // Fails only on transport errors (message says server, path and cause); any HTTP
  // status is a KubeResponse.
  [[nodiscard]] virtual Expected<KubeResponse> request(std::string_view method, const std::string& path,
                                                       const std::string& body = {},
                                                       std::string_view contentType = "application/json") = 0;

  // Opens a watch (path includes "watch=1" and the resourceVersion) and calls onLine for
  // every complete line (one JSON event each) until the server ends the stream, onLine
  // returns false, or `cancel` fires. Returns the HTTP status of the watch response (200
  // when it streamed), or an Error on transport failure.
  [[nodiscard]] virtual Expected<int> watch(const std::string& path,
                                            const std::function<bool(std::string_view line)>& onLine,
                                            WatchCancel& cancel) = 0;
};

// The cpprestsdk implementation (cpprest_kube_client.cc).
std::unique_ptr<KubeClient> makeKubeClient(const KubeConfig& config);

}  // namespace portico::controller
