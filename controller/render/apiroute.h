// APIRoute (portico.dev/v1alpha1) to routes. Internal to render.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/render/render.h"
#include "controller/render/render_context.h"

namespace portico::controller {

// Translates every APIRoute of `objects` that is ours (spec.ingressClassName unset, or a
// class that `classes` says is ours) into one ObjectOutput per object that rendered
// something, ordered by metadata.creationTimestamp, then namespace/name (rules keep their
// order). Diagnostics come in the same order. See render.h for what is rejected and what
// is rendered degraded.
void renderApiRoutes(const std::vector<const nlohmann::json*>& objects, const ObjectIndex& index,
                     const ClassSelector& classes, const RenderOptions& options,
                     std::vector<ObjectOutput>& outputs, std::vector<Diagnostic>& diagnostics);

// One APIRoute: its diagnostics, and what it contributes to the table (nullopt: nothing).
// `seen` ("namespace/name" of the APIRoutes before it) reports duplicates; nullptr when the
// input cannot have any (a store keyed by namespace/name).
std::optional<ObjectOutput> renderApiRoute(const OrderedObject& object, const ObjectIndex& index,
                                           const ClassSelector& classes, const RenderOptions& options,
                                           std::vector<Diagnostic>& diagnostics,
                                           std::set<std::string>* seen);

}  // namespace portico::controller
