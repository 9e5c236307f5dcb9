#include "controller/cluster_controller.h"

#include <spdlog/spdlog.h>

#include "controller/status/leader_elector.h"
#include "controller/status/status_writer.h"

namespace portico::controller {

// Every replica serves traffic; with --leader-elect only the Lease holder writes status
// and Events, and it stops writing the moment its lease is in doubt.
struct ClusterController::Status {
  Status(KubeClient& client, const Options& options) {
    if (options.leaderElect) {
      LeaderElectionConfig config;
      config.onStartedLeading = [this] {
        spdlog::info("leader election: leading; writing status");
        if (writer) writer->resync();
      };
      config.onStoppedLeading = [] { spdlog::info("leader election: not leading; status writes stop"); };
      elector = std::make_unique<LeaderElector>(client, config);
    }
    StatusWriterOptions writerOptions;
    writerOptions.ingressClass = options.ingressClass;
    writerOptions.gatewayControllerName = options.gatewayControllerName;
    writerOptions.gatewayAddresses = options.gatewayAddresses;
    writerOptions.publishService = options.publishService;
    writerOptions.publishAddress = options.publishAddress;
    writerOptions.reportingInstance = elector ? elector->identity() : defaultLeaderIdentity();
    std::function<bool()> isLeader = [] { return true; };
    if (elector) isLeader = [e = elector.get()] { return e->isLeader(); };
    writer = std::make_unique<StatusWriter>(client, std::move(isLeader), writerOptions);
  }
  void start() {
    if (elector) elector->start();
    writer->start();
  }
  void stop() {
    writer->stop();
    if (elector) elector->stop();
  }
  std::unique_ptr<LeaderElector> elector;
  std::unique_ptr<StatusWriter> writer;
};

ClusterController::ClusterController(const Options& options, const KubeConfig& config,
                                     proxy::TablePublisher& publisher, proxy::Metrics& metrics)
    : options_(options), client_(makeKubeClient(config)), status_(std::make_unique<Status>(*client_, options)) {
  RenderOptions renderOptions;
  renderOptions.ingressClass = options.ingressClass;
  renderOptions.gatewayControllerName = options.gatewayControllerName;
  renderOptions.gatewayAddresses = options.gatewayAddresses;
  renderOptions.standalone = false;
  renderOptions.httpsPort = options.server.httpsPort;
  renderOptions.tcpPorts = options.server.tcpPorts;
  reconciler_ = std::make_unique<Reconciler>(
      store_, publisher, metrics, renderOptions,
      [this](const StoreSnapshot& snapshot, const RenderReport& result, bool published) {
        onRendered(snapshot, result, published);
      });
  const std::vector<std::string> scopes =
      options.watchNamespaces.empty() ? std::vector<std::string>{""} : options.watchNamespaces;
  for (Kind kind : kAllKinds) {
    // An empty --gateway-controller-name turns the Gateway API off: its kinds (and the
    // Namespaces read for its selectors) are not watched, so no RBAC is needed for them.
    const bool gatewayKind = kind == Kind::GatewayClass || kind == Kind::Gateway || kind == Kind::HTTPRoute ||
                             kind == Kind::ReferenceGrant || kind == Kind::Namespace;
    if (gatewayKind && options.gatewayControllerName.empty()) continue;
    if (!resourcePath(kind).namespaced) {
      reflectors_.push_back(std::make_unique<Reflector>(*client_, store_, kind, ""));
      continue;
    }
    for (const auto& ns : scopes) reflectors_.push_back(std::make_unique<Reflector>(*client_, store_, kind, ns));
  }
}

ClusterController::~ClusterController() { stop(); }

void ClusterController::start() {
  for (auto& reflector : reflectors_) reflector->start();
  status_->start();
  reconciler_->start();
}

void ClusterController::stop() {
  for (auto& reflector : reflectors_) reflector->stop();
  if (reconciler_) reconciler_->stop();
  status_->stop();
}

void ClusterController::onRendered(const StoreSnapshot& snapshot, const RenderReport& result, bool published) {
  // The same set object while the list is the same (most renders): the status writer
  // then looks only at the Ingresses that changed.
  if (!ownedSet_ || result.ownedIngresses != ownedRefs_) {
    auto owned = std::make_shared<std::set<std::string>>();
    for (const auto& ref : result.ownedIngresses) owned->insert(ref.ns + "/" + ref.name);
    ownedRefs_ = result.ownedIngresses;
    ownedSet_ = std::move(owned);
  }
  status_->writer->enqueue(makeStatusInput(snapshot, result, published, ownedSet_));
}

}  // namespace portico::controller
