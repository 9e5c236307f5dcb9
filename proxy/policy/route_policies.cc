#include "proxy/policy/route_policies.h"

#include <re2/re2.h>
#include <spdlog/spdlog.h>

#include "proxy/config/spec_reuse.h"
#include "proxy/router/query.h"

namespace portico::proxy::policy {

namespace {
std::optional<RedisRateLimiterOptions> redisOptionsOf(const GatewayOptions& options) {
  if (options.redisAddress.empty()) return std::nullopt;
  RedisRateLimiterOptions redis;
  const size_t colon = options.redisAddress.rfind(':');
  redis.host = options.redisAddress.substr(0, colon);
  if (colon != std::string::npos) redis.port = static_cast<uint16_t>(std::stoi(options.redisAddress.substr(colon + 1)));
  redis.connectTimeout = options.redisTimeout;
  redis.commandTimeout = options.redisTimeout;
  return redis;
}

CidrSet trustedSet(const std::vector<std::string>& cidrs) {
  auto set = CidrSet::parse(cidrs);
  if (!set) throw std::invalid_argument("--trusted-proxy: " + set.error().message);
  return std::move(*set);
}

Verdict deny(unsigned status, std::string message, HeaderList headers = {}) {
  return Verdict{status, std::move(message), std::move(headers)};
}
}  // namespace

GatewayRuntime::GatewayRuntime(const GatewayOptions& options, JwksFetcher fetcher)
    : trusted_(trustedSet(options.trustedProxies)), redis_(redisOptionsOf(options)), jwks_(std::move(fetcher)) {}

std::string GatewayRuntime::clientAddress(std::string_view peer, std::string_view forwardedFor) const {
  if (trusted_.empty()) return std::string(peer);
  return policy::clientAddress(peer, forwardedFor, trusted_);
}

RoutePolicies::RoutePolicies(RoutePolicies&&) noexcept = default;
RoutePolicies::~RoutePolicies() = default;

Expected<RoutePolicies> RoutePolicies::compile(const RouteSpec& spec, GatewayRuntime& runtime) {
  RoutePolicies p;
  p.spec_ = &spec;
  auto fail = [&](const std::string& what, const std::string& message) {
    return Error{"route " + spec.name + ": " + what + ": " + message};
  };
  if (!spec.ipRules.empty()) {
    auto rules = IpRules::create(spec.ipRules);
    if (!rules) return fail("ipRules", rules.error().message);
    p.ipRules_ = std::make_unique<IpRules>(std::move(*rules));
  }
  if (spec.cors) p.cors_ = std::make_unique<CorsPolicy>(*spec.cors);
  if (spec.auth.apiKey) p.apiKey_ = std::make_unique<ApiKeyAuthenticator>(*spec.auth.apiKey);
  if (spec.auth.basic) {
    auto basic = BasicAuthenticator::create(*spec.auth.basic);
    if (!basic) return fail("auth.basic", basic.error().message);
    p.basic_ = std::make_unique<BasicAuthenticator>(std::move(*basic));
  }
  if (spec.auth.jwt) {
    auto jwt = JwtVerifier::create(*spec.auth.jwt, &runtime.jwks());
    if (!jwt) return fail("auth.jwt", jwt.error().message);
    p.jwt_ = std::make_unique<JwtVerifier>(std::move(*jwt));
  }
  if (spec.rewritePathRegex) {
    p.rewrite_ = std::make_unique<re2::RE2>(spec.rewritePathRegex->pattern);
    if (!p.rewrite_->ok()) return fail("rewrite.regex", p.rewrite_->error());
  }
  p.empty_ = !p.ipRules_ && !p.cors_ && spec.auth.empty() && !spec.rateLimit;
  return p;
}

Verdict RoutePolicies::admit(const RequestView& request, std::string_view clientAddress, Admission& admission) const {
  Verdict verdict = checkAddress(clientAddress);
  if (verdict) verdict = applyCors(request, admission);
  if (verdict) verdict = authenticate(request, admission);
  return verdict;
}

Verdict RoutePolicies::checkAddress(std::string_view clientAddress) const {
  if (ipRules_ && !ipRules_->allows(clientAddress)) return deny(403, "client address not allowed");
  return {};
}

Verdict RoutePolicies::applyCors(const RequestView& request, Admission& admission) const {
  if (cors_) {
    const auto origin = request.header("origin");
    const auto requestMethod = request.header("access-control-request-method");
    if (isPreflight(request.method(), origin.has_value(), requestMethod.has_value())) {
      const auto result =
          cors_->preflight(*origin, *requestMethod, request.header("access-control-request-headers").value_or(""));
      if (!result.allowed) return deny(403, "CORS preflight not allowed");
      return deny(204, "", result.headers);  // answered here: never reaches the backend
    }
    admission.responseHeaders = cors_->actualResponseHeaders(origin.value_or(""));
  }
  return {};
}

Verdict RoutePolicies::authenticate(const RequestView& request, Admission& admission, bool* jwtKeyMissing) const {
  const AuthSpec& auth = spec_->auth;
  if (apiKey_) {
    std::optional<std::string_view> presented;
    if (!apiKey_->header().empty()) {
      presented = request.header(apiKey_->header());
      admission.removeUpstream.push_back(apiKey_->header());
    } else {
      presented = router::findRawQueryValue(request.query(), apiKey_->query());
      admission.removeQueryParam = apiKey_->query();
    }
    std::string decodedQueryValue;  // a header value is used as it is, without a copy
    std::string_view key = presented.value_or("");
    if (presented && apiKey_->header().empty()) key = decodedQueryValue = router::decodeQueryComponent(*presented);
    admission.consumer = apiKey_->authenticate(key);
    if (!admission.consumer) return deny(401, presented ? "invalid API key" : "missing API key");
    admission.removeUpstream.push_back(apiKey_->consumerHeader());
    admission.setUpstream.emplace_back(apiKey_->consumerHeader(), *admission.consumer);
  } else if (basic_) {
    admission.consumer = basic_->authenticate(request.header("authorization").value_or(""));
    if (!admission.consumer)
      return deny(401, "valid Basic credentials required", {{"www-authenticate", basic_->wwwAuthenticate()}});
    admission.removeUpstream.push_back("authorization");
    admission.removeUpstream.push_back(basic_->userHeader());
    admission.setUpstream.emplace_back(basic_->userHeader(), *admission.consumer);
  } else if (jwt_) {
    const auto token = bearerToken(request.header("authorization").value_or(""));
    if (!token) return deny(401, "bearer token required", {{"www-authenticate", "Bearer"}});
    auto claims = jwt_->verify(*token, std::chrono::system_clock::now(), jwtKeyMissing);
    if (!claims)
      return deny(401, claims.error().message, {{"www-authenticate", "Bearer error=\"invalid_token\""}});
    admission.claims = std::move(*claims);
    admission.consumer = claimAsString(admission.claims, "sub");
    // A client must not be able to send a header that looks like a forwarded claim.
    for (const auto& [claim, header] : auth.jwt->forwardClaims) admission.removeUpstream.push_back(header);
    for (auto& header : forwardedClaimHeaders(admission.claims, auth.jwt->forwardClaims))
      admission.setUpstream.push_back(std::move(header));
  }
  return {};
}

Verdict RoutePolicies::rateLimitKey(const RequestView& request, std::string_view clientAddress,
                                    const Admission& admission, std::string& key) const {
  const RateLimitSpec& rl = *spec_->rateLimit;
  switch (rl.key) {
    case RateLimitKey::ClientIP:
      key = clientAddress;
      break;
    case RateLimitKey::Consumer:
      if (!admission.consumer) return deny(401, "rate limit by consumer needs an authenticated consumer");
      key = *admission.consumer;
      break;
    case RateLimitKey::Header:
      key = std::string(request.header(rl.keyName).value_or(""));
      break;
    case RateLimitKey::Claim:
      key = claimAsString(admission.claims, rl.keyName).value_or("");
      break;
  }
  return {};
}

Verdict RoutePolicies::rateLimitVerdict(const RateLimitDecision& decision, Admission& admission) {
  if (decision.unavailable && !decision.allowed) return deny(503, "rate limit store unavailable");
  HeaderList headers;
  for (auto& [name, value] : renderRateLimitHeaders(decision).list()) headers.emplace_back(std::string(name), value);
  if (!decision.allowed) return deny(429, "rate limit exceeded", std::move(headers));
  for (auto& header : headers) admission.responseHeaders.push_back(std::move(header));
  return {};
}

std::optional<std::string> RoutePolicies::regexRewrite(std::string_view path) const {
  if (!rewrite_) return std::nullopt;
  std::string out(path);
  re2::RE2::GlobalReplace(&out, *rewrite_, spec_->rewritePathRegex->substitution);
  if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
  return out;
}

// A route's policies and the spec they point into, freed together.
struct PolicyCompiler::CompiledRoute {
  RouteSpecConstSharedPtr spec;
  RoutePolicies policies;
};

PolicyCompiler::PolicyCompiler(GatewayRuntime& runtime) : runtime_(runtime) {}
PolicyCompiler::~PolicyCompiler() = default;

TablePoliciesConstSharedPtr PolicyCompiler::forTable(const RouteTable& table) {
  std::lock_guard lock(mu_);
  if (last_ && last_->version == table.version()) return last_;
  if (last_ && last_->version > table.version()) return forOlderTable(table);
  auto compiled = std::make_shared<TablePolicies>();
  compiled->version = table.version();
  compiled->routes.reserve(table.routes().size());
  compiled->specs.reserve(table.routes().size());
  std::vector<std::unique_ptr<CompiledRoute>> owned;
  owned.reserve(table.routes().size());
  static const std::vector<const RouteSpec*> kNone;
  SpecReuse reuse(last_ ? last_->version : 0, last_ ? last_->specs : kNone, table);
  for (const Route& route : table.routes()) {
    if (const size_t kept = reuse.find(route); kept != Route::kNoPrevious) {
      owned.push_back(std::move(owned_[kept]));
    } else if (auto policies = RoutePolicies::compile(route.spec, runtime_)) {
      owned.push_back(std::make_unique<CompiledRoute>(CompiledRoute{route.sharedSpec(), std::move(*policies)}));
    } else {
      // Not kept: compiled (and logged) again with every table until fixed, as before.
      spdlog::error("{}; the route answers 503 until fixed", policies.error().message);
      owned.push_back(nullptr);
    }
    compiled->routes.push_back(owned.back() ? &owned.back()->policies : nullptr);
    compiled->specs.push_back(owned.back() ? &route.spec : nullptr);
  }
  // What the new table does not keep may still be used by workers on older tables.
  for (auto& gone : owned_) retired_.retire(table.version(), std::move(gone));
  retired_.track(table.version(), compiled);
  retired_.collect();
  owned_ = std::move(owned);
  last_ = compiled;
  return compiled;
}

// A worker that read the table just before a newer one was published and compiled can
// ask for it after the newer one. The objects it shares with the newest table stay
// owned as they are; the others are compiled for it alone and retired at once, so they
// live exactly as long as lists as old as this one.
TablePoliciesConstSharedPtr PolicyCompiler::forOlderTable(const RouteTable& table) {
  auto compiled = std::make_shared<TablePolicies>();
  compiled->version = table.version();
  SpecReuse reuse(last_->version, last_->specs, table);
  for (const Route& route : table.routes()) {
    const RoutePolicies* policies = nullptr;
    if (const size_t kept = reuse.find(route); kept != Route::kNoPrevious) {
      policies = last_->routes[kept];
    } else if (auto fresh = RoutePolicies::compile(route.spec, runtime_)) {
      auto owned = std::make_unique<CompiledRoute>(CompiledRoute{route.sharedSpec(), std::move(*fresh)});
      policies = &owned->policies;
      retired_.retire(last_->version, std::move(owned));
    } else {
      spdlog::error("{}; the route answers 503 until fixed", fresh.error().message);
    }
    compiled->routes.push_back(policies);
    compiled->specs.push_back(nullptr);  // never reused: the next table is built from a newer one
  }
  retired_.track(table.version(), compiled);
  return compiled;
}

}  // namespace portico::proxy::policy
