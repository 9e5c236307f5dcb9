// The routing configuration as plain values: what the controller's render produces and
// what RouteTable::build compiles into lookup structures. No Kubernetes types here; the
// controller maps Ingress and APIRoute objects onto these.
//
// Every struct has a defaulted operator==: RouteTable::build keeps a route's previous spec
// object (and with it the proxy's runtime for the route) only when the new spec compares
// equal, so a field added later takes part in that test without anyone remembering to.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
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

// What ConsistentHash hashes. `name` is the header, cookie or query parameter name.
enum class HashSource { ClientIP, Header, Cookie, Query, Path };
struct HashKeySpec {
  HashSource source = HashSource::ClientIP;
  std::string name;
  bool operator==(const HashKeySpec&) const = default;
};

// Cookie-based stickiness: Portico sets `cookieName` to an opaque endpoint id on the first
// response and sends later requests carrying it to the same endpoint while it is healthy.
struct SessionAffinitySpec {
  std::string cookieName = "portico-affinity";
  Millis ttl{0};  // 0: a session cookie
  bool operator==(const SessionAffinitySpec&) const = default;
};

struct HeaderMatch {
  std::string name;  // case-insensitive
  HeaderMatchType type = HeaderMatchType::Exact;
  std::string value;
  bool operator==(const HeaderMatch&) const = default;
};

struct QueryMatch {
  std::string name;  // case-sensitive, compared after percent-decoding
  std::string value;
  bool operator==(const QueryMatch&) const = default;
};

// One network address of a backend. Runtime state (health, pools) is keyed by address().
struct EndpointSpec {
  std::string host;  // IP literal or DNS name
  uint16_t port = 0;
  uint32_t weight = 1;
  bool operator==(const EndpointSpec&) const = default;
  std::string address() const { return host + ":" + std::to_string(port); }
};

// TLS from Portico to a backend's endpoints (proxy/upstream/upstream_tls.h). Verification
// is on unless insecureSkipVerify: the chain must lead to caPem (the system trust store
// when empty) and the certificate must name one of subjectAltNames, or serverName when
// that list is empty (an IP address is checked against the IP SANs).
struct UpstreamTlsSpec {
  std::string serverName;  // SNI (not sent for an IP address); empty: the endpoint's host
  std::vector<std::string> subjectAltNames;
  std::string caPem;
  std::string caSource;  // where caPem came from ("ns/secret"), for views; empty: system
  std::string clientCertificatePem;  // with its key: presented when the upstream asks
  std::string clientKeyPem;
  std::string clientCertificateSource;  // "ns/secret", for views
  bool insecureSkipVerify = false;
  bool operator==(const UpstreamTlsSpec&) const = default;
};

// A weighted group of endpoints: a Kubernetes Service port or a static url.
struct BackendSpec {
  std::string key;  // stable identity: "ns/service:port" or "url:http://host:port"
  uint32_t weight = 1;
  std::optional<UpstreamTlsSpec> tls;  // https:// url, or TLS settings on the backend
  std::vector<EndpointSpec> endpoints;
  bool operator==(const BackendSpec&) const = default;
};

struct HeaderEdits {
  std::vector<std::pair<std::string, std::string>> set;  // replaces every existing value
  std::vector<std::pair<std::string, std::string>> add;  // appends a value
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
  bool operator==(const HeaderEdits&) const = default;
};

struct Timeouts {
  Millis connect{5000};
  Millis request{60000};  // whole exchange, every retry included: request headers sent to response complete
  Millis idle{60000};     // upstream keep-alive connection idle time in the pool
  bool operator==(const Timeouts&) const = default;
};

// Retries go to another endpoint when one exists. Requests with a body are never retried
// (the body streams through and is not kept); other non-idempotent methods only with
// `nonIdempotent`.
struct RetrySpec {
  uint32_t attempts = 0;  // retries after the first try
  bool onConnectFailure = false;
  bool onReset = false;    // connection closed or reset before a response header
  bool onTimeout = false;  // per-try timeout before a response header
  bool on5xx = false;
  std::vector<unsigned> onStatuses;  // "gateway-error" renders as 502, 503, 504
  Millis perTryTimeout{0};           // 0: only the request timeout
  bool nonIdempotent = false;
  Millis backoffBase{25};  // full-jitter exponential backoff between tries
  Millis backoffMax{250};
  // Retry budget: retries in flight may be at most this share of the requests in flight
  // for the route (process-wide), but `minRetriesInFlight` are always allowed.
  uint32_t budgetPercent = 20;
  uint32_t minRetriesInFlight = 3;
  bool operator==(const RetrySpec&) const = default;
};

