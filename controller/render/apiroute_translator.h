// The translator of one APIRoute, shared by apiroute.cc (hosts, tls, rules) and
// apiroute_tcp.cc (the layer-4 section spec.tcp). Internal to render.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/render/render.h"
#include "controller/render/render_context.h"

namespace portico::controller {

constexpr uint64_t kMaxBackendWeight = 1000;  // as the CRD schema says

// Translates one APIRoute. Rules with Accepted problems are dropped; the others render.
class ApiRouteTranslator {
 public:
  ApiRouteTranslator(const nlohmann::json& object, const ObjectIndex& index, const RenderOptions& options,
                     Reporter& reporter)
      : object_(object), index_(index), options_(options), reporter_(reporter),
        ns_(reporter.object().ns), name_(reporter.object().name) {}

  // Appends this object's routes, certificate and redirect hosts to `table`, and the field
  // of each route ("spec.rules[i]") to `routeFields`.
  void translate(TableBuilder& table, std::vector<std::string>& routeFields);

 private:
  // spec.tcp (apiroute_tcp.cc): the object's one layer-4 route, added to `table` unless
  // it has a problem that rejects it.
  void translateTcp(const nlohmann::json& spec, TableBuilder& table, std::vector<std::string>& routeFields);
  bool readHosts(const nlohmann::json& spec);
  // `failClosed`: clientAuth was asked for and something is wrong: serve nothing.
  std::optional<proxy::CertificateSpec> readTls(const nlohmann::json& spec, bool& redirect, bool& failClosed);
  std::optional<proxy::RouteSpec> translateRule(const nlohmann::json& rule, const std::string& field,
                                                std::set<std::string>& ruleNames);
  bool readMatch(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readPath(const nlohmann::json& match, const std::string& field, proxy::RouteSpec& route);
  bool readMethods(const nlohmann::json& match, const std::string& field, proxy::RouteSpec& route);
  bool readHeaderMatches(const nlohmann::json& match, const std::string& field, proxy::RouteSpec& route);
  bool readQueryMatches(const nlohmann::json& match, const std::string& field, proxy::RouteSpec& route);
  bool readBackends(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readBackend(const nlohmann::json& backend, const std::string& field, proxy::RouteSpec& route);
  bool readTimeouts(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readRewrite(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);
  bool readHeaderEdits(const nlohmann::json& rule, std::string_view key, const std::string& field,
                       proxy::HeaderEdits& edits);
  bool readLimits(const nlohmann::json& rule, const std::string& field, proxy::RouteSpec& route);

  // Runs `read` and reports whether it added no diagnostic.
  template <class F>
  bool clean(F&& read) {
    size_t before = reporter_.count();
    bool ok = read();
    return ok && reporter_.count() == before;
  }

  const nlohmann::json& object_;
  const ObjectIndex& index_;
  const RenderOptions& options_;
  Reporter& reporter_;
  std::string ns_;
  std::string name_;
  std::vector<std::string> hosts_;
  bool layer4_ = false;  // reading spec.tcp's backends: tcp:// urls, no backendTLS
};

}  // namespace portico::controller
