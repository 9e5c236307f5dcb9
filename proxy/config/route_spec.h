// The routing configuration as plain values: what the controller's render produces and
// what RouteTable::build compiles into lookup structures. No Kubernetes types here; the
// controller maps Ingress and APIRoute objects onto these.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace portico::proxy {

using Millis = std::chrono::milliseconds;

// Exact: the whole normalized path. Prefix: element-wise on '/', so "/foo" matches "/foo",
// "/foo/" and "/foo/bar" but not "/foobar"; trailing slashes of the prefix are ignored.
// RegularExpression: RE2 syntax, must match the whole path.
enum class PathMatchType { Exact, Prefix, RegularExpression };

// Exact: byte equality of the value. RegularExpression: RE2 full match. Present: any value.
enum class HeaderMatchType { Exact, RegularExpression, Present };

enum class LoadBalancingPolicy { RoundRobin, LeastRequest, Random, ConsistentHash };

struct HeaderMatch {
  std::string name;  // case-insensitive
  HeaderMatchType type = HeaderMatchType::Exact;
  std::string value;
};

struct QueryMatch {
  std::string name;  // case-sensitive, compared after percent-decoding
  std::string value;
};

// One network address of a backend. Runtime state (health, pools) is keyed by address().
struct EndpointSpec {
  std::string host;  // IP literal or DNS name
  uint16_t port = 0;
  uint32_t weight = 1;
  bool operator==(const EndpointSpec&) const = default;
  std::string address() const { return host + ":" + std::to_string(port); }
};

// A weighted group of endpoints: a Kubernetes Service port or a static url.
struct BackendSpec {
  std::string key;  // stable identity: "ns/service:port" or "url:http://host:port"
  uint32_t weight = 1;
  bool tls = false;  // https:// upstream
  std::vector<EndpointSpec> endpoints;
};

struct HeaderEdits {
  std::vector<std::pair<std::string, std::string>> set;  // replaces every existing value
  std::vector<std::pair<std::string, std::string>> add;  // appends a value
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};

struct Timeouts {
  Millis connect{5000};
  Millis request{60000};  // whole exchange: request headers sent to response complete
  Millis idle{60000};     // upstream keep-alive connection idle time in the pool
};

struct RouteSpec {
  std::string name;  // unique in the table: "namespace/object/rule"; shows in logs, metrics
  std::vector<std::string> hosts;  // lower case; "*.example.com" wildcard; empty = every host
  PathMatchType pathType = PathMatchType::Prefix;
  std::string path = "/";
  std::vector<std::string> methods;  // upper case; empty = any
  std::vector<HeaderMatch> headers;
  std::vector<QueryMatch> query;
  std::vector<BackendSpec> backends;  // empty: 503 (no endpoints)
  LoadBalancingPolicy loadBalancing = LoadBalancingPolicy::RoundRobin;
  Timeouts timeouts;
  std::optional<std::string> rewritePathPrefix;  // replaces the matched prefix
  std::optional<std::string> rewriteHost;
  HeaderEdits requestHeaders;
  HeaderEdits responseHeaders;
  uint64_t maxRequestBodyBytes = 0;  // 0 = the listener default
};

// A certificate and key in PEM (the kubernetes.io/tls Secret shape), served for `hosts`
// by SNI. The table's first certificate with isDefault (or the first one) is the fallback.
struct CertificateSpec {
  std::string name;  // "namespace/secret"
  std::vector<std::string> hosts;  // exact or "*.example.com"
  std::string certificatePem;
  std::string privateKeyPem;
  bool isDefault = false;
};

// Hosts whose plain-HTTP requests are answered with 308 to https.
struct RouteTableSpec {
  std::vector<RouteSpec> routes;  // in creation order; earlier wins ties
  std::vector<CertificateSpec> certificates;
  std::vector<std::string> httpsRedirectHosts;  // exact or wildcard, lower case
};

}  // namespace portico::proxy
