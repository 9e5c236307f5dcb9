// APIRoute (portico.dev/v1alpha1) to routes. Internal to render.
#pragma once

#include <vector>

#include "controller/render/render.h"
#include "controller/render/render_context.h"

namespace portico::controller {

// Translates every APIRoute of `objects` that belongs to options.ingressClass, ordered by
// metadata.creationTimestamp, then namespace/name, then rule order. See render.h for what
// is rejected and what is rendered degraded.
void renderApiRoutes(const ObjectSnapshot& objects, const ObjectIndex& index,
                     const RenderOptions& options, TableBuilder& table,
                     std::vector<Diagnostic>& diagnostics);

}  // namespace portico::controller
