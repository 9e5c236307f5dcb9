#include "controller/informer/reflector.h"

#include <random>

#include <spdlog/spdlog.h>

#include "controller/objects/object_trim.h"

namespace portico::controller {

namespace {
constexpr auto kMinBackoff = std::chrono::milliseconds(800);
constexpr auto kMaxBackoff = std::chrono::milliseconds(30000);
constexpr auto kHealthyReset = std::chrono::minutes(2);
constexpr int kPageSize = 500;

std::string statusMessage(const std::string& body) {
  auto status = nlohmann::json::parse(body, nullptr, false);
  if (status.is_object() && status.contains("message")) return status["message"].get<std::string>();
  return body.substr(0, 200);
}
}  // namespace

ResourcePath resourcePath(Kind kind) {
  switch (kind) {
    case Kind::Ingress: return {"/apis/networking.k8s.io/v1", "ingresses", true};
    case Kind::IngressClass: return {"/apis/networking.k8s.io/v1", "ingressclasses", false};
    case Kind::Service: return {"/api/v1", "services", true};
    case Kind::EndpointSlice: return {"/apis/discovery.k8s.io/v1", "endpointslices", true};
    case Kind::Secret: return {"/api/v1", "secrets", true};
    case Kind::APIRoute: return {"/apis/portico.dev/v1alpha1", "apiroutes", true};
    case Kind::GatewayClass: return {"/apis/gateway.networking.k8s.io/v1", "gatewayclasses", false};
    case Kind::Gateway: return {"/apis/gateway.networking.k8s.io/v1", "gateways", true};
    case Kind::HTTPRoute: return {"/apis/gateway.networking.k8s.io/v1", "httproutes", true};
    case Kind::ReferenceGrant: return {"/apis/gateway.networking.k8s.io/v1", "referencegrants", true};
    case Kind::Namespace: return {"/api/v1", "namespaces", false};
  }
  return {};
}

std::string collectionPath(Kind kind, const std::string& ns) {
  const ResourcePath p = resourcePath(kind);
  if (!p.namespaced || ns.empty()) return p.apiPrefix + "/" + p.plural;
  return p.apiPrefix + "/namespaces/" + ns + "/" + p.plural;
}

Reflector::Reflector(KubeClient& client, ObjectStore& store, Kind kind, std::string ns)
    : client_(client), store_(store), kind_(kind), namespace_(std::move(ns)),
      path_(collectionPath(kind, namespace_)) {
  store_.expect(kind_, namespace_);
}

Reflector::~Reflector() { stop(); }

void Reflector::start() { thread_ = std::thread([this] { run(); }); }

void Reflector::stop() {
  stopping_ = true;
  cancel_.cancel();
  if (thread_.joinable()) thread_.join();
}

void Reflector::sleepFor(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (!stopping_ && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

Expected<std::string> Reflector::list() {
  std::vector<nlohmann::json> items;
  std::string continueToken;
  std::string resourceVersion;
  do {
    std::string url = path_ + "?limit=" + std::to_string(kPageSize);
    if (!continueToken.empty()) url += "&continue=" + continueToken;
    auto response = client_.request("GET", url);
    if (!response) return response.error();
    if (response->status == 410 && !continueToken.empty()) {
      // The continue token expired mid-list: start over.
      items.clear();
      continueToken.clear();
      continue;
    }
    if (response->status != 200)
      return makeError("list " + path_ + ": HTTP " + std::to_string(response->status) + ": " +
                       statusMessage(response->body));
    auto page = nlohmann::json::parse(response->body, nullptr, false);
    if (!page.is_object()) return makeError("list " + path_ + ": response is not JSON");
    for (auto& item : page["items"]) {
      // The store trims too; trimming each page's items here keeps a long list small.
      trimObject(kind_, item);
      items.push_back(std::move(item));
    }
    const auto& meta = page["metadata"];
    continueToken = meta.value("continue", "");
    resourceVersion = meta.value("resourceVersion", "");
  } while (!continueToken.empty());
  store_.replace(kind_, namespace_, std::move(items));
  return resourceVersion;
}

Expected<bool> Reflector::watch(std::string& resourceVersion) {
  static thread_local std::mt19937 random{std::random_device{}()};
  // A random 5-10 minute server-side timeout spreads reconnects over time.
  const int timeoutSeconds = std::uniform_int_distribution<int>(300, 600)(random);
  const std::string url = path_ + "?watch=1&allowWatchBookmarks=true&resourceVersion=" + resourceVersion +
                          "&timeoutSeconds=" + std::to_string(timeoutSeconds);
  bool relist = false;
  std::string problem;
  auto status = client_.watch(
      url,
      [&](std::string_view line) {
        auto event = nlohmann::json::parse(line, nullptr, false);
        if (!event.is_object() || !event.contains("type") || !event.contains("object")) {
          problem = "unparsable watch event";
          return false;
        }
        const std::string type = event["type"];
        auto& object = event["object"];
        if (type == "ERROR") {
          if (object.value("code", 0) == 410) relist = true;
          else problem = "watch error: " + object.value("message", std::string("unknown"));
          return false;
        }
        if (auto rv = object["metadata"].value("resourceVersion", ""); !rv.empty()) resourceVersion = rv;
        if (type == "BOOKMARK") return true;
        if (type == "DELETED") store_.remove(kind_, object);
        else store_.upsert(kind_, std::move(object));
        return true;
      },
      cancel_);
  if (!status) return status.error();
  if (*status == 410) return true;
  if (*status != 200 && *status != 0) return makeError("watch " + path_ + ": HTTP " + std::to_string(*status));
  if (!problem.empty()) return makeError("watch " + path_ + ": " + problem);
  return relist;
}

void Reflector::run() {
  std::mt19937 random{std::random_device{}()};
  auto backoff = kMinBackoff;
  auto fail = [&](const std::string& message) {
    if (stopping_) return;
    // Full jitter between the current step and twice it, as client-go does.
    const auto wait = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(
        backoff.count(), 2 * backoff.count())(random));
    spdlog::warn("{}: {}; retrying in {} ms", kindName(kind_), message, wait.count());
    sleepFor(wait);
    backoff = std::min(backoff * 2, kMaxBackoff);
  };
  // The same wait without a warning: a missing CRD is logged once, not every 30 s.
  auto quietFail = [&] {
    const auto wait = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(
        backoff.count(), 2 * backoff.count())(random));
    sleepFor(wait);
    backoff = std::min(backoff * 2, kMaxBackoff);
  };
  bool reportedMissing = false;
  bool needList = true;
  bool listedOnce = false;
  std::string resourceVersion;
  while (!stopping_) {
    if (needList) {
      auto rv = list();
      if (!rv) {
        if (rv.error().message.find("HTTP 404") != std::string::npos && isCustomKind(kind_) && !listedOnce) {
          // The CRD is not installed: serve the other kinds meanwhile and look again later
          // (the backoff tops out at 30 s, so a CRD installed later is picked up). Only
          // before the first successful list: a restarting apiserver also answers 404 for
          // custom resources until it has loaded the CRDs, and that must not empty the cache.
          store_.replace(kind_, namespace_, {});
          if (!reportedMissing) {
            spdlog::info("{}: not served by this cluster (CRD not installed?); watching nothing for it "
                         "and checking again with backoff",
                         kindName(kind_));
            reportedMissing = true;
          }
          quietFail();
          continue;
        }
        fail(rv.error().message);
        continue;
      }
      resourceVersion = *rv;
      needList = false;
      listedOnce = true;
      spdlog::info("{}: listed at resourceVersion {}", kindName(kind_), resourceVersion);
    }
    const auto started = std::chrono::steady_clock::now();
    auto relist = watch(resourceVersion);
    if (stopping_) break;
    if (std::chrono::steady_clock::now() - started > kHealthyReset) backoff = kMinBackoff;
    if (!relist) {
      fail(relist.error().message);
      continue;
    }
    if (*relist) {
      spdlog::info("{}: resourceVersion {} expired (410 Gone), relisting", kindName(kind_), resourceVersion);
      needList = true;
    }
    // Otherwise the server closed the watch normally: watch again from the last version.
  }
}

}  // namespace portico::controller
