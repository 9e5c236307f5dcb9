// Leader election over a coordination.k8s.io/v1 Lease, shaped like client-go's
// tools/leaderelection: every replica serves traffic, only the holder of the Lease writes
// status and Events.
//
// Protocol (one attempt every retryPeriod, on the elector's own thread):
//  - GET the Lease; 404 → POST it with us as holder (409 AlreadyExists: someone was faster).
//  - Held by someone else and not expired (renewTime + leaseDurationSeconds >= now, wall
//    clock) → stay a candidate. Expired, released (holderIdentity empty) or held by us →
//    PUT it with the resourceVersion we read (optimistic concurrency: 409 = lost the race).
//  - As leader, renew every retryPeriod. isLeader() is true only while the last successful
//    renewal *started* less than renewDeadline ago: it turns false by itself when that
//    deadline passes, even while a renew request is still hanging, so no status write can
//    happen after it (renewDeadline < leaseDuration leaves the difference as a margin for
//    clock skew against the replica that takes over). Seeing another live holder ends
//    leadership at once. A replica that lost the lease becomes a candidate again.
//  - stop() makes isLeader() false first, then releases the Lease (holderIdentity "",
//    leaseDurationSeconds 1, as client-go's ReleaseOnCancel) so a successor takes over
//    within its next retryPeriod instead of waiting out the lease.
//
// Wiring (controller/main.cc, with --leader-elect; the RBAC Role already allows
// get/create/update on leases in the release namespace):
//
//   LeaderElectionConfig le;                     // defaults: "portico-leader" in $POD_NAMESPACE
//   le.onStartedLeading = [&] { statusWriter.resync(); };   // optional; the writer also polls
//   LeaderElector elector(*kubeClient, le);
//   elector.start();
//   StatusWriter statusWriter(*kubeClient, [&] { return elector.isLeader(); }, statusOptions);
//   ...
//   elector.stop();                              // on shutdown, after the status writer stopped
//
// Without --leader-elect, pass `[] { return true; }` to the StatusWriter instead.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "controller/kube/kube_client.h"

namespace portico::controller {

// $POD_NAMESPACE, else "default".
std::string defaultLeaseNamespace();
// $POD_NAME, else "<hostname>_<pid>".
std::string defaultLeaderIdentity();

struct LeaderElectionConfig {
  std::string leaseName = "portico-leader";
  std::string leaseNamespace = defaultLeaseNamespace();
  std::string identity = defaultLeaderIdentity();
  std::chrono::milliseconds leaseDuration{15000};  // written as whole seconds (at least 1)
  std::chrono::milliseconds renewDeadline{10000};  // must be < leaseDuration
  std::chrono::milliseconds retryPeriod{2000};     // must be < renewDeadline
  // Both run on the elector's thread (onStoppedLeading also from stop()); keep them short.
  std::function<void()> onStartedLeading;
  std::function<void()> onStoppedLeading;
};

class LeaderElector {
 public:
  // `client` must outlive the elector. Does nothing until start().
  LeaderElector(KubeClient& client, LeaderElectionConfig config);
  ~LeaderElector();  // stop()
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  void start();
  // Stops campaigning; if leading, stops leading and releases the Lease. Joins the thread
  // (which may take until an in-flight request returns). Idempotent.
  void stop();

  // Any thread; cheap (two atomic loads and a clock read).
  [[nodiscard]] bool isLeader() const;
  const std::string& identity() const { return config_.identity; }
  const LeaderElectionConfig& config() const { return config_; }

 private:
  enum class Attempt { Acquired, HeldByOther, Failed };

  void run();
  Attempt tryAcquireOrRenew();
  void release();
  void becomeLeader();
  void loseLeadership(const char* why);
  // Waits up to `d` unless stop() is called; false when stopping.
  bool sleepFor(std::chrono::milliseconds d);
  std::string leasePath() const;
  std::string leaseCollectionPath() const;

  KubeClient& client_;
  LeaderElectionConfig config_;
  // Steady-clock nanoseconds until which we count as leader; 0 when not leading.
  std::atomic<int64_t> leaderUntilNs_{0};
  std::atomic<bool> leading_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace portico::controller
