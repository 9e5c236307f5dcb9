// Orchestrates render: builds the lookups once, then runs each kind's translator in a
// fixed order (APIRoutes now; Ingresses will follow from ingress.cc) into one table.
#include "controller/render/render.h"

#include "controller/render/apiroute.h"
#include "controller/render/render_context.h"

namespace portico::controller {

RenderResult render(const ObjectSnapshot& objects, const RenderOptions& options) {
  ObjectIndex index(objects);
  TableBuilder table;
  RenderResult result;
  renderApiRoutes(objects, index, options, table, result.diagnostics);
  result.table = std::move(table).finish();
  return result;
}

}  // namespace portico::controller
