#include "controller/informer/object_store.h"

namespace portico::controller {

const char* kindName(Kind kind) {
  switch (kind) {
    case Kind::Ingress: return "Ingress";
    case Kind::IngressClass: return "IngressClass";
    case Kind::Service: return "Service";
    case Kind::EndpointSlice: return "EndpointSlice";
    case Kind::Secret: return "Secret";
    case Kind::APIRoute: return "APIRoute";
  }
  return "?";
}

std::string ObjectStore::keyOf(const nlohmann::json& object) {
  const auto& meta = object.at("metadata");
  return meta.value("namespace", "") + "/" + meta.value("name", "");
}

void ObjectStore::changed() {
  ++generation_;
  lastChange_ = std::chrono::steady_clock::now();
  cv_.notify_all();
}

void ObjectStore::expect(Kind kind, const std::string& scope) {
  std::lock_guard lock(mu_);
  pending_.emplace(kind, scope);
}

void ObjectStore::replace(Kind kind, const std::string& scope, std::vector<nlohmann::json> items) {
  std::map<std::string, nlohmann::json> fresh;
  for (auto& item : items) fresh.emplace(keyOf(item), std::move(item));
  std::lock_guard lock(mu_);
  auto& current = objects_[kind];
  std::map<std::string, nlohmann::json> next;
  if (!scope.empty()) {
    const std::string prefix = scope + "/";
    for (const auto& [key, object] : current)
      if (!key.starts_with(prefix)) next.emplace(key, object);
  }
  next.merge(fresh);
  const bool firstList = pending_.erase({kind, scope}) > 0;
  // A relist after a reconnect usually brings back what the cache has: no new render.
  if (next == current && !firstList) return;
  current = std::move(next);
  changed();
}

namespace {
// Render reads neither status nor the resourceVersion. Portico's own status writes come
// back as watch events that change only those; they must not cause another render.
bool sameForRender(const nlohmann::json& a, const nlohmann::json& b) {
  auto strip = [](nlohmann::json o) {
    o.erase("status");
    if (auto meta = o.find("metadata"); meta != o.end()) meta->erase("resourceVersion");
    return o;
  };
  return strip(a) == strip(b);
}
}  // namespace

void ObjectStore::upsert(Kind kind, nlohmann::json object) {
  std::string key = keyOf(object);
  std::lock_guard lock(mu_);
  auto& slot = objects_[kind][std::move(key)];
  const bool renderRelevant = slot.is_null() || !sameForRender(slot, object);
  slot = std::move(object);  // kept even so: the status writer reads the current status
  if (renderRelevant) changed();
}

void ObjectStore::remove(Kind kind, const nlohmann::json& object) {
  const std::string key = keyOf(object);
  std::lock_guard lock(mu_);
  if (objects_[kind].erase(key)) changed();
}

uint64_t ObjectStore::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

bool ObjectStore::synced() const {
  std::lock_guard lock(mu_);
  return pending_.empty();
}

std::chrono::steady_clock::time_point ObjectStore::lastChange() const {
  std::lock_guard lock(mu_);
  return lastChange_;
}

uint64_t ObjectStore::waitForChange(uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return generation_ != seen; });
  return generation_;
}

ObjectSnapshot ObjectStore::snapshot() const {
  ObjectSnapshot snap;
  std::lock_guard lock(mu_);
  auto copy = [this](Kind kind, std::vector<nlohmann::json>& out) {
    auto it = objects_.find(kind);
    if (it == objects_.end()) return;
    out.reserve(it->second.size());
    for (const auto& [key, object] : it->second) out.push_back(object);
  };
  copy(Kind::APIRoute, snap.apiRoutes);
  copy(Kind::Secret, snap.secrets);
  copy(Kind::Ingress, snap.ingresses);
  copy(Kind::IngressClass, snap.ingressClasses);
  copy(Kind::Service, snap.services);
  copy(Kind::EndpointSlice, snap.endpointSlices);
  return snap;
}

}  // namespace portico::controller