// Active HTTP health checks, run once per process for every endpoint of the rule's backends.
struct HealthCheckSpec {
  std::string path = "/healthz";
  std::string host;  // Host header; empty: the endpoint address
  Millis interval{5000};
  Millis timeout{1000};
  uint32_t healthyThreshold = 2;    // consecutive passes to mark an endpoint up
  uint32_t unhealthyThreshold = 3;  // consecutive failures to mark it down
  bool connectOnly = false;  // a TCP connect within the timeout passes (stream routes); no GET
  bool operator==(const HealthCheckSpec&) const = default;
};

// Passive outlier detection from live traffic.
struct OutlierDetectionSpec {
  uint32_t consecutive5xx = 5;             // 0: disabled
  uint32_t consecutiveGatewayFailures = 5;  // connect failure, reset, timeout; 0: disabled
  Millis baseEjectionTime{30000};           // grows linearly with the number of ejections
  Millis maxEjectionTime{300000};
  uint32_t maxEjectionPercent = 50;  // at most this share of a backend's endpoints ejected
  bool operator==(const OutlierDetectionSpec&) const = default;
};

// Per backend (process-wide counters); 0 means unlimited. Overflow answers 503 at once
// with X-Portico-Overflow naming the limit.
struct CircuitBreakerSpec {
  uint32_t maxConnections = 0;      // upstream connections, idle and busy
  uint32_t maxPendingRequests = 0;  // requests waiting for a new connection
  uint32_t maxRequests = 0;         // requests in flight
  bool empty() const { return !maxConnections && !maxPendingRequests && !maxRequests; }
  bool operator==(const CircuitBreakerSpec&) const = default;
};

// ---- gateway policies -------------------------------------------------------------

struct ApiKeyAuthSpec {
  std::string header;  // request header carrying the key; empty when `query` is used
  std::string query;   // query parameter carrying the key; empty when `header` is used
  std::vector<std::pair<std::string, std::string>> keys;  // consumer name, key
  std::string consumerHeader = "X-Consumer";  // set upstream to the consumer name
  bool operator==(const ApiKeyAuthSpec&) const = default;
};

struct BasicAuthSpec {
  std::string realm = "portico";
  std::string htpasswd;  // "user:hash" lines; bcrypt ($2y$/$2b$/$2a$) or SHA-crypt ($5$/$6$)
  std::string userHeader = "X-Consumer";  // set upstream to the user name
  bool operator==(const BasicAuthSpec&) const = default;
};

struct JwtAuthSpec {
  std::string issuer;  // empty: not checked
  std::vector<std::string> audiences;  // any of them; empty: not checked
  std::string jwksUri;  // fetched and cached by the proxy, or
  std::string jwks;     // a JSON Web Key Set given inline (from a Secret)
  // https jwksUri: how the key server is verified (a private CA, names, a client
  // certificate); nullopt: the system trust store and the URI's host.
  std::optional<UpstreamTlsSpec> jwksTls;
  std::vector<std::pair<std::string, std::string>> forwardClaims;  // claim, header
  Millis leeway{30000};  // clock skew allowed on exp and nbf
  Millis jwksRefreshInterval{300000};
  bool operator==(const JwtAuthSpec&) const = default;
};

struct ExternalAuthSpec {
  std::string url;  // http://host:port/path
  Millis timeout{2000};
  std::vector<std::string> forwardHeaders;   // copied to the authorization request
  std::vector<std::string> upstreamHeaders;  // copied from its 2xx answer onto the request
  bool failOpen = false;  // auth service unreachable or timed out: allow instead of 503
  // https url: how the service is verified (and the client certificate Portico presents);
  // nullopt: the system trust store and the url's host.
  std::optional<UpstreamTlsSpec> tls;
  bool operator==(const ExternalAuthSpec&) const = default;
};

