#include "controller/status/leader_elector.h"

#include <unistd.h>

#include <cstdlib>
#include <random>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "controller/status/kube_time.h"

namespace portico::controller {

using json = nlohmann::json;
using Steady = std::chrono::steady_clock;

namespace {

int64_t steadyNs(Steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string errorText(const Expected<KubeResponse>& r) {
  if (!r) return r.error().message;
  std::string text = "HTTP " + std::to_string(r->status);
  try {
    const json status = json::parse(r->body);
    if (status.contains("message") && status["message"].is_string())
      text += ": " + status["message"].get<std::string>();
  } catch (const std::exception&) {
  }
  return text;
}

}  // namespace

std::string defaultLeaseNamespace() {
  const char* ns = std::getenv("POD_NAMESPACE");
  return ns && *ns ? ns : "default";
}

std::string defaultLeaderIdentity() {
  if (const char* pod = std::getenv("POD_NAME"); pod && *pod) return pod;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || !*host) std::snprintf(host, sizeof host, "portico");
  return std::string(host) + "_" + std::to_string(getpid());
}

LeaderElector::LeaderElector(KubeClient& client, LeaderElectionConfig config)
    : client_(client), config_(std::move(config)) {}

LeaderElector::~LeaderElector() { stop(); }

void LeaderElector::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  spdlog::info("leader election: campaigning for lease {}/{} as {}", config_.leaseNamespace, config_.leaseName,
               config_.identity);
  thread_ = std::thread([this] { run(); });
}

void LeaderElector::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    // Stop counting as leader before anything else, so no status write slips in while the
    // thread finishes its current request.
    leaderUntilNs_ = 0;
  }
  cv_.notify_all();
  const bool started = thread_.joinable();
  if (started) thread_.join();
  // Even if we never counted as leader, the last attempt may have written the lease:
  // release() checks the holder and gives it up only if it is us.
  if (started) release();
  loseLeadership("stopping");
}

bool LeaderElector::isLeader() const {
  const int64_t until = leaderUntilNs_.load(std::memory_order_acquire);
  return until != 0 && steadyNs(Steady::now()) < until;
}

bool LeaderElector::sleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_; });
}

std::string LeaderElector::leaseCollectionPath() const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + config_.leaseNamespace + "/leases";
}

std::string LeaderElector::leasePath() const { return leaseCollectionPath() + "/" + config_.leaseName; }

void LeaderElector::becomeLeader() {
  if (leading_) return;
  leading_ = true;
  spdlog::info("leader election: {} became leader of {}/{}", config_.identity, config_.leaseNamespace,
               config_.leaseName);
  if (config_.onStartedLeading) config_.onStartedLeading();
}

void LeaderElector::loseLeadership(const char* why) {
  leaderUntilNs_ = 0;
  if (!leading_) return;
  leading_ = false;
  spdlog::warn("leader election: {} stopped leading {}/{}: {}", config_.identity, config_.leaseNamespace,
               config_.leaseName, why);
  if (config_.onStoppedLeading) config_.onStoppedLeading();
}

void LeaderElector::run() {
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.0, 1.2);  // client-go's JitterFactor
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    const auto attemptStart = Steady::now();
    const Attempt result = tryAcquireOrRenew();
    const auto until = attemptStart + config_.renewDeadline;
    if (result == Attempt::Acquired && Steady::now() < until) {
      {
        // Under mu_, so that stop(), which clears the deadline under mu_, always wins.
        std::lock_guard lock(mu_);
        if (stopping_) return;
        // Valid for renewDeadline from when this attempt *started*: the renewTime we wrote is
        // no earlier than that, so the lease outlives our belief by leaseDuration - renewDeadline.
        leaderUntilNs_ = steadyNs(until);
      }
      becomeLeader();
    } else if (result == Attempt::Acquired) {
      // It succeeded, but too late to count: the deadline passed while we waited for it.
      loseLeadership("renewing the lease took longer than the renew deadline");
    } else if (leading_) {
      if (result == Attempt::HeldByOther) {
        loseLeadership("the lease is held by another replica");
      } else if (!isLeader()) {
        loseLeadership("failed to renew the lease within the renew deadline");
      }
    }
    auto wait = config_.retryPeriod;
    if (!leading_) wait = std::chrono::milliseconds(static_cast<int64_t>(wait.count() * (1.0 + jitter(rng))));
    if (leading_) {
      // Wake up in time to notice the deadline even if the next renewal keeps failing.
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          Steady::time_point(std::chrono::nanoseconds(leaderUntilNs_.load())) - Steady::now());
      if (left < wait) wait = std::max(left, std::chrono::milliseconds(1));
    }
    if (!sleepFor(wait)) return;
  }
}

