// Orchestrates render: builds the lookups once, runs each kind's translator (APIRoutes
// now; ingress.cc will add Ingresses the same way), then merges what every object
// contributes in creation order, so earlier objects win ties across kinds too.
#include "controller/render/render.h"

#include <algorithm>
#include <tuple>

#include "controller/render/apiroute.h"
#include "controller/render/render_context.h"

namespace portico::controller {

RenderResult render(const ObjectSnapshot& objects, const RenderOptions& options) {
  ObjectIndex index(objects);
  RenderResult result;
  std::vector<ObjectOutput> outputs;
  renderApiRoutes(objects, index, options, outputs, result.diagnostics);

  std::stable_sort(outputs.begin(), outputs.end(), [](const ObjectOutput& a, const ObjectOutput& b) {
    return std::tie(a.creationTimestamp, a.ns, a.name, a.kind) <
           std::tie(b.creationTimestamp, b.ns, b.name, b.kind);
  });
  TableBuilder table;
  for (auto& out : outputs) {
    for (auto& route : out.part.routes) table.addRoute(std::move(route));
    for (auto& cert : out.part.certificates) table.addCertificate(std::move(cert));
    table.addRedirectHosts(out.part.httpsRedirectHosts);
  }
  result.table = std::move(table).finish();
  return result;
}

}  // namespace portico::controller
