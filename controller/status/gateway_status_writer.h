// Writes the Gateway API statuses (render/gateway_status.h computes them) of GatewayClasses,
// Gateways and HTTPRoutes: one merge PATCH of .../status per object whose status differs
// (lastTransitionTime aside). Called by StatusWriter on its thread, after the APIRoutes and
// Ingresses of the same pass, so the leader check, retries and backoff are the same.
//
// No resourceVersion precondition (observedGeneration says which spec a condition is
// about), except for an HTTPRoute that carries another controller's status.parents: the
// merge patch replaces the whole list, so then a concurrent write of theirs must 409, and
// the pass is retried. Writes are remembered until a snapshot shows a later version of the
// object, so a pass over a snapshot that predates a write does not repeat it.
#pragma once

#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/kube/kube_client.h"
#include "controller/objects/object_snapshot.h"
#include "controller/render/render.h"
#include "controller/status/event_recorder.h"

namespace portico::controller {

class GatewayStatusWriter {
 public:
  GatewayStatusWriter(KubeClient& client, RenderOptions options) : client_(client), options_(std::move(options)) {}

  // `addresses`: status.addresses of every Gateway ([{type, value}]). Stops at the first
  // failed leader check (tally.notLeader).
  void write(const StoreSnapshot& snapshot, bool published, const nlohmann::json& addresses, const std::string& now,
             const std::function<bool()>& isLeader, WriteTally& tally);

 private:
  struct Written {
    std::string uid;
    std::string basedOn;  // resourceVersion of the object the write was computed from
    nlohmann::json status;  // without transition times
  };
  KubeClient& client_;
  RenderOptions options_;
  std::map<std::string, Written> written_;  // "Kind ns/name"
};

// {ip: A} / {hostname: H} (Ingress status.loadBalancer entries) as Gateway status.addresses.
nlohmann::json gatewayAddresses(const nlohmann::json& loadBalancerIngress);

}  // namespace portico::controller
