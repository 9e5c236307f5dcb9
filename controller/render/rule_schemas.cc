#include "controller/render/rule_schemas.h"

#include <chrono>

#include "controller/render/api_names.h"
#include "controller/render/policies.h"
#include "controller/render/validation.h"

namespace portico::controller {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using namespace std::chrono_literals;

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }
std::string ms(proxy::Millis t) { return std::to_string(t.count()) + "ms"; }

constexpr uint64_t kMaxCount = 1000000;  // circuit breaker limits

// retries.on: a list of conditions (applyRetryOn), a bare status code as good as a quoted one.
void readRetryOn(const json& on, const std::string& field, proxy::RetrySpec& spec, Reporter& reporter) {
  if (!on.is_array()) {
    reporter.invalid(field, "InvalidField", "must be a list, not " + jsonTypeName(on));
    return;
  }
  if (on.empty()) reporter.invalid(field, "InvalidField", "needs at least one condition");
  for (size_t i = 0; i < on.size(); ++i) {
    const json& c = on[i];
    std::string f = indexField(field, i);
    std::string why;
    if (c.is_number_integer()) {
      why = applyRetryOn(c.dump(), spec);
    } else if (!c.is_string()) {
      why = "must be a string, not " + jsonTypeName(c);
    } else {
      why = applyRetryOn(c.get_ref<const std::string&>(), spec);
    }
    if (!why.empty()) reporter.invalid(f, "InvalidField", why);
  }
}

void viewRetryOn(const proxy::RetrySpec& s, ordered_json& out) {
  out["onConnectFailure"] = s.onConnectFailure;
  out["onReset"] = s.onReset;
  out["onTimeout"] = s.onTimeout;
  out["on5xx"] = s.on5xx;
  out["onStatuses"] = s.onStatuses;
}

// A Host header: a DNS name, optionally with :port (lower-cased).
std::string checkHostHeader(const std::string& written, const std::string& lower) {
  std::string_view name = lower;
  if (size_t colon = name.rfind(':'); colon != std::string_view::npos && checkHostPort(name).empty()) {
    name = name.substr(0, colon);
  }
  return isDnsSubdomain(name) ? std::string() : quote(written) + " must be a DNS name, optionally with :port";
}

}  // namespace

std::string checkRequestPath(std::string_view path) {
  bool bad = !path.starts_with("/") || !isHttpFieldValue(path) || path.find_first_of(" #") != std::string::npos;
  return bad ? quote(path) + " must start with '/' and have no spaces, control characters or '#'" : std::string();
}

const Schema<proxy::SessionAffinitySpec>& sessionAffinitySchema() {
  using S = proxy::SessionAffinitySpec;
  static const Schema<S> schema{
      field::string("cookieName", &S::cookieName,
                    {.check = [](const std::string& name, const std::string&) {
                      return isHttpToken(name) ? std::string() : quote(name) + " is not a valid cookie name";
                    }}),
      field::duration("ttl", &S::ttl, {.min = 0ms}),
  };
  return schema;
}

const Schema<proxy::RouteSpec>& loadBalancingSchema() {
  using S = proxy::RouteSpec;
  using proxy::LoadBalancingPolicy;
  static const Schema<S> schema{
      // hashOn and sessionAffinity are judged against the policy: not without a good one.
      field::stopIfInvalid(field::enumeration("policy", &S::loadBalancing, kLoadBalancingPolicyNames,
                                              {.whenAbsent = LoadBalancingPolicy::RoundRobin})),
      field::custom<S>(
          "hashOn",
          [](const json& value, const std::string& f, S& route, Reporter& reporter) {
            if (!value.is_string()) {
              reporter.invalid(f, "InvalidField", "must be a string, not " + jsonTypeName(value));
            } else if (route.loadBalancing != LoadBalancingPolicy::ConsistentHash) {
              reporter.invalid(f, "InvalidField", "is only valid with policy ConsistentHash");
            } else if (auto key = parseHashOn(value.get_ref<const std::string&>()); !key) {
              reporter.invalid(f, "InvalidField", key.error().message);
            } else {
              route.hashOn = std::move(key).value();
            }
          },
          {}),
      field::object("sessionAffinity", &S::sessionAffinity, sessionAffinitySchema()),
      field::check<S>([](const S& route, const std::string& field, Reporter& reporter) {
        if (route.sessionAffinity && route.loadBalancing == LoadBalancingPolicy::ConsistentHash) {
          reporter.invalid(childField(field, "sessionAffinity"), "InvalidField",
                           "cannot be combined with policy ConsistentHash (both pin clients to "
                           "endpoints); use hashOn: Cookie:NAME instead");
        }
      }),
      field::count("panicThresholdPercent", &S::panicThresholdPercent, {.max = 100}),
  };
  return schema;
}

const Schema<proxy::Timeouts>& timeoutsSchema() {
  using S = proxy::Timeouts;
  static const Schema<S> schema{
      field::duration("connect", &S::connect, {.min = 1ms}),
      field::duration("request", &S::request, {.min = 1ms}),
      field::duration("idle", &S::idle, {.min = 1ms}),
  };
  return schema;
}

