// APIRoute (portico.dev/v1alpha1) to routes. Internal to render.
#pragma once

#include <vector>

#include "controller/render/render.h"
#include "controller/render/render_context.h"

namespace portico::controller {

// Translates every APIRoute of `objects` that is ours (spec.ingressClassName unset, or a
// class that `classes` says is ours) into one ObjectOutput per object that rendered
// something, ordered by metadata.creationTimestamp, then namespace/name (rules keep their
// order). Diagnostics come in the same order. See render.h for what is rejected and what
// is rendered degraded.
void renderApiRoutes(const ObjectSnapshot& objects, const ObjectIndex& index,
                     const ClassSelector& classes, const RenderOptions& options,
                     std::vector<ObjectOutput>& outputs, std::vector<Diagnostic>& diagnostics);

}  // namespace portico::controller
