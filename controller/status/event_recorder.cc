#include "controller/status/event_recorder.h"

#include <cstdio>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

namespace portico::controller {

using json = nlohmann::json;
using Steady = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxTracked = 10000;
constexpr auto kForgetAfter = std::chrono::hours(2);  // longer than the default event TTL

std::optional<Kind> kindOf(const std::string& kind) {
  for (Kind k : kAllKinds) {
    if (kind == kindName(k)) return k;
  }
  return std::nullopt;
}

const char* apiVersionOfKind(const std::string& kind) {
  if (kind == "APIRoute") return "portico.dev/v1alpha1";
  if (kind == "Ingress" || kind == "IngressClass") return "networking.k8s.io/v1";
  if (kind == "EndpointSlice") return "discovery.k8s.io/v1";
  if (kind == "GatewayClass" || kind == "Gateway" || kind == "HTTPRoute" || kind == "ReferenceGrant")
    return "gateway.networking.k8s.io/v1";
  return "v1";
}

std::string str(const json& object, const char* field) {
  auto it = object.find(field);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool retryableStatus(int status) { return status == 429 || status >= 500; }

}  // namespace

json involvedObjectFor(const ObjectRef& ref, const StoreSnapshot& objects) {
  json involved = {{"kind", ref.kind}, {"name", ref.name}, {"apiVersion", apiVersionOfKind(ref.kind)}};
  if (!ref.ns.empty()) involved["namespace"] = ref.ns;
  if (const auto kind = kindOf(ref.kind)) {
    if (const json* found = objects.find(*kind, ref.ns + "/" + ref.name)) {
      const json& o = *found;
      const json& meta = o.value("metadata", json::object());
      if (auto uid = str(meta, "uid"); !uid.empty()) involved["uid"] = uid;
      if (auto rv = str(meta, "resourceVersion"); !rv.empty()) involved["resourceVersion"] = rv;
      if (auto av = str(o, "apiVersion"); !av.empty()) involved["apiVersion"] = av;
    }
  }
  return involved;
}

EventRecorder::EventRecorder(KubeClient& client, EventRecorderOptions options)
    : client_(client), options_(std::move(options)) {}

WallClock::time_point EventRecorder::now() const { return options_.now ? options_.now() : WallClock::now(); }

bool EventRecorder::create(const Diagnostic& d, const json& involved, const std::string& key, WriteTally& tally) {
  const std::string ns = d.object.ns.empty() ? "default" : d.object.ns;
  const auto t = now();
  const std::string ts = formatKubeTime(t);
  // client-go's naming: <object>.<unix nanos in hex>; the sequence keeps it unique per process.
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, "%llx",
                static_cast<unsigned long long>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count()) +
                    sequence_++);
  const std::string name = d.object.name + "." + suffix;
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"involvedObject", involved},
                {"reason", d.reason},
                {"message", d.message},
                {"type", "Warning"},
                {"source", {{"component", options_.component}}},
                {"reportingComponent", options_.reportingController},
                {"reportingInstance", options_.reportingInstance},
                {"firstTimestamp", ts},
                {"lastTimestamp", ts},
                {"count", 1}};
  auto r = client_.request("POST", "/api/v1/namespaces/" + ns + "/events", event.dump());
  if (r && (r->status == 201 || r->status == 200)) {
    ++tally.writes;
    seen_[key] = Seen{ns, name, 1, ts, Steady::now(), true};
    return true;
  }
  if (!r || retryableStatus(r->status)) {
    ++tally.retryable;
    spdlog::warn("event for {}: {}", d.object.toString(), r ? "HTTP " + std::to_string(r->status) : r.error().message);
  } else {
    // 403, 422...: retrying the same request gives the same answer.
    spdlog::error("event for {} rejected: HTTP {}: {}", d.object.toString(), r->status, r->body);
  }
  return false;
}

void EventRecorder::record(const std::vector<Diagnostic>& diagnostics, const StoreSnapshot& objects,
                           const std::function<bool()>& isLeader, WriteTally& tally) {
  std::set<std::string> present;
  for (const auto& d : diagnostics) {
    const json involved = involvedObjectFor(d.object, objects);
    const std::string uid = str(involved, "uid");
    const std::string key = (uid.empty() ? d.object.toString() : uid) + '\n' + d.reason + '\n' + d.message;
    if (!present.insert(key).second) continue;  // the same finding twice in one render
    auto it = seen_.find(key);
    if (it != seen_.end() && it->second.active && Steady::now() - it->second.lastWritten < options_.refresh) continue;
    if (!isLeader()) {
      tally.notLeader = true;
      present.erase(key);
      break;
    }
    if (it == seen_.end()) {
      if (!create(d, involved, key, tally)) present.erase(key);
      continue;
    }
    // It came back, or it is due for a refresh: count it on the existing Event.
    Seen& s = it->second;
    const std::string ts = formatKubeTime(now());
    const json patch = {{"count", s.count + 1}, {"lastTimestamp", ts}};
    auto r = client_.request("PATCH", "/api/v1/namespaces/" + s.ns + "/events/" + s.eventName, patch.dump(),
                             "application/merge-patch+json");
    if (r && r->status == 200) {
      ++tally.writes;
      ++s.count;
      s.lastWritten = Steady::now();
      s.active = true;
    } else if (r && r->status == 404) {
      seen_.erase(it);  // expired: start a new one
      if (!create(d, involved, key, tally)) present.erase(key);
    } else {
      present.erase(key);
      if (!r || retryableStatus(r->status)) {
        ++tally.retryable;
      } else {
        seen_.erase(it);
      }
      spdlog::warn("updating event {}/{}: {}", s.ns, s.eventName,
                   r ? "HTTP " + std::to_string(r->status) : r.error().message);
    }
  }
  if (tally.notLeader) return;  // unvisited findings keep their state
  const auto cutoff = Steady::now() - kForgetAfter;
  for (auto it = seen_.begin(); it != seen_.end();) {
    it->second.active = present.count(it->first) > 0;
    if (!it->second.active && (it->second.lastWritten < cutoff || seen_.size() > kMaxTracked)) {
      it = seen_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace portico::controller
