// Writes what a render found back to the cluster: APIRoute status conditions, Ingress
// status.loadBalancer and Warning Events. Only the leader writes.
//
// Per render the reconciler hands over a StatusInput (latest wins: a burst of renders gives
// one status pass). The writer's own thread then:
//  - APIRoutes of our class (spec.ingressClassName unset or equal to options.ingressClass):
//    computes Accepted / ResolvedRefs / Programmed (see computeAPIRouteConditions) and
//    PATCHes (application/merge-patch+json) .../apiroutes/NAME/status only for objects whose
//    conditions changed. Each condition's observedGeneration is the generation that was
//    rendered, so the write needs no resourceVersion precondition: a spec edit that lands
//    meanwhile (new generation) does not make it stale, it only makes it one generation
//    behind until the next render writes again (what Kubernetes controllers do). Without
//    it, every write lost to the next edit during a stream of edits and status froze.
//    Conditions of other types are kept; since a merge patch replaces the whole list, an
//    object that carries another writer's conditions is patched with its resourceVersion
//    as a precondition instead, and a 409 re-reads it and retries (still with the rendered
//    generation), so that writer's conditions are never overwritten.
//  - Ingresses in ownedIngresses: status.loadBalancer.ingress from options.publishAddress
//    (IP → {ip}, else {hostname}; comma-separated for several) or from the publish Service's
//    status.loadBalancer.ingress (GET on every pass). A Service without addresses yet leaves
//    the Ingresses alone and the pass is retried later. PATCH .../ingresses/NAME/status only
//    when the addresses differ.
//  - Gateway API objects: GatewayStatusWriter (gateway_status_writer.h), with the addresses
//    the Ingresses get as the Gateways' status.addresses.
//  - Events: see EventRecorder (deduplicated by object uid, reason and message).
// isLeader() is checked right before every write; a non-leader writes nothing and a
// replica that becomes leader re-runs the last input (the thread polls isLeader() every
// leaderPoll; resync() does it at once). Failures (transport, 5xx, 429) retry the pass with
// exponential backoff; 404 (object deleted meanwhile) is dropped quietly; 409 (only with a
// precondition, see above) re-reads the object and retries with its fresh status, unless
// the live conditions already carry a newer observedGeneration. Writes already made are
// remembered, so re-running an input whose snapshot predates them does not write them again.
//
// Wiring (controller/main.cc / reconcile, cluster mode only):
//
//   StatusWriterOptions so;
//   so.ingressClass = options.ingressClass;
//   so.publishService = options.publishService;   // "namespace/name", optional
//   so.publishAddress = options.publishAddress;   // optional; wins over publishService
//   so.reportingInstance = elector ? elector->identity() : defaultLeaderIdentity();
//   StatusWriter status(*kubeClient, [&] { return !elector || elector->isLeader(); }, so);
//   status.start();
//   Reconciler reconciler(store, publisher, metrics, renderOptions,
//       [&](const StoreSnapshot& snap, const RenderReport& result, bool published) {
//         status.enqueue(makeStatusInput(snap, result, published, ownedIngressKeys));
//       });
//   ...
//   reconciler.stop(); status.stop(); elector->stop();
//
// ownedIngressKeys: "namespace/name" of the Ingresses of our class (render will list them;
// until then, the caller decides).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/kube/kube_client.h"
#include "controller/render/render.h"
#include "controller/status/event_recorder.h"
#include "controller/status/gateway_status_writer.h"
#include "controller/status/kube_time.h"

namespace portico::controller {

struct StatusInput {
  StoreSnapshot snapshot;               // as rendered (shared); APIRoutes and Ingresses are read
  std::vector<Diagnostic> diagnostics;  // RenderReport::diagnostics
  bool programmed = false;              // this render's table was published
  // "namespace/name" of the Ingresses of our class; shared, and the same object while
  // the set does not change (the writer then looks only at Ingresses that changed).
  std::shared_ptr<const std::set<std::string>> ownedIngresses = std::make_shared<const std::set<std::string>>();
  // "namespace/name" of APIRoutes with at least one route in the table. nullopt: every
  // APIRoute counts as programmed when `programmed` is true.
  std::optional<std::set<std::string>> routedAPIRoutes;
};

// What the writer needs from one render (the snapshot is shared, not copied);
// routedAPIRoutes is RenderReport::routedAPIRoutes (APIRoutes with a route in the table).
StatusInput makeStatusInput(const StoreSnapshot& snapshot, const RenderReport& result, bool published,
                            std::shared_ptr<const std::set<std::string>> ownedIngresses);

struct StatusWriterOptions {
  std::string ingressClass = "portico";
  std::string controllerName = "portico.dev/ingress-controller";  // Event reportingComponent
  std::string gatewayControllerName = "portico.dev/gateway-controller";  // GatewayClass controllerName
  GatewayAddressPool gatewayAddresses;  // --gateway-addresses (gateway_addresses.h)
  std::string reportingInstance;                                  // Event reportingInstance
  std::optional<std::string> publishService;                      // "namespace/name"
  std::optional<std::string> publishAddress;                      // IP or hostname, comma-separated
  std::chrono::milliseconds retryInitial{500};
  std::chrono::milliseconds retryMax{30000};
  std::chrono::milliseconds resyncPeriod{60000};  // re-run the last input (Service addresses)
  std::chrono::milliseconds leaderPoll{1000};     // how soon a new leader writes
  std::chrono::milliseconds eventRefresh{std::chrono::minutes(30)};
  std::function<WallClock::time_point()> now;  // default: system clock (tests inject one)
};

// The conditions our render implies for one APIRoute, merged into its existing
// status.conditions: Accepted and ResolvedRefs are False with the reason of the first
// diagnostic for that condition and all their distinct messages joined by "; "; Programmed
// is True when the table was `published` and `routed` (it holds a route of this APIRoute);
// else False with reason "Pending" (not published) or "Invalid" (no route). observedGeneration =
// `observedGeneration` if given (the generation that was rendered, when `apiRoute` is a newer
// re-read), else apiRoute's metadata.generation; lastTransitionTime is kept when the status
// value did not change. Conditions of other types keep their place.
nlohmann::json computeAPIRouteConditions(const nlohmann::json& apiRoute, const std::vector<const Diagnostic*>& diags,
                                         bool published, bool routed, const std::string& now,
                                         const nlohmann::json& observedGeneration = nullptr);
// True if the Accepted/ResolvedRefs/Programmed conditions differ (ignoring
// lastTransitionTime, which only moves when the status does).
bool conditionsDiffer(const nlohmann::json& existing, const nlohmann::json& desired);

struct StatusPassResult {
  int writes = 0;
  int retryable = 0;
  int conflicts = 0;  // 409s (each re-read and retried)
  bool notLeader = false;
};

class StatusWriter {
 public:
  // `client` must outlive the writer; `isLeader` is called from the writer's thread.
  StatusWriter(KubeClient& client, std::function<bool()> isLeader, StatusWriterOptions options = {});
  ~StatusWriter();  // stop()
  StatusWriter(const StatusWriter&) = delete;
  StatusWriter& operator=(const StatusWriter&) = delete;

