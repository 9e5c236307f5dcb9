// Orchestrates a full render: builds the lookups once, runs each kind's translator (APIRoutes
// and Ingresses), then merges what every object contributes in creation order, so earlier
// objects win ties across kinds too, and settles host+path conflicts on the way.
#include "controller/render/render.h"

#include <algorithm>
#include <tuple>
#include <unordered_map>

#include "controller/render/apiroute.h"
#include "controller/render/conflicts.h"
#include "controller/render/httproute.h"
#include "controller/render/ingress.h"
#include "controller/render/render_context.h"

namespace portico::controller {
namespace {

// Settles every object's conflicts in order (`outputs` sorted oldest first). One hash map
// over every claim: linear time.
void resolveConflicts(std::vector<ObjectOutput>& outputs, std::vector<Diagnostic>& diagnostics) {
  size_t claimCount = 0;
  for (const auto& out : outputs) {
    for (const auto& r : out.part.routes) claimCount += std::max<size_t>(1, r.hosts.size());
  }
  std::unordered_map<std::string, size_t> owner;  // claim key -> index in outputs
  owner.reserve(claimCount);
  for (size_t i = 0; i < outputs.size(); ++i) {
    settleConflicts(
        outputs[i],
        [&](std::string key) {
          auto [it, inserted] = owner.try_emplace(std::move(key), i);
          const ObjectOutput& w = outputs[it->second];
          return ClaimOwner{w.kind, w.ns, w.name, inserted || it->second == i};
        },
        diagnostics);
  }
}

std::vector<const nlohmann::json*> pointers(const std::vector<nlohmann::json>& from) {
  std::vector<const nlohmann::json*> out;
  out.reserve(from.size());
  for (const auto& o : from) out.push_back(&o);
  return out;
}

std::vector<const nlohmann::json*> pointers(const ObjectMap& from) {
  std::vector<const nlohmann::json*> out;
  out.reserve(from.size());
  for (const auto& [key, o] : from) out.push_back(o.get());
  return out;
}

RenderResult renderAll(const std::vector<const nlohmann::json*>& apiRoutes,
                       const std::vector<const nlohmann::json*>& ingresses,
                       const std::vector<const nlohmann::json*>& gateways,
                       const std::vector<const nlohmann::json*>& httpRoutes, const ObjectIndex& index,
                       const RenderOptions& options) {
  ClassSelector classes(index, options);
  RenderResult result;
  std::vector<ObjectOutput> outputs;
  renderApiRoutes(apiRoutes, index, classes, options, outputs, result.diagnostics);
  renderIngresses(ingresses, index, classes, options, outputs, result.diagnostics, result.ownedIngresses);
  renderGatewayApi(gateways, httpRoutes, index, options, outputs, result.diagnostics);

  std::stable_sort(outputs.begin(), outputs.end(), [](const ObjectOutput& a, const ObjectOutput& b) {
    return std::tie(a.creationTimestamp, a.ns, a.name, a.kind) <
           std::tie(b.creationTimestamp, b.ns, b.name, b.kind);
  });
  resolveConflicts(outputs, result.diagnostics);
  TableBuilder table;
  for (auto& out : outputs) {
    if (out.kind == "APIRoute" && !out.part.routes.empty())
      result.routedAPIRoutes.push_back(ObjectRef{out.kind, out.ns, out.name});
    for (auto& route : out.part.routes) table.addRoute(std::move(route));
    for (auto& cert : out.part.certificates) table.addCertificate(std::move(cert));
    table.addRedirectHosts(out.part.httpsRedirectHosts);
  }
  result.table = std::move(table).finish();
  return result;
}

}  // namespace

RenderResult render(const ObjectSnapshot& objects, const RenderOptions& options) {
  ObjectIndex index(objects);
  return renderAll(pointers(objects.apiRoutes), pointers(objects.ingresses), pointers(objects.gateways),
                   pointers(objects.httpRoutes), index, options);
}

RenderResult render(const StoreSnapshot& objects, const RenderOptions& options) {
  ObjectIndex index(objects);
  return renderAll(pointers(objects.objects(Kind::APIRoute)), pointers(objects.objects(Kind::Ingress)),
                   pointers(objects.objects(Kind::Gateway)), pointers(objects.objects(Kind::HTTPRoute)), index,
                   options);
}

}  // namespace portico::controller