struct AuthSpec {  // at most one method set
  std::optional<ApiKeyAuthSpec> apiKey;
  std::optional<BasicAuthSpec> basic;
  std::optional<JwtAuthSpec> jwt;
  std::optional<ExternalAuthSpec> external;
  bool empty() const { return !apiKey && !basic && !jwt && !external; }
  bool operator==(const AuthSpec&) const = default;
};

enum class RateLimitKey { ClientIP, Consumer, Header, Claim };

struct RateLimitSpec {
  uint64_t requests = 0;  // per period
  Millis period{1000};
  uint64_t burst = 0;  // extra requests allowed above the steady rate
  RateLimitKey key = RateLimitKey::ClientIP;
  std::string keyName;  // header or claim name
  bool global = false;  // shared by every replica through Redis
  bool failOpen = true;  // global mode: Redis unreachable → allow (true) or 503 (false)
  bool operator==(const RateLimitSpec&) const = default;
};

struct CorsSpec {
  std::vector<std::string> allowOrigins;  // "https://a.example", "https://*.example.com", "*"
  std::vector<std::string> allowMethods;  // or "*"
  std::vector<std::string> allowHeaders;  // or "*"
  std::vector<std::string> exposeHeaders;
  bool allowCredentials = false;
  std::optional<std::chrono::seconds> maxAge;
  bool operator==(const CorsSpec&) const = default;
};

// CIDRs or single addresses, IPv4 and IPv6. A client matching `deny` gets 403; with a
// non-empty `allow`, so does a client matching none of it.
struct IpRulesSpec {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  bool empty() const { return allow.empty() && deny.empty(); }
  bool operator==(const IpRulesSpec&) const = default;
};

// Answered by Portico instead of proxying; unset parts keep the request's own.
struct RedirectSpec {
  std::optional<std::string> scheme;
  std::optional<std::string> host;
  std::optional<uint16_t> port;
  std::optional<std::string> path;
  unsigned status = 302;  // 301, 302, 303, 307 or 308
  bool operator==(const RedirectSpec&) const = default;
};

struct RegexRewriteSpec {
  std::string pattern;       // RE2, applied to the normalized path
  std::string substitution;  // \1 style groups
  bool operator==(const RegexRewriteSpec&) const = default;
};

// Layer 4 (proxy/server/stream_session.cc): the route carries client connections byte for
// byte instead of HTTP requests. It is chosen by the listener port the client connected
// to and, with sniHosts, by the server name of the client's TLS ClientHello, which is read
// without being consumed (TLS passthrough: the backend terminates TLS). A route without
// sniHosts takes every connection of its port. Of RouteSpec, a stream route uses name,
// backends, loadBalancing (LeastRequest counts open connections; ConsistentHash hashes
// the client address), timeouts.connect, healthCheck (connectOnly), outlierDetection
// (connect failures) and panicThresholdPercent.
struct StreamSpec {
  uint16_t port = 0;  // a --tcp-ports listener, or the HTTPS listener's port (sniHosts only)
  std::vector<std::string> sniHosts;  // lower case, exact or "*.example.com"; empty: any
  Millis idleTimeout{3600000};  // no byte either way for this long closes both sides
  uint32_t maxConnections = 0;  // client connections open at once, process-wide; 0: no limit
  bool operator==(const StreamSpec&) const = default;
};

