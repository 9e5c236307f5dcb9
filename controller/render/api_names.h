// The names the APIRoute API (and the JSON views) give the proxy's enums, written once:
// readers parse with these tables, spec_json prints with them and diagnostics list them
// (field_schema.h: enumValue, enumName, choicesText). Internal to render.
#pragma once

#include "controller/render/field_schema.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

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

// The source of loadBalancing.hashOn ("Header:NAME" is written with its name; see
// parseHashOn in policies.h).
inline constexpr EnumName<proxy::HashSource> kHashSourceNames[] = {
    {"ClientIP", proxy::HashSource::ClientIP}, {"Header", proxy::HashSource::Header},
    {"Cookie", proxy::HashSource::Cookie},     {"Query", proxy::HashSource::Query},
    {"Path", proxy::HashSource::Path},
};

// The kind of rateLimit.key ("Header:NAME", "Claim:NAME"; see parseRateLimitKey).
inline constexpr EnumName<proxy::RateLimitKey> kRateLimitKeyNames[] = {
    {"ClientIP", proxy::RateLimitKey::ClientIP},
    {"Consumer", proxy::RateLimitKey::Consumer},
    {"Header", proxy::RateLimitKey::Header},
    {"Claim", proxy::RateLimitKey::Claim},
};

}  // namespace portico::controller
