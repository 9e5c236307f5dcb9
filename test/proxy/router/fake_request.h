// A RequestView over plain strings for router tests.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/config/route_table.h"

namespace portico::proxy::testing {

class FakeRequest : public RequestView {
 public:
  FakeRequest(std::string host, std::string path, std::string method = "GET")
      : method_(std::move(method)), host_(std::move(host)), path_(std::move(path)) {}

  FakeRequest& withHeader(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  FakeRequest& withQuery(std::string query) {
    query_ = std::move(query);
    return *this;
  }
  FakeRequest& withMethod(std::string method) {
    method_ = std::move(method);
    return *this;
  }
  FakeRequest& withLocalAddress(std::string address) {
    localAddress_ = std::move(address);
    return *this;
  }

  std::string_view method() const override { return method_; }
  std::string_view host() const override { return host_; }
  std::string_view path() const override { return path_; }
  std::string_view query() const override { return query_; }
  std::string_view localAddress() const override { return localAddress_; }
  std::optional<std::string_view> header(std::string_view name) const override {
    for (const auto& [n, v] : headers_) {
      if (equalsIgnoreCase(n, name)) return std::string_view(v);
    }
    return std::nullopt;
  }

 private:
  static bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      auto lower = [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
      };
      if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
  }

  std::string method_;
  std::string host_;
  std::string path_;
  std::string query_;
  std::string localAddress_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

// Spec builders: a route named `name` for `path` of `type` on `hosts`.
inline RouteSpec route(std::string name, PathMatchType type, std::string path,
                       std::vector<std::string> hosts = {}) {
  RouteSpec spec;
  spec.name = std::move(name);
  spec.pathType = type;
  spec.path = std::move(path);
  spec.hosts = std::move(hosts);
  return spec;
}
inline RouteSpec prefix(std::string name, std::string path, std::vector<std::string> hosts = {}) {
  return route(std::move(name), PathMatchType::Prefix, std::move(path), std::move(hosts));
}
inline RouteSpec exact(std::string name, std::string path, std::vector<std::string> hosts = {}) {
  return route(std::move(name), PathMatchType::Exact, std::move(path), std::move(hosts));
}
inline RouteSpec regex(std::string name, std::string path, std::vector<std::string> hosts = {}) {
  return route(std::move(name), PathMatchType::RegularExpression, std::move(path),
               std::move(hosts));
}

// Builds a table that must compile.
inline RouteTableConstSharedPtr buildTable(std::vector<RouteSpec> routes) {
  RouteTableSpec spec;
  spec.routes = std::move(routes);
  auto built = RouteTable::build(std::move(spec), 1);
  if (!built) return nullptr;
  return *built;
}

// The name of the matched route, or "<none>" for a 404.
inline std::string matchedName(const RouteTable& table, const RequestView& request) {
  const Route* found = table.match(request);
  return found ? found->spec.name : "<none>";
}

}  // namespace portico::proxy::testing
