// The APIRoute CRD (crds/portico.dev_apiroutes.yaml) and the field descriptions
// (controller/render/rule_schemas.h, api_names.h) name the same fields and enum values: a
// field added to one and not the other fails here, not in a cluster.
#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <string>

#include <yaml-cpp/yaml.h>

#include "controller/render/api_names.h"
#include "controller/render/backend_tls.h"
#include "controller/render/rule_schemas.h"
#include "controller/render/tcp_schema.h"

using namespace portico::controller;
namespace proxy = portico::proxy;

namespace {

// The schema of one rule (spec.rules[]).
YAML::Node ruleSchema() {
  auto crd = std::filesystem::path(__FILE__).parent_path() / "../../../crds/portico.dev_apiroutes.yaml";
  YAML::Node root = YAML::LoadFile(crd.string());
  return root["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["rules"]
             ["items"];
}

// The schema at a dotted path of property names below `node`; "[]" steps into list items.
YAML::Node at(YAML::Node node, const std::string& path) {
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    // reset, not =: assigning a YAML::Node writes through to the node it refers to.
    node.reset(part == "[]" ? node["items"] : node["properties"][part]);
    REQUIRE_MESSAGE(node.IsDefined(), path);
    if (dot == std::string::npos) return node;
    start = dot + 1;
  }
}

std::set<std::string> propertyNames(YAML::Node node) {
  std::set<std::string> names;
  for (const auto& p : node["properties"]) names.insert(p.first.as<std::string>());
  return names;
}

template <class S>
std::set<std::string> described(const Schema<S>& schema) {
  return {schema.names().begin(), schema.names().end()};
}

template <class E, size_t N>
std::vector<std::string> tableNames(const EnumName<E> (&names)[N]) {
  std::vector<std::string> out;
  for (const auto& n : names) out.emplace_back(n.name);
  return out;
}

std::vector<std::string> enumOf(YAML::Node node) {
  std::vector<std::string> out;
  for (const auto& v : node["enum"]) out.push_back(v.as<std::string>());
  return out;
}

}  // namespace

TEST_CASE("crd: every described rule object has exactly the CRD's properties") {
  YAML::Node rule = ruleSchema();
  auto same = [&](const std::string& path, const std::set<std::string>& names) {
    INFO(path);
    CHECK(propertyNames(at(rule, path)) == names);
  };
  same("retries", described(retriesSchema()));
  same("healthCheck", described(healthCheckSchema()));
  same("outlierDetection", described(outlierDetectionSchema()));
  same("circuitBreaker", described(circuitBreakerSchema()));
  same("timeouts", described(timeoutsSchema()));
  same("loadBalancing", described(loadBalancingSchema()));
  same("loadBalancing.sessionAffinity", described(sessionAffinitySchema()));
  same("backends.[].backendTLS", described(backendTlsSchema()));
  same("redirect", described(redirectSchema()));
  same("ipRules", described(ipRulesSchema()));
  same("cors", described(corsSchema()));
  same("rateLimit", described(rateLimitSchema()));
  same("auth.apiKey", described(apiKeyAuthSchema()));
  same("auth.basic", described(basicAuthSchema()));
  same("auth.jwt", described(jwtAuthSchema()));
  same("auth.external", described(externalAuthSchema()));
  same("auth.external.tls", described(backendTlsSchema()));
  same("auth.jwt.jwksTLS", described(backendTlsSchema()));
  same("match.headers.[]", described(headerMatchSchema()));
  same("match.query.[]", described(queryMatchSchema()));
  same("requestHeaders", described(headerEditsSchema()));
  same("responseHeaders", described(headerEditsSchema()));
  same("limits", described(limitsSchema()));
  same("rewrite", described(rewriteSchema()));
  same("rewrite.regex", described(regexRewriteSchema()));
}

TEST_CASE("crd: spec.tcp has the described fields, and the shared ones as the controller reads them") {
  auto crd = std::filesystem::path(__FILE__).parent_path() / "../../../crds/portico.dev_apiroutes.yaml";
  YAML::Node spec = YAML::LoadFile(crd.string())["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
  YAML::Node tcp = at(spec, "spec.tcp");
  CHECK(propertyNames(tcp) == described(tcpSchema()));
  CHECK(propertyNames(at(tcp, "timeouts")) == described(tcpTimeoutsSchema()));
  CHECK(at(tcp, "port")["maximum"].as<int>() == 65535);
  // What a TCP route leaves out of the rule's fields (the controller refuses these there).
  std::set<std::string> check = described(healthCheckSchema());
  check.erase("path");
  check.erase("host");
  CHECK(propertyNames(at(tcp, "healthCheck")) == check);
  CHECK(propertyNames(at(tcp, "backends.[]")) == std::set<std::string>{"url", "service", "port", "weight"});
  std::set<std::string> outlier = described(outlierDetectionSchema());
  outlier.erase("consecutive5xx");
  CHECK(propertyNames(at(tcp, "outlierDetection")) == outlier);
}

TEST_CASE("crd: every described count has the CRD's integer type and bounds") {
  YAML::Node rule = ruleSchema();
  auto bounds = [&](const std::string& path, const auto& schema) {
    YAML::Node object = at(rule, path);
    for (const auto& entry : schema.entries()) {
      if (!entry.bounds) continue;
      INFO(path << "." << entry.name);
      YAML::Node property = object["properties"][entry.name];
      REQUIRE(property.IsDefined());
      CHECK(property["type"].template as<std::string>() == "integer");
      if (property["minimum"]) CHECK(property["minimum"].template as<uint64_t>() == entry.bounds->first);
      if (property["maximum"]) CHECK(property["maximum"].template as<uint64_t>() == entry.bounds->second);
    }
  };
  bounds("retries", retriesSchema());
  bounds("healthCheck", healthCheckSchema());
  bounds("outlierDetection", outlierDetectionSchema());
  bounds("circuitBreaker", circuitBreakerSchema());
  bounds("loadBalancing", loadBalancingSchema());
  bounds("redirect", redirectSchema());
  bounds("rateLimit", rateLimitSchema());
  bounds("limits", limitsSchema());
}

TEST_CASE("crd: enum values are the names of api_names.h") {
  YAML::Node rule = ruleSchema();
  CHECK(enumOf(at(rule, "match.path.type")) == tableNames(kPathMatchTypeNames));
  CHECK(enumOf(at(rule, "match.headers.[].type")) == tableNames(kHeaderMatchTypeNames));
  CHECK(enumOf(at(rule, "loadBalancing.policy")) == tableNames(kLoadBalancingPolicyNames));
}
