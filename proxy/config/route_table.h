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
#include <unordered_map>
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
  // The address the client connected to (routes with localAddresses).
  virtual std::string_view localAddress() const { return {}; }
};

class RouteIndex;  // proxy/router: the compiled lookup structures

// `route` as a shared immutable object, its hosts lower case (the request's host is lower
// case; compare like with like).
RouteSpecConstSharedPtr shareRoute(RouteSpec route);
// The table with every route shared (shareRoute).
SharedRouteTableSpec shareRoutes(RouteTableSpec spec);

// A route as the proxy uses it: the spec plus its position in the table.
//
// The spec is an immutable object shared between table versions: RouteTable::build gives a
// route that did not change the previous table's spec object. So the address &spec says
// "unchanged since" in O(1), and what the proxy built on a spec (balancers, compiled
// policies, which point into it) stays valid in every table that still holds it. Within
// one table no two routes share a spec object.
struct Route {
  static constexpr size_t kNoPrevious = static_cast<size_t>(-1);

  Route(RouteSpecConstSharedPtr shared, size_t index, size_t previousIndex)
      : spec(*shared), index(index), previousIndex(previousIndex), shared_(std::move(shared)) {}

  const RouteSpec& spec;  // *sharedSpec()
  size_t index = 0;  // position in RouteTable::routes(); stable for one table only
  // Position in the table of version RouteTable::previousVersion() of the route holding
  // the same spec object, or kNoPrevious: the route is new or changed since that table.
  size_t previousIndex = kNoPrevious;

  // Keeps the spec alive for whatever points into it beyond this table's life.
  const RouteSpecConstSharedPtr& sharedSpec() const { return shared_; }

 private:
  RouteSpecConstSharedPtr shared_;
};

class RouteTable;
using RouteTableConstSharedPtr = std::shared_ptr<const RouteTable>;
using CertificateListConstSharedPtr = std::shared_ptr<const std::vector<CertificateSpec>>;

class RouteTable {
 public:
  // Compiles the spec. Fails (with the route name and field) on an invalid regular
  // expression or certificate-less TLS, never on an empty table.
  //
  // With `previous` (the table this one replaces, normally the published one), a route
  // whose spec equals the previous table's route of the same name takes over that route's
  // spec object, and an unchanged certificate list is shared too; that is what lets each
  // worker keep the runtime of unchanged routes (proxy/server/table_runtime.h). The
  // comparison happens here, on the controller's thread, so that the workers' test is a
  // pointer comparison; a route that already is the previous table's object (a
  // SharedRouteTableSpec kept between renders) costs no comparison at all. `previous` is
  // only read.
  [[nodiscard]] static Expected<RouteTableConstSharedPtr> build(SharedRouteTableSpec spec, uint64_t version,
                                                                const RouteTable* previous = nullptr);
  [[nodiscard]] static Expected<RouteTableConstSharedPtr> build(RouteTableSpec spec, uint64_t version,
                                                                const RouteTable* previous = nullptr);

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

  // What the certificate serving `host` (lower case, no port: exact, then "*.parent")
  // asks of every request for it, or nullptr. A hash lookup only in tables that have any.
  struct HostTlsPolicy {
    const ClientAuthSpec* clientAuth = nullptr;
    const std::string* hsts = nullptr;
  };
  [[nodiscard]] const HostTlsPolicy* tlsPolicyFor(std::string_view host) const {
    return hostTlsPolicies_.empty() ? nullptr : findTlsPolicy(host);
  }

  // Layer 4 (RouteSpec::stream). The route for a connection to local `port` whose TLS
  // ClientHello named `sni` (empty: no name, or not TLS): the port's route for that name
  // (exact, then "*.parent"), else its route without sniHosts, else nullptr. The earliest
  // route wins when several claim the same port and name.
  [[nodiscard]] const Route* matchStream(uint16_t port, std::string_view sni) const;
  // True when some stream route of `port` is chosen by SNI: a connection's ClientHello must
  // be read before it can be routed (or handed to TLS termination).
  [[nodiscard]] bool routesBySni(uint16_t port) const {
    auto it = streamPorts_.find(port);
    return it != streamPorts_.end() && !it->second.bySni.empty();
  }
  // The stream route named `name`, or nullptr: a swap closes connections whose route left.
  [[nodiscard]] const Route* streamRoute(std::string_view name) const;

  const std::vector<Route>& routes() const { return routes_; }
  const std::vector<CertificateSpec>& certificates() const { return *certificates_; }
  // The same list object as the previous table's when the certificates did not change.
  const CertificateListConstSharedPtr& sharedCertificates() const { return certificates_; }
  uint64_t version() const { return version_; }
  // The version of the `previous` table given to build (what Route::previousIndex refers
  // to), or 0.
  uint64_t previousVersion() const { return previousVersion_; }

  // JSON of the live table for the admin /routes endpoint (no private keys).
  std::string toJson() const;

 private:
  class PreviousRoutes;
  RouteTable() = default;
  std::vector<Route> routes_;
  CertificateListConstSharedPtr certificates_;
  std::vector<std::string> httpsRedirectHosts_;
  // Hosts ("*.parent" kept as written) of certificates with client auth or HSTS, pointing
  // into *certificates_.
  std::unordered_map<std::string, HostTlsPolicy> hostTlsPolicies_;
  const HostTlsPolicy* findTlsPolicy(std::string_view host) const;
  struct StreamPort {
    const Route* any = nullptr;  // without sniHosts
    std::unordered_map<std::string, const Route*> bySni;  // exact and "*.parent" as written
  };
  std::unordered_map<uint16_t, StreamPort> streamPorts_;
  std::unordered_map<std::string_view, const Route*> streamRoutesByName_;
  void indexStreamRoutes();
  std::unique_ptr<RouteIndex> index_;
  uint64_t version_ = 0;
  uint64_t previousVersion_ = 0;
};

}  // namespace portico::proxy
