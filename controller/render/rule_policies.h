// The load-balancing, resilience and gateway-policy fields of an APIRoute rule:
// loadBalancing, retries, healthCheck, outlierDetection, circuitBreaker, ipRules, cors,
// auth, rateLimit and redirect. Internal to render (apiroute.cc calls it).
//
// Rules of the translation (see also crds/portico.dev_apiroutes.yaml):
//  - Every problem is reported on the precise field ("spec.rules[0].auth.apiKey.secretName")
//    and rejects the rule. The security policies (auth, rateLimit, ipRules) are also
//    rejected when written as null, so a rule that asked for one never serves without it.
//  - auth: the Secret is read from the APIRoute's namespace on every render, so a rotated
//    Secret gives a new table. A missing Secret (SecretNotFound) or an unusable one
//    (InvalidSecret) is reported as ResolvedRefs False and the rule is not served.
//  - loadBalancing.hashOn needs policy ConsistentHash; sessionAffinity works with every
//    policy except ConsistentHash (both pin a client to an endpoint; choose one).
//  - retries: a missing `on` means connect-failure and reset.
//  - rateLimit.key Consumer needs an auth method; Claim:NAME needs auth.jwt.
//  - redirect: the rule is answered by Portico; it must not have backends.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "controller/render/field_path.h"
#include "controller/render/field_schema.h"
#include "controller/render/render_context.h"
#include "controller/render/secrets.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

class RulePolicyReader {
 public:
  RulePolicyReader(const ObjectIndex& index, std::string ns, Reporter& reporter)
      : index_(index), ns_(std::move(ns)), reporter_(reporter) {}

  // Reads every policy field of `rule` (at `field`, "spec.rules[i]") into `route`.
  // False if any of them had a problem (all of them are reported).
  bool read(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);

  bool readLoadBalancing(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readRetries(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readHealthCheck(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readOutlierDetection(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readCircuitBreaker(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readIpRules(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readCors(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readAuth(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readRateLimit(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readRedirect(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);

 private:
  bool readApiKey(const nlohmann::json& auth, const std::string& field, proxy::AuthSpec& spec);
  bool readBasic(const nlohmann::json& auth, const std::string& field, proxy::AuthSpec& spec);
  bool readJwt(const nlohmann::json& auth, const std::string& field, proxy::AuthSpec& spec);
  bool readExternal(const nlohmann::json& auth, const std::string& field, proxy::AuthSpec& spec);
  // rule[key], described by `schema`, into `out` (readNested), but `key: null` is an error:
  // a security policy written as null must not turn off silently.
  template <class T, class Out>
  bool readSecurityPolicy(const nlohmann::json& rule, std::string_view key, const std::string& field,
                          const Schema<T>& schema, Out& out);
  // auth[key], an auth method: its plain fields by `schema`, then `finish(object, field, spec)`
  // for what needs the Secret; `out` is set only when finish succeeds.
  template <class T, class Finish>
  bool readAuthMethod(const nlohmann::json& auth, std::string_view key, const std::string& field,
                      const Schema<T>& schema, std::optional<T>& out, Finish finish);
  // object[key]: the backendTLS fields for the https service at `url` (external auth, a
  // JWKS URI), resolved with the Secrets into `out`; absent: nothing. False (reported) on a
  // problem, a Secret that does not resolve included.
  bool readServiceTls(const nlohmann::json& object, std::string_view key, const std::string& field,
                      const std::string& url, std::optional<proxy::UpstreamTlsSpec>& out);
  // A secret name at object[key], required.
  std::optional<std::string> readSecretName(const nlohmann::json& object, const std::string& parent);
  // `object`'s secretName, looked up in the rule's namespace and decoded by `decode`;
  // nullopt (with a diagnostic) when the name, the Secret or its data is bad.
  template <class Decode>
  auto readSecret(const nlohmann::json& object, const std::string& parent, Decode decode) {
    using Result = decltype(resolveSecret(index_, ns_, std::string(), parent, reporter_, decode));
    auto name = readSecretName(object, parent);
    if (!name) return Result();
    return resolveSecret(index_, ns_, *name, childField(parent, "secretName"), reporter_, decode);
  }

  // `object`'s Secret (readSecret) into spec.*member; false (reported) if it cannot be read.
  template <class Spec, class M, class Decode>
  bool readSecretInto(const nlohmann::json& object, const std::string& parent, Decode decode, Spec& spec,
                      M Spec::*member) {
    auto value = readSecret(object, parent, decode);
    if (!value) return false;
    spec.*member = std::move(*value);
    return true;
  }

  template <class F>
  bool clean(F&& read) {
    size_t before = reporter_.count();
    bool ok = read();
    return ok && reporter_.count() == before;
  }

  const ObjectIndex& index_;
  std::string ns_;
  Reporter& reporter_;
};

}  // namespace portico::controller