LeaderElector::Attempt LeaderElector::tryAcquireOrRenew() {
  const auto now = WallClock::now();
  const std::string nowText = formatKubeMicroTime(now);
  const int64_t durationSeconds =
      std::max<int64_t>(1, (config_.leaseDuration.count() + 999) / 1000);
  try {
    auto got = client_.request("GET", leasePath());
    if (!got) {
      spdlog::warn("leader election: reading lease {}/{}: {}", config_.leaseNamespace, config_.leaseName,
                   got.error().message);
      return Attempt::Failed;
    }
    if (got->status == 404) {
      json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                    {"kind", "Lease"},
                    {"metadata", {{"name", config_.leaseName}, {"namespace", config_.leaseNamespace}}},
                    {"spec",
                     {{"holderIdentity", config_.identity},
                      {"leaseDurationSeconds", durationSeconds},
                      {"acquireTime", nowText},
                      {"renewTime", nowText},
                      {"leaseTransitions", 0}}}};
      auto created = client_.request("POST", leaseCollectionPath(), lease.dump());
      if (created && (created->status == 201 || created->status == 200)) return Attempt::Acquired;
      if (created && created->status == 409) return Attempt::Failed;  // another replica created it first
      spdlog::warn("leader election: creating lease {}/{}: {}", config_.leaseNamespace, config_.leaseName,
                   errorText(created));
      return Attempt::Failed;
    }
    if (got->status != 200) {
      spdlog::warn("leader election: reading lease {}/{}: {}", config_.leaseNamespace, config_.leaseName,
                   errorText(got));
      return Attempt::Failed;
    }
    json lease = json::parse(got->body);
    json& spec = lease["spec"];
    if (!spec.is_object()) spec = json::object();
    const std::string holder = spec.value("holderIdentity", json()).is_string()
                                   ? spec["holderIdentity"].get<std::string>()
                                   : std::string();
    const bool ours = holder == config_.identity;
    if (!holder.empty() && !ours) {
      bool expired = true;
      const json renew = spec.value("renewTime", json());
      const json duration = spec.value("leaseDurationSeconds", json());
      if (renew.is_string() && duration.is_number_integer()) {
        if (auto renewed = parseKubeTime(renew.get<std::string>()))
          expired = *renewed + std::chrono::seconds(duration.get<int64_t>()) < now;
      }
      if (!expired) return Attempt::HeldByOther;
      spdlog::info("leader election: lease {}/{} held by {} expired; taking it over", config_.leaseNamespace,
                   config_.leaseName, holder);
    }
    if (!ours) {
      spec["acquireTime"] = nowText;
      const json transitions = spec.value("leaseTransitions", json());
      spec["leaseTransitions"] = (transitions.is_number_integer() ? transitions.get<int64_t>() : 0) + 1;
    } else if (!spec.contains("acquireTime") || spec["acquireTime"].is_null()) {
      spec["acquireTime"] = nowText;
    }
    spec["holderIdentity"] = config_.identity;
    spec["leaseDurationSeconds"] = durationSeconds;
    spec["renewTime"] = nowText;
    // The body carries metadata.resourceVersion as read: a concurrent writer makes this 409.
    auto updated = client_.request("PUT", leasePath(), lease.dump());
    if (updated && updated->status == 200) return Attempt::Acquired;
    if (updated && updated->status == 409) {
      spdlog::info("leader election: lease {}/{} changed while updating it (conflict)", config_.leaseNamespace,
                   config_.leaseName);
      return Attempt::Failed;
    }
    spdlog::warn("leader election: updating lease {}/{}: {}", config_.leaseNamespace, config_.leaseName,
                 errorText(updated));
    return Attempt::Failed;
  } catch (const std::exception& e) {
    spdlog::warn("leader election: lease {}/{}: unexpected response: {}", config_.leaseNamespace, config_.leaseName,
                 e.what());
    return Attempt::Failed;
  }
}

void LeaderElector::release() {
  try {
    auto got = client_.request("GET", leasePath());
    if (!got || got->status != 200) return;
    json lease = json::parse(got->body);
    json& spec = lease["spec"];
    if (!spec.is_object() || spec.value("holderIdentity", json()) != json(config_.identity)) return;
    const std::string nowText = formatKubeMicroTime(WallClock::now());
    spec["holderIdentity"] = "";
    spec["leaseDurationSeconds"] = 1;
    spec["renewTime"] = nowText;
    spec["acquireTime"] = nowText;
    auto updated = client_.request("PUT", leasePath(), lease.dump());
    if (updated && updated->status == 200) {
      spdlog::info("leader election: released lease {}/{}", config_.leaseNamespace, config_.leaseName);
    } else {
      spdlog::warn("leader election: releasing lease {}/{}: {}", config_.leaseNamespace, config_.leaseName,
                   errorText(updated));
    }
  } catch (const std::exception& e) {
    spdlog::warn("leader election: releasing lease {}/{}: {}", config_.leaseNamespace, config_.leaseName, e.what());
  }
}

}  // namespace portico::controller
