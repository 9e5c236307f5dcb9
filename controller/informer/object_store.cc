#include "controller/informer/object_store.h"

#include <algorithm>
#include <string_view>

#include "controller/objects/object_trim.h"

namespace portico::controller {

namespace {
// Whether two objects have the same members apart from `skip`, compared in place: a copy
// of each object per watch event would be 8 KB of garbage between the objects it keeps.
bool equalExcept(const nlohmann::json& a, const nlohmann::json& b, std::string_view skip,
                 bool (*sameMember)(std::string_view key, const nlohmann::json&, const nlohmann::json&)) {
  if (!a.is_object() || !b.is_object()) return a == b;
  auto counted = [&](const nlohmann::json& o) { return o.size() - (o.contains(skip) ? 1 : 0); };
  if (counted(a) != counted(b)) return false;
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (it.key() == skip) continue;
    auto other = b.find(it.key());
    if (other == b.end() || !sameMember(it.key(), *it, *other)) return false;
  }
  return true;
}

bool sameValue(std::string_view, const nlohmann::json& a, const nlohmann::json& b) { return a == b; }

const nlohmann::json* statusAddresses(const nlohmann::json& object) {
  auto status = object.find("status");
  if (status == object.end() || !status->is_object()) return nullptr;
  auto addresses = status->find("addresses");
  return addresses == status->end() ? nullptr : &*addresses;
}

// Render reads neither status nor the resourceVersion. Portico's own status writes come
// back as watch events that change only those; they must not cause another render. The
// exception: a Gateway's status.addresses, which holds its --gateway-addresses allocation
// (controller/render/gateway_addresses.h); that changes once per Gateway.
bool sameForRender(Kind kind, const nlohmann::json& a, const nlohmann::json& b) {
  const bool same = equalExcept(a, b, "status", [](std::string_view key, const nlohmann::json& x, const nlohmann::json& y) {
    return key == "metadata" ? equalExcept(x, y, "resourceVersion", sameValue) : x == y;
  });
  if (!same || kind != Kind::Gateway) return same;
  const nlohmann::json* x = statusAddresses(a);
  const nlohmann::json* y = statusAddresses(b);
  return x == y || (x && y && *x == *y);
}

// Copy-on-write: the maps are created non-const (make_shared<T>), so casting const away is
// sound once no snapshot shares them. use_count() is read under the store's mutex; other
// threads can only drop references meanwhile (taking one needs the mutex), so a stale count
// only costs an unneeded copy.
template <class T>
T& unshare(std::shared_ptr<const T>& slot) {
  if (slot.use_count() != 1) slot = std::make_shared<T>(*slot);
  return *std::const_pointer_cast<T>(slot);
}
}  // namespace

ObjectStore::ObjectStore() = default;

void ObjectStore::changed() {
  ++generation_;
  lastChange_ = std::chrono::steady_clock::now();
  cv_.notify_all();
}

ObjectMap& ObjectStore::mutableMap(Kind kind) { return unshare(current_.kinds_[static_cast<size_t>(kind)]); }

SliceIndex& ObjectStore::mutableSlices() { return unshare(current_.slices_); }

void ObjectStore::indexSlice(const ObjectPtr& before, const ObjectPtr& after) {
  const std::string oldService = before ? sliceServiceKey(*before) : std::string();
  const std::string newService = after ? sliceServiceKey(*after) : std::string();
  if (oldService.empty() && newService.empty()) return;
  SliceIndex& index = mutableSlices();
  if (!oldService.empty()) {
    auto it = index.find(oldService);
    if (it != index.end()) {
      std::erase(it->second, before.get());
      if (it->second.empty()) index.erase(it);
    }
  }
  if (!newService.empty()) {
    // Ordered by slice name (the same order the key map has within one namespace).
    auto& list = index[newService];
    const std::string name = objectKey(*after);
    auto pos = std::find_if(list.begin(), list.end(), [&](const nlohmann::json* s) { return objectKey(*s) > name; });
    list.insert(pos, after.get());
  }
}

void ObjectStore::expect(Kind kind, const std::string& scope) {
  std::lock_guard lock(mu_);
  pending_.emplace(kind, scope);
}

void ObjectStore::replace(Kind kind, const std::string& scope, std::vector<nlohmann::json> items) {
  std::map<std::string, nlohmann::json> fresh;
  for (auto& item : items) {
    trimObject(kind, item);  // before comparing with what is stored (trimmed too)
    std::string key = objectKey(item);
    fresh.emplace(std::move(key), std::move(item));
  }
  std::lock_guard lock(mu_);
  const ObjectMap& current = current_.objects(kind);
  const std::string prefix = scope + "/";
  // The objects this relist covers, as they are now.
  std::vector<std::pair<std::string, ObjectPtr>> gone;
  bool differs = false;
  for (const auto& [key, object] : current) {
    if (!scope.empty() && !key.starts_with(prefix)) continue;
    auto it = fresh.find(key);
    if (it == fresh.end()) {
      gone.emplace_back(key, object);
      differs = true;
    } else if (*object == it->second) {
      fresh.erase(it);  // unchanged: keep the shared object, so renders see the same pointer
    }
  }
  if (!fresh.empty()) differs = true;
  const bool firstList = pending_.erase({kind, scope}) > 0;
  // A relist after a reconnect usually brings back what the cache has: no new render.
  if (!differs) {
    if (firstList) changed();
    return;
  }
  ObjectMap& map = mutableMap(kind);
  for (auto& [key, object] : gone) {
    map.erase(key);
    if (kind == Kind::EndpointSlice) indexSlice(object, nullptr);
  }
  for (auto& [key, object] : fresh) {
    auto shared = std::make_shared<const nlohmann::json>(std::move(object));
    ObjectPtr& slot = map[key];
    if (kind == Kind::EndpointSlice) indexSlice(slot, shared);
    slot = std::move(shared);
  }
  changed();
}

void ObjectStore::upsert(Kind kind, nlohmann::json object) {
  trimObject(kind, object);
  std::string key = objectKey(object);
  auto shared = std::make_shared<const nlohmann::json>(std::move(object));
  std::lock_guard lock(mu_);
  const ObjectPtr* existing = nullptr;
  if (auto it = current_.objects(kind).find(key); it != current_.objects(kind).end()) existing = &it->second;
  const bool renderRelevant = !existing || !sameForRender(kind, **existing, *shared);
  ObjectPtr& slot = mutableMap(kind)[std::move(key)];
  if (kind == Kind::EndpointSlice) indexSlice(slot, shared);
  slot = std::move(shared);  // kept even so: the status writer reads the current status
  if (renderRelevant) changed();
}

void ObjectStore::remove(Kind kind, const nlohmann::json& object) {
  const std::string key = objectKey(object);
  std::lock_guard lock(mu_);
  if (!current_.objects(kind).count(key)) return;
  const ObjectPtr gone = mutableMap(kind).erase(key);
  if (kind == Kind::EndpointSlice) indexSlice(gone, nullptr);
  changed();
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

StoreSnapshot ObjectStore::snapshot() const {
  std::lock_guard lock(mu_);
  return current_;
}

}  // namespace portico::controller