  void start();
  void stop();  // finishes the request in flight, drops what is queued; idempotent
  // Any thread. Replaces a pending input that the thread has not picked up yet.
  void enqueue(StatusInput input);
  // Any thread: re-run the last input now (e.g. from LeaderElector's onStartedLeading).
  void resync();

  // One pass on the calling thread. For tests, or when start() was not called.
  StatusPassResult syncOnce(const StatusInput& input);
  // Number of passes the thread ran (for tests).
  uint64_t passes() const;
  // Writes remembered because no snapshot has shown them yet (for tests).
  size_t writesAwaitingEcho() const { return writtenRoutes_.size() + writtenIngresses_.size(); }

 private:
  // What we last wrote to one object, and the resourceVersion of the snapshot it was
  // computed from: a snapshot still at that version predates our write.
  struct Written {
    std::string uid;
    std::string basedOn;
    nlohmann::json value;
  };

  void run();
  void writeAPIRoutes(const StatusInput& input, StatusPassResult& result);
  void writeIngresses(const StatusInput& input, StatusPassResult& result);
  void writeGatewayApi(const StatusInput& input, StatusPassResult& result);
  // PATCHes one APIRoute's status (`object` as rendered); on 409 re-reads it and tries
  // again (a few times), always reporting the rendered generation.
  // True when the object needs nothing more for this input (written, or already right).
  bool patchAPIRoute(const nlohmann::json& object, const std::vector<const Diagnostic*>& diags, bool published,
                     bool routed, StatusPassResult& result);
  std::optional<nlohmann::json> desiredLoadBalancer(StatusPassResult& result);
  // True if `object` is the snapshot a remembered write was computed from and that write
  // already carries `desired` (compared as conditions, or exactly). Forgets the write once
  // `object` is a later version.
  bool alreadyWritten(std::map<std::string, Written>& cache, const std::string& key, const nlohmann::json& object,
                      const nlohmann::json& desired, bool conditions);
  bool leaderCheck(StatusPassResult& result);
  std::string now() const;

  KubeClient& client_;
  std::function<bool()> isLeader_;
  StatusWriterOptions options_;
  EventRecorder events_;
  GatewayStatusWriter gateways_;
  std::map<std::string, Written> writtenRoutes_;     // "ns/name"
  std::map<std::string, Written> writtenIngresses_;  // "ns/name"
  // APIRoutes a pass settled, with the input that pass saw: the same shared object and
  // findings need no new pass (see writeAPIRoutes).
  struct Settled {
    ObjectPtr object;
    bool published = false;
    bool routed = false;
    std::string findings;
  };
  std::map<std::string, Settled> settledRoutes_;  // "ns/name"
  // The inputs of the last pass that left every object settled: a pass with the same ones
  // has nothing to do (APIRoutes), or only the objects that changed since (Ingresses).
  struct SettledRoutesPass {
    std::shared_ptr<const ObjectMap> routes;
    std::vector<Diagnostic> diagnostics;
    bool programmed = false;
    std::optional<std::set<std::string>> routed;
  };
  std::optional<SettledRoutesPass> settledRoutesPass_;
  struct SettledIngressesPass {
    std::shared_ptr<const ObjectMap> ingresses;
    std::shared_ptr<const std::set<std::string>> owned;
    nlohmann::json loadBalancer;
  };
  std::optional<SettledIngressesPass> settledIngressesPass_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const StatusInput> pending_;
  bool resyncRequested_ = false;
  bool stopping_ = false;
  uint64_t passes_ = 0;
  std::thread thread_;
};

}  // namespace portico::controller