struct RouteSpec {
  std::string name;  // unique in the table: "namespace/object/rule"; shows in logs, metrics
  std::vector<std::string> hosts;  // lower case; "*.example.com" wildcard; empty = every host
  // "*.example.com" covers one label (a.example.com: Ingress), or with this any number of
  // them (a.b.example.com too: Gateway API hostnames).
  bool wildcardAnyDepth = false;
  // Only connections to one of these local addresses (a Gateway's own address, with
  // --gateway-addresses); empty: any.
  std::vector<std::string> localAddresses;
  PathMatchType pathType = PathMatchType::Prefix;
  std::string path = "/";
  std::vector<std::string> methods;  // upper case; empty = any
  std::vector<HeaderMatch> headers;
  std::vector<QueryMatch> query;
  std::vector<BackendSpec> backends;  // empty: 503 (no endpoints), unless the next is set
  // Weight of the backend references that did not resolve (Gateway API): that share of the
  // requests is answered 500, as the API asks, rather than moved to the valid backends.
  // With no backends, every request; a rule without backendRefs renders as 1.
  uint32_t unresolvedBackendWeight = 0;
  LoadBalancingPolicy loadBalancing = LoadBalancingPolicy::RoundRobin;
  HashKeySpec hashOn;  // ConsistentHash only
  std::optional<SessionAffinitySpec> sessionAffinity;
  Timeouts timeouts;
  std::optional<RetrySpec> retries;
  std::optional<HealthCheckSpec> healthCheck;
  std::optional<OutlierDetectionSpec> outlierDetection;
  CircuitBreakerSpec circuitBreaker;
  // Panic mode: when fewer than this share of a backend's endpoints are healthy, spread
  // over all of them (ignoring health) rather than failing every request. 0: never.
  uint32_t panicThresholdPercent = 50;

  // Gateway policies, evaluated in this order: ipRules, cors (preflight), auth, rateLimit,
  // redirect, transformations, balancing.
  IpRulesSpec ipRules;
  std::optional<CorsSpec> cors;
  AuthSpec auth;
  std::optional<RateLimitSpec> rateLimit;
  std::optional<RedirectSpec> redirect;
  std::optional<std::string> rewritePathPrefix;  // replaces the matched prefix
  std::optional<RegexRewriteSpec> rewritePathRegex;  // instead of rewritePathPrefix
  std::optional<std::string> rewriteHost;
  HeaderEdits requestHeaders;
  HeaderEdits responseHeaders;
  uint64_t maxRequestBodyBytes = 0;  // 0 = the listener default
  // Set: a layer-4 route (StreamSpec); never matched against HTTP requests.
  std::optional<StreamSpec> stream;
  bool operator==(const RouteSpec&) const = default;
};

// Client certificates for a certificate's hosts (downstream mTLS). Require: the handshake
// fails without a certificate that chains to caPem (and is not revoked by crlPem).
// Optional: a client without one (or with an invalid one) is served as an anonymous
// client. Either way the backend learns a verified certificate from the header Portico
// owns (X-Forwarded-Client-Cert), and requests for these hosts must come over a
// connection whose SNI names them (421 otherwise).
enum class ClientAuthMode { Require, Optional };
struct ClientAuthSpec {
  std::string caPem;
  std::string crlPem;  // empty: no revocation list
  ClientAuthMode mode = ClientAuthMode::Require;
  std::string caSource;  // "ns/secret", for views
  bool operator==(const ClientAuthSpec&) const = default;
};

// A certificate and key in PEM (the kubernetes.io/tls Secret shape), served for `hosts`
// by SNI. The table's first certificate with isDefault (or the first one) is the fallback.
struct CertificateSpec {
  std::string name;  // "namespace/secret"
  std::vector<std::string> hosts;  // exact or "*.example.com"
  std::string certificatePem;
  std::string privateKeyPem;
  bool isDefault = false;
  std::optional<ClientAuthSpec> clientAuth;
  std::string hsts;  // Strict-Transport-Security for these hosts' HTTPS answers; empty: none
  bool tls13Only = false;  // refuse TLS 1.2 for these hosts (TLS 1.2 is the listener's floor)
  bool operator==(const CertificateSpec&) const = default;
};

// Hosts whose plain-HTTP requests are answered with 308 to https.
struct RouteTableSpec {
  std::vector<RouteSpec> routes;  // in creation order; earlier wins ties
  std::vector<CertificateSpec> certificates;
  std::vector<std::string> httpsRedirectHosts;  // exact or wildcard, lower case
};

using RouteSpecConstSharedPtr = std::shared_ptr<const RouteSpec>;

// The same table with its routes as shared immutable objects, hosts already lower case
// (see shareRoutes in route_table.h). What the controller's incremental render keeps
// between renders: a route that did not change stays the same object, so building the
// next RouteTable from it recognises it by address instead of comparing it field by field.
struct SharedRouteTableSpec {
  std::vector<RouteSpecConstSharedPtr> routes;
  std::vector<CertificateSpec> certificates;
  std::vector<std::string> httpsRedirectHosts;
};

}  // namespace portico::proxy
