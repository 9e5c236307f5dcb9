// The immutable routing table the proxy consumes and the controller produces.
//
// Built once from a RouteTableSpec (RouteTable::build), then shared read-only by every
// worker through a std::shared_ptr<const RouteTable>. Matching never locks and never
// scans every route: hosts go through hash maps (exact, then wildcard suffix, then
// catch-all), exact paths through a hash map, prefixes through a segment trie; only the
// RegularExpression routes of the matched host are tried one by one.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/expected.h"
#include "proxy/config/route_spec.h"

namespace portico::proxy {

// What the router needs to know about a request. The host is lower case without a port;
// the path is already normalized (see normalizePath in proxy/router/path.h).
class RequestView {
 public:
  virtual ~RequestView() = default;
  virtual std::string_view method() const = 0;
  virtual std::string_view host() const = 0;
  virtual std::string_view path() const = 0;
  virtual std::string_view query() const = 0;  // raw query string without '?'
  // The first value of header `name` (case-insensitive), or nullopt.
  virtual std::optional<std::string_view> header(std::string_view name) const = 0;
};

class RouteIndex;  // proxy/router: the compiled lookup structures

// A route as the proxy uses it: the spec plus its position in the table.
struct Route {
  RouteSpec spec;
  size_t index = 0;  // position in RouteTable::routes(); stable for one table only
};

class RouteTable;
using RouteTableConstSharedPtr = std::shared_ptr<const RouteTable>;

class RouteTable {
 public:
  // Compiles the spec. Fails (with the route name and field) on an invalid regular
  // expression or certificate-less TLS, never on an empty table.
  [[nodiscard]] static Expected<RouteTableConstSharedPtr> build(RouteTableSpec spec, uint64_t version);

  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // The best route for the request by the precedence rules, or nullptr (404). Hosts: exact,
  // then "*.suffix", then routes without hosts, falling through when a bucket has no match.
  // Within a host: Exact path > RegularExpression (creation order) > longest Prefix; ties on
  // the same path: with methods first, then more headers, more query params, creation order.
  // Details in proxy/router/route_index.h. Any thread; allocates nothing; never throws.
  [[nodiscard]] const Route* match(const RequestView& request) const;

  // True if plain-HTTP requests for this host (lower case, no port) redirect to https.
  [[nodiscard]] bool redirectsToHttps(std::string_view host) const;

  const std::vector<Route>& routes() const { return routes_; }
  const std::vector<CertificateSpec>& certificates() const { return certificates_; }
  uint64_t version() const { return version_; }

  // JSON of the live table for the admin /routes endpoint (no private keys).
  std::string toJson() const;

 private:
  RouteTable() = default;
  std::vector<Route> routes_;
  std::vector<CertificateSpec> certificates_;
  std::vector<std::string> httpsRedirectHosts_;
  std::unique_ptr<RouteIndex> index_;
  uint64_t version_ = 0;
};

}  // namespace portico::proxy
