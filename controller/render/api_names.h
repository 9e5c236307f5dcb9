// The names the APIRoute API (and the JSON views) give the proxy's enums, written once:
// readers parse with these tables, spec_json prints with them and diagnostics list them
// (field_schema.h: enumValue, enumName, choicesText). Internal to render.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controller/render/field_schema.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

// tls.clientAuth.mode.
inline constexpr EnumName<proxy::ClientAuthMode> kClientAuthModeNames[] = {
    {"Require", proxy::ClientAuthMode::Require},
    {"Optional", proxy::ClientAuthMode::Optional},
};

// loadBalancing.policy. The portico.dev/load-balancing annotation takes the first three
// (kIngressLoadBalancingPolicies).
inline constexpr EnumName<proxy::LoadBalancingPolicy> kLoadBalancingPolicyNames[] = {
    {"RoundRobin", proxy::LoadBalancingPolicy::RoundRobin},
    {"LeastRequest", proxy::LoadBalancingPolicy::LeastRequest},
    {"Random", proxy::LoadBalancingPolicy::Random},
    {"ConsistentHash", proxy::LoadBalancingPolicy::ConsistentHash},
};
static_assert(kLoadBalancingPolicyNames[3].value == proxy::LoadBalancingPolicy::ConsistentHash);
inline constexpr EnumNames<proxy::LoadBalancingPolicy> kIngressLoadBalancingPolicies =
    EnumNames<proxy::LoadBalancingPolicy>(kLoadBalancingPolicyNames).first(3);

// matches[].path.type.
inline constexpr EnumName<proxy::PathMatchType> kPathMatchTypeNames[] = {
    {"Exact", proxy::PathMatchType::Exact},
    {"Prefix", proxy::PathMatchType::Prefix},
    {"RegularExpression", proxy::PathMatchType::RegularExpression},
};

// matches[].headers[].type.
inline constexpr EnumName<proxy::HeaderMatchType> kHeaderMatchTypeNames[] = {
    {"Exact", proxy::HeaderMatchType::Exact},
    {"RegularExpression", proxy::HeaderMatchType::RegularExpression},
    {"Present", proxy::HeaderMatchType::Present},
};

// The source of loadBalancing.hashOn, in the order messages list them. Header, Cookie and
// Query are written with a name ("Header:X-User"); see parseHashOn in policies.h.
inline constexpr EnumName<proxy::HashSource> kHashSourceNames[] = {
    {"ClientIP", proxy::HashSource::ClientIP}, {"Path", proxy::HashSource::Path},
    {"Header", proxy::HashSource::Header},     {"Cookie", proxy::HashSource::Cookie},
    {"Query", proxy::HashSource::Query},
};
constexpr bool takesName(proxy::HashSource s) {
  return s == proxy::HashSource::Header || s == proxy::HashSource::Cookie || s == proxy::HashSource::Query;
}

// The kind of rateLimit.key. Header and Claim are written with a name ("Claim:sub"); see
// parseRateLimitKey.
inline constexpr EnumName<proxy::RateLimitKey> kRateLimitKeyNames[] = {
    {"ClientIP", proxy::RateLimitKey::ClientIP},
    {"Consumer", proxy::RateLimitKey::Consumer},
    {"Header", proxy::RateLimitKey::Header},
    {"Claim", proxy::RateLimitKey::Claim},
};
constexpr bool takesName(proxy::RateLimitKey k) {
  return k == proxy::RateLimitKey::Header || k == proxy::RateLimitKey::Claim;
}

// "A, B:NAME or C": the table's names, ":NAME" after those that take one.
template <class E, size_t N>
std::string namedChoicesText(const EnumName<E> (&names)[N]) {
  std::vector<std::string> written;
  for (const auto& n : names) written.push_back(std::string(n.name) + (takesName(n.value) ? ":NAME" : ""));
  return choicesText(std::vector<std::string_view>(written.begin(), written.end()));
}

// Splits "Kind" or "Kind:NAME" by the table: the kind and what follows the first colon
// (nullopt without one); nullopt when the kind is unknown or takes a name and has none, or
// the other way round.
template <class E, size_t N>
std::optional<std::pair<E, std::string_view>> splitNamedKind(const EnumName<E> (&names)[N], std::string_view text) {
  size_t colon = text.find(':');
  auto kind = enumValue(names, text.substr(0, colon));
  if (!kind || takesName(*kind) != (colon != std::string_view::npos)) return std::nullopt;
  return std::pair{*kind, colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1)};
}

}  // namespace portico::controller
