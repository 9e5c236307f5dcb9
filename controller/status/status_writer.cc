#include "controller/status/status_writer.h"

#include <arpa/inet.h>

#include <algorithm>

#include <spdlog/spdlog.h>

namespace portico::controller {

using json = nlohmann::json;
using Steady = std::chrono::steady_clock;

namespace {

constexpr const char* kOurConditions[] = {"Accepted", "ResolvedRefs", "Programmed"};
constexpr size_t kMaxMessageBytes = 32768;  // metav1.Condition.message maxLength
constexpr int kConflictAttempts = 3;

std::string str(const json& object, const char* field) {
  auto it = object.find(field);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json& metadataOf(const json& object) {
  static const json empty = json::object();
  auto it = object.find("metadata");
  return it != object.end() && it->is_object() ? *it : empty;
}

std::string keyOf(const json& object) {
  const json& meta = metadataOf(object);
  return str(meta, "namespace") + "/" + str(meta, "name");
}

json generationOf(const json& object) {
  const json& meta = metadataOf(object);
  auto it = meta.find("generation");
  return it != meta.end() && it->is_number_integer() ? *it : json();
}

bool ourClass(const json& apiRoute, const std::string& ingressClass) {
  auto spec = apiRoute.find("spec");
  if (spec == apiRoute.end() || !spec->is_object()) return true;
  const std::string cls = str(*spec, "ingressClassName");
  return cls.empty() || cls == ingressClass;
}

bool retryableStatus(int status) { return status == 429 || status >= 500; }

std::string describe(const Expected<KubeResponse>& r) {
  if (!r) return r.error().message;
  std::string text = "HTTP " + std::to_string(r->status);
  try {
    const json status = json::parse(r->body);
    if (auto m = str(status, "message"); !m.empty()) text += ": " + m;
  } catch (const std::exception&) {
  }
  return text;
}

// Cuts at a UTF-8 character boundary.
std::string truncateUtf8(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

// metav1.Condition.reason: ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$
std::string validReason(const std::string& reason, const char* fallback) {
  std::string out;
  for (char c : reason) {
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    const bool ok = alpha || (c >= '0' && c <= '9') || c == '_' || c == ',' || c == ':';
    if (ok && (!out.empty() || alpha)) out.push_back(c);
  }
  while (!out.empty() && (out.back() == ',' || out.back() == ':')) out.pop_back();
  if (out.size() > 1024) out.resize(1024);
  return out.empty() ? fallback : out;
}

const json* findCondition(const json& conditions, const std::string& type) {
  if (!conditions.is_array()) return nullptr;
  for (const auto& c : conditions) {
    if (c.is_object() && str(c, "type") == type) return &c;
  }
  return nullptr;
}

json conditionsOf(const json& object) {
  auto status = object.find("status");
  if (status == object.end() || !status->is_object()) return json::array();
  auto it = status->find("conditions");
  return it != status->end() && it->is_array() ? *it : json::array();
}

// Conditions of types we do not write: another writer's, which a merge patch of the whole
// list could overwrite.
bool hasForeignConditions(const json& conditions) {
  for (const auto& c : conditions) {
    const std::string type = c.is_object() ? str(c, "type") : std::string();
    if (std::find(std::begin(kOurConditions), std::end(kOurConditions), type) == std::end(kOurConditions))
      return true;
  }
  return false;
}

// observedGeneration of the live Programmed condition, if any.
std::optional<int64_t> programmedGeneration(const json& object) {
  const json conditions = conditionsOf(object);  // a copy: keep it alive while `c` points into it
  const json* c = findCondition(conditions, "Programmed");
  if (!c) return std::nullopt;
  auto it = c->find("observedGeneration");
  if (it == c->end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

json loadBalancerOf(const json& ingress) {
  auto status = ingress.find("status");
  if (status == ingress.end() || !status->is_object()) return json::array();
  auto lb = status->find("loadBalancer");
  if (lb == status->end() || !lb->is_object()) return json::array();
  auto it = lb->find("ingress");
  return it != lb->end() && it->is_array() ? *it : json::array();
}

json addressEntry(const std::string& address) {
  unsigned char buf[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, address.c_str(), buf) == 1 || inet_pton(AF_INET6, address.c_str(), buf) == 1)
    return {{"ip", address}};
  return {{"hostname", address}};
}

}  // namespace

StatusInput makeStatusInput(const StoreSnapshot& snapshot, const RenderReport& result, bool published,
                            std::shared_ptr<const std::set<std::string>> ownedIngresses) {
  StatusInput input;
  input.diagnostics = result.diagnostics;
  input.programmed = published;
  // The snapshot render read, shared: its objects are immutable, so the writer's thread
  // reads them without a copy.
  input.snapshot = snapshot;
  std::set<std::string> routed;
  for (const auto& ref : result.routedAPIRoutes) routed.insert(ref.ns + "/" + ref.name);
  input.routedAPIRoutes = std::move(routed);
  input.ownedIngresses = std::move(ownedIngresses);
  return input;
}

json computeAPIRouteConditions(const json& apiRoute, const std::vector<const Diagnostic*>& diags, bool published,
                               bool routed, const std::string& now, const json& observedGeneration) {
  const json existing = conditionsOf(apiRoute);
  const json generation = observedGeneration.is_null() ? generationOf(apiRoute) : observedGeneration;
  auto make = [&](const std::string& type, bool ok, std::string reason, std::string message) {
    json c = {{"type", type},
              {"status", ok ? "True" : "False"},
              {"reason", validReason(reason, ok ? type.c_str() : "Invalid")},
              {"message", truncateUtf8(std::move(message), kMaxMessageBytes)},
              {"lastTransitionTime", now}};
    if (!generation.is_null()) c["observedGeneration"] = generation;
    if (const json* old = findCondition(existing, type);
        old && str(*old, "status") == c["status"].get<std::string>() && !str(*old, "lastTransitionTime").empty())
      c["lastTransitionTime"] = (*old)["lastTransitionTime"];
    return c;
  };
  auto fromDiagnostics = [&](const std::string& type, const char* okMessage) {
    std::string reason, message;
    std::set<std::string> seen;
    for (const Diagnostic* d : diags) {
      if (d->condition != type) continue;
      if (reason.empty()) reason = d->reason;
      if (!seen.insert(d->message).second) continue;
      if (!message.empty()) message += "; ";
      message += d->message;
    }
    return seen.empty() ? make(type, true, type, okMessage) : make(type, false, reason, message);
  };
  json ours = json::object();
  ours["Accepted"] = fromDiagnostics("Accepted", "Accepted by portico");
  ours["ResolvedRefs"] = fromDiagnostics("ResolvedRefs", "All references resolved");
  if (!published) {
    ours["Programmed"] = make("Programmed", false, "Pending",
                              "The routing table was not published; the previous table keeps serving");
  } else if (!routed) {
    ours["Programmed"] = make("Programmed", false, "Invalid", "No rule of this APIRoute is in the routing table");
  } else {
    ours["Programmed"] = make("Programmed", true, "Programmed", "Live in the proxy's routing table");
  }

  json out = json::array();
  std::set<std::string> placed;
  for (const auto& c : existing) {
    const std::string type = c.is_object() ? str(c, "type") : std::string();
    if (ours.contains(type)) {
      if (placed.insert(type).second) out.push_back(ours[type]);
    } else {
      out.push_back(c);
    }
  }
  for (const char* type : kOurConditions) {
    if (!placed.count(type)) out.push_back(ours[type]);
  }
  return out;
}

bool conditionsDiffer(const json& existing, const json& desired) {
  for (const char* type : kOurConditions) {
    const json* a = findCondition(existing, type);
    const json* b = findCondition(desired, type);
    if (!a || !b) {
      if (a != b) return true;
      continue;
    }
    for (const char* field : {"status", "reason", "message"}) {
      if (str(*a, field) != str(*b, field)) return true;
    }
    if (a->value("observedGeneration", json()) != b->value("observedGeneration", json())) return true;
  }
  return false;
}

StatusWriter::StatusWriter(KubeClient& client, std::function<bool()> isLeader, StatusWriterOptions options)
    : client_(client), isLeader_(std::move(isLeader)), options_(std::move(options)),
      events_(client, EventRecorderOptions{"portico", options_.controllerName, options_.reportingInstance,
                                           options_.eventRefresh, options_.now}),
      gateways_(client, [this] {
        RenderOptions o;
        o.gatewayControllerName = options_.gatewayControllerName;
        o.gatewayAddresses = options_.gatewayAddresses;
        return o;
      }()) {}

StatusWriter::~StatusWriter() { stop(); }

void StatusWriter::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void StatusWriter::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StatusWriter::enqueue(StatusInput input) {
  auto shared = std::make_shared<const StatusInput>(std::move(input));
  {
    std::lock_guard lock(mu_);
    pending_ = std::move(shared);  // latest wins
  }
  cv_.notify_all();
}

void StatusWriter::resync() {
  {
    std::lock_guard lock(mu_);
    resyncRequested_ = true;
  }
  cv_.notify_all();
}

uint64_t StatusWriter::passes() const {
  std::lock_guard lock(mu_);
  return passes_;
}

std::string StatusWriter::now() const { return formatKubeTime(options_.now ? options_.now() : WallClock::now()); }

void StatusWriter::run() {
  std::shared_ptr<const StatusInput> last;
  bool wasLeader = false;
  auto due = Steady::time_point::max();
  auto backoff = options_.retryInitial;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto poll = Steady::now() + options_.leaderPoll;
    cv_.wait_until(lock, std::min(due, poll), [this] { return stopping_ || pending_ || resyncRequested_; });
    if (stopping_) break;
    bool runPass = false;
    if (pending_) {
      last = std::move(pending_);
      pending_.reset();
      runPass = true;
      backoff = options_.retryInitial;
    }
    if (resyncRequested_) {
      resyncRequested_ = false;
      runPass = true;
    }
    lock.unlock();
    const bool leader = isLeader_();
    if (leader && !wasLeader) runPass = true;  // a new leader writes the current state
    wasLeader = leader;
    if (Steady::now() >= due) runPass = true;
    if (runPass && last && leader) {
      StatusPassResult r;
      try {
        r = syncOnce(*last);
      } catch (const std::exception& e) {
        spdlog::error("status pass failed: {}", e.what());
        r.retryable = 1;
      }
      if (r.notLeader) {
        wasLeader = false;
        due = Steady::time_point::max();
      } else if (r.retryable > 0) {
        due = Steady::now() + backoff;
        backoff = std::min(backoff * 2, options_.retryMax);
      } else {
        due = Steady::now() + options_.resyncPeriod;
        backoff = options_.retryInitial;
      }
      lock.lock();
      ++passes_;
      continue;
    }
    if (runPass) due = Steady::time_point::max();  // nothing to do until we lead or get input
    lock.lock();
  }
}

bool StatusWriter::leaderCheck(StatusPassResult& result) {
  if (isLeader_()) return true;
  result.notLeader = true;
  return false;
}

StatusPassResult StatusWriter::syncOnce(const StatusInput& input) {
  StatusPassResult result;
  if (!leaderCheck(result)) return result;
  writeAPIRoutes(input, result);
  if (!result.notLeader) writeIngresses(input, result);
  if (!result.notLeader) writeGatewayApi(input, result);
  if (!result.notLeader) {
    WriteTally tally;
    events_.record(input.diagnostics, input.snapshot, isLeader_, tally);
    result.writes += tally.writes;
    result.retryable += tally.retryable;
    result.notLeader = tally.notLeader;
  }
  if (result.writes > 0 || result.retryable > 0 || result.conflicts > 0)
    spdlog::info("status: {} writes, {} to retry, {} conflicts", result.writes, result.retryable, result.conflicts);
  return result;
}

bool StatusWriter::alreadyWritten(std::map<std::string, Written>& cache, const std::string& key, const json& object,
                                  const json& desired, bool conditions) {
  auto it = cache.find(key);
  if (it == cache.end()) return false;
  const json& meta = metadataOf(object);
  if (it->second.uid != str(meta, "uid") || it->second.basedOn != str(meta, "resourceVersion")) {
    // The object has moved past the version we wrote on: it carries our write (or a later
    // one) and speaks for itself. Forgetting the entry keeps the cache to writes in flight.
    cache.erase(it);
    return false;
  }
  // The snapshot predates our write: compare with what we wrote instead.
  if (conditions) return !conditionsDiffer(it->second.value, desired);
  return it->second.value == desired;
}

void StatusWriter::writeAPIRoutes(const StatusInput& input, StatusPassResult& result) {
  // The inputs of a pass that settled every APIRoute: nothing can have changed (the
  // per-object check below would skip each one; this skips the walk).
  const std::shared_ptr<const ObjectMap>& routes = input.snapshot.shared(Kind::APIRoute);
  if (settledRoutesPass_ && settledRoutesPass_->routes == routes && settledRoutesPass_->programmed == input.programmed &&
      settledRoutesPass_->routed == input.routedAPIRoutes && settledRoutesPass_->diagnostics == input.diagnostics)
    return;
  settledRoutesPass_.reset();
  bool settledAll = true;
  std::map<std::string, std::vector<const Diagnostic*>> byObject;
  for (const auto& d : input.diagnostics) {
    if (d.object.kind == "APIRoute") byObject[d.object.ns + "/" + d.object.name].push_back(&d);
  }
  std::set<std::string> present;
  for (const auto& [storeKey, shared] : input.snapshot.objects(Kind::APIRoute)) {
    const json& route = *shared;
    if (!ourClass(route, options_.ingressClass)) continue;  // another controller's
    const std::string key = keyOf(route);
    present.insert(key);
    const bool routed = !input.routedAPIRoutes || input.routedAPIRoutes->count(key) > 0;
    static const std::vector<const Diagnostic*> none;
    auto it = byObject.find(key);
    const auto& diags = it == byObject.end() ? none : it->second;
    // The same shared object with the same findings as a pass that already settled it: its
    // conditions are what that pass left them (a change of either gives a new object or new
    // findings). Skipping keeps a pass over thousands of APIRoutes cheap during edits.
    std::string findings;
    for (const Diagnostic* d : diags) findings.append(d->condition).append("\n").append(d->reason).append("\n").append(d->message).append("\n");
    if (auto s = settledRoutes_.find(key); s != settledRoutes_.end() && s->second.object == shared &&
        s->second.published == input.programmed && s->second.routed == routed && s->second.findings == findings)
      continue;
    if (patchAPIRoute(route, diags, input.programmed, routed, result)) {
      settledRoutes_[key] = Settled{shared, input.programmed, routed, std::move(findings)};
    } else {
      settledRoutes_.erase(key);
      settledAll = false;
    }
    if (result.notLeader) return;
  }
  for (auto it = writtenRoutes_.begin(); it != writtenRoutes_.end();) {
    it = present.count(it->first) ? std::next(it) : writtenRoutes_.erase(it);
  }
  for (auto it = settledRoutes_.begin(); it != settledRoutes_.end();) {
    it = present.count(it->first) ? std::next(it) : settledRoutes_.erase(it);
  }
  if (settledAll)
    settledRoutesPass_ = SettledRoutesPass{routes, input.diagnostics, input.programmed, input.routedAPIRoutes};
}

bool StatusWriter::patchAPIRoute(const json& original, const std::vector<const Diagnostic*>& diags, bool published,
                                 bool routed, StatusPassResult& result) {
  // The object as rendered, or after a 409 the re-read one (only then a copy of our own).
  const json* current = &original;
  json reread;
  const std::string key = keyOf(original);
  const json& meta0 = metadataOf(original);
  const json rendered = generationOf(original);  // what the conditions report, even after a re-read
  const std::string path = "/apis/portico.dev/v1alpha1/namespaces/" + str(meta0, "namespace") + "/apiroutes/" +
                           str(meta0, "name");
  for (int attempt = 0; attempt < kConflictAttempts; ++attempt) {
    const json desired = computeAPIRouteConditions(*current, diags, published, routed, now(), rendered);
    if (alreadyWritten(writtenRoutes_, key, *current, desired, true)) return true;
    if (!conditionsDiffer(conditionsOf(*current), desired)) return true;
    if (!leaderCheck(result)) return false;
    const json& meta = metadataOf(*current);
    json patch = {{"status", {{"conditions", desired}}}};
    // No precondition by default: observedGeneration says which spec the conditions are
    // about, so a spec edit meanwhile cannot make them wrong, only one generation behind.
    // A precondition would lose every write to the next edit during a stream of edits.
    // Another writer's conditions are the exception: the merge patch replaces the whole
    // list, so then a concurrent change of theirs must 409 rather than be overwritten.
    const bool precondition = hasForeignConditions(conditionsOf(*current));
    if (auto rv = str(meta, "resourceVersion"); precondition && !rv.empty())
      patch["metadata"] = {{"resourceVersion", rv}};
    auto r = client_.request("PATCH", path + "/status", patch.dump(), "application/merge-patch+json");
    if (r && r->status == 200) {
      ++result.writes;
      writtenRoutes_[key] = Written{str(meta, "uid"), str(meta, "resourceVersion"), desired};
      spdlog::debug("status: APIRoute {} conditions updated (generation {})", key, rendered.dump());
      return true;
    }
    if (r && r->status == 404) {
      spdlog::debug("status: APIRoute {} is gone; dropping its status", key);
      writtenRoutes_.erase(key);
      return false;
    }
    if (r && r->status == 409) {
      ++result.conflicts;
      auto fresh = client_.request("GET", path);
      if (fresh && fresh->status == 404) return false;
      if (!fresh || fresh->status != 200) {
        ++result.retryable;
        spdlog::warn("status: re-reading APIRoute {}: {}", key, describe(fresh));
        return false;
      }
      json freshObject = json::parse(fresh->body);
      if (str(metadataOf(freshObject), "uid") != str(meta0, "uid")) return false;  // deleted and re-created
      // Never move observedGeneration back (a newer leader's write, or ours from a newer render).
      const auto live = programmedGeneration(freshObject);
      if (live && rendered.is_number_integer() && *live > rendered.get<int64_t>()) return false;
      spdlog::info("status: APIRoute {} changed meanwhile (409); retrying on the live object", key);
      reread = std::move(freshObject);
      current = &reread;
      continue;
    }
    if (!r || retryableStatus(r->status)) {
      ++result.retryable;
      spdlog::warn("status: APIRoute {}: {}", key, describe(r));
    } else {
      spdlog::error("status: APIRoute {} rejected: {}", key, describe(r));
    }
    return false;
  }
  ++result.retryable;  // still conflicting: try again later
  return false;
}

std::optional<json> StatusWriter::desiredLoadBalancer(StatusPassResult& result) {
  if (options_.publishAddress && !options_.publishAddress->empty()) {
    json out = json::array();
    const std::string& list = *options_.publishAddress;
    for (size_t start = 0; start <= list.size();) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      std::string item = list.substr(start, comma - start);
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!item.empty()) out.push_back(addressEntry(item));
      start = comma + 1;
    }
    return out;
  }
  if (!options_.publishService || options_.publishService->empty()) return std::nullopt;
  const std::string& ref = *options_.publishService;
  const size_t slash = ref.find('/');
  const std::string ns = slash == std::string::npos ? "default" : ref.substr(0, slash);
  const std::string name = slash == std::string::npos ? ref : ref.substr(slash + 1);
  auto r = client_.request("GET", "/api/v1/namespaces/" + ns + "/services/" + name);
  if (!r || r->status != 200) {
    ++result.retryable;
    spdlog::warn("status: reading publish Service {}/{}: {}", ns, name, describe(r));
    return std::nullopt;
  }
  json out = json::array();
  for (const auto& entry : loadBalancerOf(json::parse(r->body))) {
    if (!entry.is_object()) continue;
    json e = json::object();
    if (auto ip = str(entry, "ip"); !ip.empty()) e["ip"] = ip;
    if (auto host = str(entry, "hostname"); !host.empty()) e["hostname"] = host;
    if (!e.empty()) out.push_back(std::move(e));
  }
  if (out.empty()) {
    ++result.retryable;  // no address yet: leave the Ingresses alone and look again later
    spdlog::info("status: publish Service {}/{} has no load balancer address yet", ns, name);
    return std::nullopt;
  }
  return out;
}

void StatusWriter::writeIngresses(const StatusInput& input, StatusPassResult& result) {
  const std::set<std::string>& owned = *input.ownedIngresses;
  if (owned.empty()) return;
  const std::optional<json> desired = desiredLoadBalancer(result);
  if (!desired) return;
  const std::shared_ptr<const ObjectMap>& ingresses = input.snapshot.shared(Kind::Ingress);
  // Since a pass that settled every Ingress with the same owned set and address, only the
  // Ingresses that changed can need a write: at 10,000 Ingresses an edit then costs one
  // walk of two maps instead of 10,000 lookups and comparisons.
  std::optional<SettledIngressesPass> since = std::move(settledIngressesPass_);
  settledIngressesPass_.reset();
  const bool onlyChanged = since && since->owned == input.ownedIngresses && since->loadBalancer == *desired;
  bool settledAll = true;

  // False when we are no longer the leader (stop the pass).
  auto write = [&](const std::string& key, const json& ingress) {
    if (alreadyWritten(writtenIngresses_, key, ingress, *desired, false)) return true;
    if (loadBalancerOf(ingress) == *desired) return true;
    if (!leaderCheck(result)) return false;
    const json& meta = metadataOf(ingress);
    const json patch = {{"status", {{"loadBalancer", {{"ingress", *desired}}}}}};
    auto r = client_.request("PATCH",
                             "/apis/networking.k8s.io/v1/namespaces/" + str(meta, "namespace") + "/ingresses/" +
                                 str(meta, "name") + "/status",
                             patch.dump(), "application/merge-patch+json");
    if (r && r->status == 200) {
      ++result.writes;
      writtenIngresses_[key] = Written{str(meta, "uid"), str(meta, "resourceVersion"), *desired};
    } else if (r && r->status == 404) {
      writtenIngresses_.erase(key);
    } else if (!r || retryableStatus(r->status)) {
      ++result.retryable;
      settledAll = false;
      spdlog::warn("status: Ingress {}: {}", key, describe(r));
    } else {
      settledAll = false;
      spdlog::error("status: Ingress {} rejected: {}", key, describe(r));
    }
    return true;
  };

  if (onlyChanged) {
    bool leader = true;
    forEachChange(since->ingresses, ingresses, [&](const std::string& key, const ObjectPtr&, const ObjectPtr& after) {
      if (!leader) return;
      if (!after) {
        writtenIngresses_.erase(key);
      } else if (owned.count(key)) {
        leader = write(key, *after);
      }
    });
    if (!leader) return;
  } else {
    std::set<std::string> present;
    for (const auto& key : owned) {
      const json* found = input.snapshot.find(Kind::Ingress, key);
      if (!found) continue;
      present.insert(key);
      if (!write(key, *found)) return;
    }
    for (auto it = writtenIngresses_.begin(); it != writtenIngresses_.end();) {
      it = present.count(it->first) ? std::next(it) : writtenIngresses_.erase(it);
    }
  }
  if (settledAll) settledIngressesPass_ = SettledIngressesPass{ingresses, input.ownedIngresses, *desired};
}

void StatusWriter::writeGatewayApi(const StatusInput& input, StatusPassResult& result) {
  if (input.snapshot.objects(Kind::GatewayClass).empty()) return;
  // The addresses Ingresses get (publish address or Service); none yet: an empty list.
  json addresses = json::array();
  if ((options_.publishAddress && !options_.publishAddress->empty()) ||
      (options_.publishService && !options_.publishService->empty())) {
    StatusPassResult probe;
    if (auto lb = desiredLoadBalancer(probe)) addresses = gatewayAddresses(*lb);
    result.retryable += probe.retryable;  // no address yet: look again with backoff
  }
  WriteTally tally;
  gateways_.write(input.snapshot, input.programmed, addresses, now(), isLeader_, tally);
  result.writes += tally.writes;
  result.retryable += tally.retryable;
  result.notLeader = result.notLeader || tally.notLeader;
}

}  // namespace portico::controller
