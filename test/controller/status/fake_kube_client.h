// A KubeClient for status and leader-election tests: records every request, answers from
// per-(method, path) scripts, then from an optional handler, then 200 "{}". FakeLeaseApi is
// a handler that keeps Leases like the API server does (resourceVersion preconditions,
// 404, 409 AlreadyExists/Conflict), with switches to fail or stall requests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/kube/kube_client.h"

namespace portico::controller::test {

struct RecordedRequest {
  std::string method;
  std::string path;
  std::string body;
  std::string contentType;
  nlohmann::json json() const { return body.empty() ? nlohmann::json() : nlohmann::json::parse(body); }
};

class FakeKubeClient : public KubeClient {
 public:
  using Handler = std::function<std::optional<Expected<KubeResponse>>(const RecordedRequest&)>;

  Expected<KubeResponse> request(std::string_view method, const std::string& path, const std::string& body,
                                 std::string_view contentType) override {
    RecordedRequest req{std::string(method), path, body, std::string(contentType)};
    Handler handler;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(req);
      auto it = scripts_.find({req.method, path});
      if (it != scripts_.end() && !it->second.empty()) {
        auto response = it->second.front();
        it->second.pop_front();
        return response;
      }
      handler = handler_;
    }
    if (handler) {
      if (auto response = handler(req)) return *response;
    }
    return KubeResponse{200, "{}"};
  }

  Expected<int> watch(const std::string&, const std::function<bool(std::string_view)>&, WatchCancel&) override {
    return makeError("FakeKubeClient: watch not supported");
  }

  // The next request with this method and path gets this answer (FIFO per key).
  void script(const std::string& method, const std::string& path, int status, std::string body = "{}") {
    std::lock_guard lock(mu_);
    scripts_[{method, path}].push_back(KubeResponse{status, std::move(body)});
  }
  void scriptError(const std::string& method, const std::string& path, const std::string& message) {
    std::lock_guard lock(mu_);
    scripts_[{method, path}].push_back(makeError(message));
  }
  void setHandler(Handler handler) {
    std::lock_guard lock(mu_);
    handler_ = std::move(handler);
  }

  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<RecordedRequest> requests(const std::string& method) const {
    std::lock_guard lock(mu_);
    std::vector<RecordedRequest> out;
    for (const auto& r : requests_) {
      if (r.method == method) out.push_back(r);
    }
    return out;
  }
  void clear() {
    std::lock_guard lock(mu_);
    requests_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<RecordedRequest> requests_;
  std::map<std::pair<std::string, std::string>, std::deque<Expected<KubeResponse>>> scripts_;
  Handler handler_;
};

// Leases in memory, served like the API server serves coordination.k8s.io/v1.
class FakeLeaseApi {
 public:
  // Installs itself as `client`'s handler.
  void attach(FakeKubeClient& client) {
    client.setHandler([this](const RecordedRequest& r) { return handle(r); });
  }

  std::optional<nlohmann::json> lease(const std::string& ns, const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = leases_.find(ns + "/" + name);
    if (it == leases_.end()) return std::nullopt;
    return it->second;
  }
  // Writes a lease as another client would (bumps the resourceVersion).
  void put(const std::string& ns, const std::string& name, nlohmann::json spec) {
    std::lock_guard lock(mu_);
    leases_[ns + "/" + name] = {{"apiVersion", "coordination.k8s.io/v1"},
                                {"kind", "Lease"},
                                {"metadata",
                                 {{"name", name}, {"namespace", ns}, {"resourceVersion", std::to_string(++rv_)}}},
                                {"spec", std::move(spec)}};
  }
  // Every request fails with a transport error.
  void setFailing(bool failing) {
    std::lock_guard lock(mu_);
    failing_ = failing;
  }
  // Every request waits this long before it is answered.
  void setStall(std::chrono::milliseconds stall) {
    std::lock_guard lock(mu_);
    stall_ = stall;
  }
  // The next PUT is answered 409 Conflict, as if another writer got in between.
  void conflictNextUpdate() {
    std::lock_guard lock(mu_);
    conflictNext_ = true;
  }

  std::optional<Expected<KubeResponse>> handle(const RecordedRequest& r) {
    std::chrono::milliseconds stall{0};
    {
      std::lock_guard lock(mu_);
      stall = stall_;
    }
    if (stall.count() > 0) std::this_thread::sleep_for(stall);
    std::lock_guard lock(mu_);
    if (failing_) return Expected<KubeResponse>(makeError("connection refused"));
    const std::string prefix = "/apis/coordination.k8s.io/v1/namespaces/";
    if (r.path.rfind(prefix, 0) != 0) return std::nullopt;
    const std::string rest = r.path.substr(prefix.size());  // NS/leases[/NAME]
    const size_t slash = rest.find('/');
    const std::string ns = rest.substr(0, slash);
    const std::string tail = rest.substr(slash + 1);  // leases[/NAME]
    const size_t slash2 = tail.find('/');
    const std::string name = slash2 == std::string::npos ? std::string() : tail.substr(slash2 + 1);
    if (r.method == "POST") {
      nlohmann::json body = r.json();
      const std::string key = ns + "/" + body["metadata"]["name"].get<std::string>();
      if (leases_.count(key)) return KubeResponse{409, R"({"kind":"Status","reason":"AlreadyExists"})"};
      body["metadata"]["resourceVersion"] = std::to_string(++rv_);
      leases_[key] = body;
      return KubeResponse{201, body.dump()};
    }
    const std::string key = ns + "/" + name;
    auto it = leases_.find(key);
    if (r.method == "GET") {
      if (it == leases_.end()) return KubeResponse{404, R"({"kind":"Status","reason":"NotFound"})"};
      return KubeResponse{200, it->second.dump()};
    }
    if (r.method == "PUT") {
      if (it == leases_.end()) return KubeResponse{404, R"({"kind":"Status","reason":"NotFound"})"};
      nlohmann::json body = r.json();
      if (conflictNext_ || body["metadata"].value("resourceVersion", "") != it->second["metadata"]["resourceVersion"]) {
        conflictNext_ = false;
        return KubeResponse{409, R"({"kind":"Status","reason":"Conflict"})"};
      }
      body["metadata"]["resourceVersion"] = std::to_string(++rv_);
      it->second = body;
      return KubeResponse{200, body.dump()};
    }
    return KubeResponse{405, "{}"};
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> leases_;
  uint64_t rv_ = 100;
  bool failing_ = false;
  bool conflictNext_ = false;
  std::chrono::milliseconds stall_{0};
};

// Polls `predicate` until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& predicate,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return predicate();
}

}  // namespace portico::controller::test