const Schema<proxy::RedirectSpec>& redirectSchema() {
  using S = proxy::RedirectSpec;
  static const Schema<S> schema{
      field::string("scheme", &S::scheme,
                    {.check = [](const std::string& scheme, const std::string&) {
                      return scheme == "http" || scheme == "https" ? std::string()
                                                                   : quote(scheme) + " must be http or https";
                    }}),
      field::string("host", &S::host,
                    {.normalize = toLower,
                     .check = [](const std::string& written, const std::string& lower) {
                       return isDnsSubdomain(lower) ? std::string()
                                                    : quote(written) + " must be a DNS name (put the port in port)";
                     }}),
      field::count("port", &S::port, {.min = 1, .max = 65535, .belowMin = "must be from 1 to 65535"}),
      field::string("path", &S::path,
                    {.check = [](const std::string& p, const std::string&) { return checkRequestPath(p); },
                     .reason = "InvalidPath"}),
      field::count("statusCode", &S::status, {.max = 999, .view = "status"}),
      field::check<S>([](const S& s, const std::string& field, Reporter& reporter) {
        if (s.status != 301 && s.status != 302 && s.status != 303 && s.status != 307 && s.status != 308) {
          reporter.invalid(childField(field, "statusCode"), "InvalidField",
                           std::to_string(s.status) + " must be 301, 302, 303, 307 or 308");
        }
        if (!s.scheme && !s.host && !s.port && !s.path) {
          reporter.invalid(field, "InvalidField",
                           "needs at least one of scheme, host, port or path (else it redirects to itself)");
        }
      }),
  };
  return schema;
}

const Schema<proxy::RetrySpec>& retriesSchema() {
  using S = proxy::RetrySpec;
  static const Schema<S> schema{
      field::count("attempts", &S::attempts, {.max = 10, .whenAbsent = 1}),
      // A missing `on` means connect-failure and reset.
      field::custom<S>("on", readRetryOn, viewRetryOn,
                       [](S& s) {
                         s.onConnectFailure = true;
                         s.onReset = true;
                       }),
      field::duration("perTryTimeout", &S::perTryTimeout, {.min = 1ms}),
      field::boolean("nonIdempotent", &S::nonIdempotent),
      field::group<S>(
          "backoff",
          {
              field::duration("base", &S::backoffBase, {.min = 1ms, .view = "backoffBaseMs"}),
              field::duration("max", &S::backoffMax, {.min = 1ms, .view = "backoffMaxMs"}),
              field::check<S>([](const S& s, const std::string& field, Reporter& reporter) {
                if (s.backoffMax < s.backoffBase) {
                  reporter.invalid(field, "InvalidField",
                                   "max (" + ms(s.backoffMax) + ") must not be less than base (" +
                                       ms(s.backoffBase) + ")");
                }
              }),
          }),
      field::count("budgetPercent", &S::budgetPercent, {.max = 100}),
      field::count("minRetriesInFlight", &S::minRetriesInFlight, {.max = 10000}),
  };
  return schema;
}

const Schema<proxy::HealthCheckSpec>& healthCheckSchema() {
  using S = proxy::HealthCheckSpec;
  static const Schema<S> schema{
      field::string("path", &S::path,
                    {.check = [](const std::string& p, const std::string&) { return checkRequestPath(p); },
                     .reason = "InvalidPath"}),
      field::string("host", &S::host, {.normalize = toLower, .check = checkHostHeader}),
      field::duration("interval", &S::interval, {.min = 100ms}),
      field::duration("timeout", &S::timeout, {.min = 1ms}),
      field::check<S>([](const S& s, const std::string& field, Reporter& reporter) {
        if (s.timeout > s.interval) {
          reporter.invalid(childField(field, "timeout"), "InvalidField",
                           ms(s.timeout) + " must not be longer than the interval (" + ms(s.interval) + ")");
        }
      }),
      field::count("healthyThreshold", &S::healthyThreshold, {.min = 1, .max = 100}),
      field::count("unhealthyThreshold", &S::unhealthyThreshold, {.min = 1, .max = 100}),
  };
  return schema;
}

const Schema<proxy::OutlierDetectionSpec>& outlierDetectionSchema() {
  using S = proxy::OutlierDetectionSpec;
  static const Schema<S> schema{
      field::count("consecutive5xx", &S::consecutive5xx, {.max = 1000}),
      field::count("consecutiveGatewayFailures", &S::consecutiveGatewayFailures, {.max = 1000}),
      field::duration("baseEjectionTime", &S::baseEjectionTime, {.min = 1ms}),
      field::duration("maxEjectionTime", &S::maxEjectionTime, {.min = 1ms}),
      field::check<S>([](const S& s, const std::string& field, Reporter& reporter) {
        if (s.maxEjectionTime < s.baseEjectionTime) {
          reporter.invalid(childField(field, "maxEjectionTime"), "InvalidField",
                           ms(s.maxEjectionTime) + " must not be less than baseEjectionTime (" +
                               ms(s.baseEjectionTime) + ")");
        }
      }),
      field::count("maxEjectionPercent", &S::maxEjectionPercent, {.max = 100}),
  };
  return schema;
}

const Schema<proxy::CircuitBreakerSpec>& circuitBreakerSchema() {
  using S = proxy::CircuitBreakerSpec;
  static const Schema<S> schema{
      field::count("maxConnections", &S::maxConnections, {.max = kMaxCount}),
      field::count("maxPendingRequests", &S::maxPendingRequests, {.max = kMaxCount}),
      field::count("maxRequests", &S::maxRequests, {.max = kMaxCount}),
  };
  return schema;
}

}  // namespace portico::controller
