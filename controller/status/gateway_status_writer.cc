#include "controller/status/gateway_status_writer.h"

#include <set>

#include <spdlog/spdlog.h>

#include "controller/render/gateway_status.h"

namespace portico::controller {
namespace {

using json = nlohmann::json;

std::string metaString(const json& object, const char* key) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return {};
  auto it = meta->find(key);
  return it != meta->end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The status subresource of a Gateway API object (the informer's resourcePath is not a
// dependency of this layer; these three are all the writer needs).
std::string statusPath(Kind kind, const std::string& ns, const std::string& name) {
  const std::string prefix = "/apis/gateway.networking.k8s.io/v1";
  if (kind == Kind::GatewayClass) return prefix + "/gatewayclasses/" + name + "/status";
  const char* plural = kind == Kind::Gateway ? "gateways" : "httproutes";
  return prefix + "/namespaces/" + ns + "/" + plural + "/" + name + "/status";
}

// Another controller's entries in an HTTPRoute's status.parents.
bool hasForeignParents(const json& object, const std::string& controllerName) {
  auto status = object.find("status");
  if (status == object.end() || !status->is_object()) return false;
  auto parents = status->find("parents");
  if (parents == status->end() || !parents->is_array()) return false;
  for (const auto& p : *parents) {
    if (p.is_object() && p.value("controllerName", std::string()) != controllerName) return true;
  }
  return false;
}

}  // namespace

json gatewayAddresses(const json& loadBalancerIngress) {
  json out = json::array();
  if (!loadBalancerIngress.is_array()) return out;
  for (const auto& e : loadBalancerIngress) {
    if (e.contains("ip")) out.push_back({{"type", "IPAddress"}, {"value", e["ip"]}});
    else if (e.contains("hostname")) out.push_back({{"type", "Hostname"}, {"value", e["hostname"]}});
  }
  return out;
}

void GatewayStatusWriter::write(const StoreSnapshot& snapshot, bool published, const json& addresses,
                                const std::string& now, const std::function<bool()>& isLeader, WriteTally& tally) {
  if (snapshot.objects(Kind::GatewayClass).empty()) {
    written_.clear();
    return;
  }
  std::set<std::string> present;
  for (const GatewayApiStatus& s : computeGatewayApiStatuses(snapshot, options_, published, addresses, now)) {
    const std::string key = std::string(kindName(s.kind)) + " " + s.ns + "/" + s.name;
    present.insert(key);
    const json desired = withoutTransitionTimes(s.status);
    const json& object = *s.object;
    const std::string uid = metaString(object, "uid");
    const std::string rv = metaString(object, "resourceVersion");
    if (auto it = written_.find(key); it != written_.end()) {
      if (it->second.uid == uid && it->second.basedOn == rv) {
        if (it->second.status == desired) continue;  // the snapshot predates our write
      } else {
        written_.erase(it);
      }
    }
    auto live = object.find("status");
    if (live != object.end() && withoutTransitionTimes(*live) == desired) continue;
    if (!isLeader()) {
      tally.notLeader = true;
      return;
    }
    json patch = {{"status", s.status}};
    if (s.kind == Kind::HTTPRoute && hasForeignParents(object, options_.gatewayControllerName) && !rv.empty())
      patch["metadata"] = {{"resourceVersion", rv}};
    auto r = client_.request("PATCH", statusPath(s.kind, s.ns, s.name), patch.dump(), "application/merge-patch+json");
    if (r && r->status == 200) {
      ++tally.writes;
      written_[key] = Written{uid, rv, desired};
    } else if (r && r->status == 404) {
      written_.erase(key);
    } else if (!r || r->status == 409 || r->status == 429 || r->status >= 500) {
      ++tally.retryable;
      spdlog::warn("status: {}: {}", key, r ? "HTTP " + std::to_string(r->status) : r.error().message);
    } else {
      spdlog::error("status: {} rejected: HTTP {}: {}", key, r->status, r->body.substr(0, 300));
    }
  }
  for (auto it = written_.begin(); it != written_.end();) it = present.count(it->first) ? std::next(it) : written_.erase(it);
}

}  // namespace portico::controller
