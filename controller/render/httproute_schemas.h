// The field descriptions (field_schema.h) of HTTPRoute rules (gateway.networking.k8s.io/v1):
// each field's JSON name, member, kind and default written once, read by the HTTPRoute
// translator (httproute.cc). The apiserver has already checked the CRD's schema and CEL
// rules, so these mostly read; what they still report is what the CRD cannot know (an RE2
// pattern Portico cannot compile, a header the proxy manages). Where a Gateway API shape
// is the proxy's own (a header match), the description fills the proxy's struct; where it
// is not (a path modifier), it fills the small structs below. Internal to render.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "controller/render/field_schema.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

struct GwPathMatch {
  proxy::PathMatchType type = proxy::PathMatchType::Prefix;  // "PathPrefix"
  std::string value = "/";
};

struct GwQueryMatch {
  std::string type = "Exact";  // RegularExpression is refused (the proxy matches values exactly)
  std::string name;
  std::string value;
};

struct GwMatch {
  GwPathMatch path;
  std::vector<proxy::HeaderMatch> headers;
  std::vector<GwQueryMatch> queryParams;
  std::optional<std::string> method;
};

struct GwPathModifier {
  std::string type;  // ReplaceFullPath | ReplacePrefixMatch
  std::optional<std::string> replaceFullPath;
  std::optional<std::string> replacePrefixMatch;
};

struct GwRedirect {
  std::optional<std::string> scheme;
  std::optional<std::string> hostname;
  std::optional<GwPathModifier> path;
  std::optional<uint64_t> port;
  uint64_t statusCode = 302;
};

struct GwRewrite {
  std::optional<std::string> hostname;
  std::optional<GwPathModifier> path;
};

struct GwFilter {
  std::string type;
  std::optional<proxy::HeaderEdits> requestHeaderModifier;
  std::optional<proxy::HeaderEdits> responseHeaderModifier;
  std::optional<GwRedirect> requestRedirect;
  std::optional<GwRewrite> urlRewrite;
};

struct GwBackendRef {
  std::string group;  // "" = core
  std::string kind = "Service";
  std::string name;
  std::optional<std::string> ns;  // "namespace"
  std::optional<uint64_t> port;
  uint64_t weight = 1;
  bool hasFilters = false;  // backendRefs[].filters: not supported
};

struct GwTimeouts {
  std::optional<proxy::Millis> request;
  std::optional<proxy::Millis> backendRequest;
};

struct GwRule {
  std::optional<std::string> name;
  std::vector<GwMatch> matches;
  std::vector<GwFilter> filters;
  std::vector<GwBackendRef> backendRefs;
  GwTimeouts timeouts;
  std::vector<std::string> unsupported;  // fields present that Portico does not implement
};

// spec.rules[]: everything of a rule, nested descriptions included.
const Schema<GwRule>& httpRouteRuleSchema();

}  // namespace portico::controller
