// Cluster mode: reflectors for every watched kind feed one ObjectStore; the Reconciler
// renders and publishes; the status side (leader only) reports back to the API server.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "controller/informer/object_store.h"
#include "controller/informer/reflector.h"
#include "controller/kube/kube_client.h"
#include "controller/options.h"
#include "controller/reconcile/reconciler.h"

namespace portico::controller {

class ClusterController {
 public:
  ClusterController(const Options& options, const KubeConfig& config, proxy::TablePublisher& publisher,
                    proxy::Metrics& metrics);
  ~ClusterController();
  void start();
  void stop();
  bool ready() const { return reconciler_->ready(); }

 private:
  void onRendered(const StoreSnapshot& snapshot, const RenderReport& result, bool published);

  const Options& options_;
  std::unique_ptr<KubeClient> client_;
  struct Status;  // leader election and status writing
  std::unique_ptr<Status> status_;
  ObjectStore store_;
  std::vector<std::unique_ptr<Reflector>> reflectors_;
  std::unique_ptr<Reconciler> reconciler_;
  // The owned Ingresses of the last render, and the set given to the status writer
  // (reconciler thread only).
  std::vector<ObjectRef> ownedRefs_;
  std::shared_ptr<const std::set<std::string>> ownedSet_;
};

}  // namespace portico::controller
