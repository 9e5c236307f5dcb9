#include "controller/cluster_controller.h"

#include <spdlog/spdlog.h>

namespace portico::controller {

struct ClusterController::Status {};

ClusterController::ClusterController(const Options& options, const KubeConfig& config,
                                     proxy::TablePublisher& publisher, proxy::Metrics& metrics)
    : options_(options), client_(makeKubeClient(config)) {
  RenderOptions renderOptions;
  renderOptions.ingressClass = options.ingressClass;
  renderOptions.standalone = false;
  reconciler_ = std::make_unique<Reconciler>(
      store_, publisher, metrics, renderOptions,
      [this](const ObjectSnapshot& snapshot, const RenderResult& result, bool published) {
        onRendered(snapshot, result, published);
      });
  const std::vector<std::string> scopes =
      options.watchNamespaces.empty() ? std::vector<std::string>{""} : options.watchNamespaces;
  for (Kind kind : kAllKinds) {
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
  reconciler_->start();
}

void ClusterController::stop() {
  for (auto& reflector : reflectors_) reflector->stop();
  if (reconciler_) reconciler_->stop();
}

void ClusterController::onRendered(const ObjectSnapshot&, const RenderResult&, bool) {}

}  // namespace portico::controller
