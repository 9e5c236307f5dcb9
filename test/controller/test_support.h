// Helpers for controller tests: test data paths, object builders, temp files.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "controller/render/render.h"

namespace portico::controller::test {

// test/controller/testdata/<relative>, found from this header's own path.
inline std::string testdataPath(const std::string& relative) {
  return (std::filesystem::path(__FILE__).parent_path() / "testdata" / relative).string();
}

inline std::string readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

inline std::string base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// One golden render case (test/controller/testdata/render/<case>/input.json): the objects
// by kind and the render options.
struct RenderCase {
  nlohmann::json input;  // the file as written
  ObjectSnapshot objects;
  RenderOptions options;
};

inline RenderCase loadRenderCase(const std::filesystem::path& dir) {
  RenderCase c;
  c.input = nlohmann::json::parse(readText((dir / "input.json").string()));
  const nlohmann::json& input = c.input;
  auto list = [&](const char* key) {
    std::vector<nlohmann::json> out;
    if (input.contains(key)) out.assign(input[key].begin(), input[key].end());
    return out;
  };
  c.objects.apiRoutes = list("apiRoutes");
  c.objects.secrets = list("secrets");
  c.objects.services = list("services");
  c.objects.endpointSlices = list("endpointSlices");
  c.objects.ingresses = list("ingresses");
  c.objects.ingressClasses = list("ingressClasses");
  c.objects.gatewayClasses = list("gatewayClasses");
  c.objects.gateways = list("gateways");
  c.objects.httpRoutes = list("httpRoutes");
  c.objects.referenceGrants = list("referenceGrants");
  c.objects.namespaces = list("namespaces");
  c.options.standalone = input["options"].value("standalone", false);
  c.options.ingressClass = input["options"].value("ingressClass", std::string("portico"));
  return c;
}

inline nlohmann::json apiRoute(const std::string& ns, const std::string& name, nlohmann::json spec,
                               const std::string& created = "") {
  nlohmann::json o = {{"apiVersion", "portico.dev/v1alpha1"},
                      {"kind", "APIRoute"},
                      {"metadata", {{"namespace", ns}, {"name", name}}},
                      {"spec", std::move(spec)}};
  if (!created.empty()) o["metadata"]["creationTimestamp"] = created;
  return o;
}

// A rule with one url backend, to which tests add the field under test.
inline nlohmann::json rule(const std::string& name, nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json r = {{"name", name}, {"backends", {{{"url", "http://127.0.0.1:9001"}}}}};
  for (auto it = extra.begin(); it != extra.end(); ++it) r[it.key()] = it.value();
  return r;
}

inline nlohmann::json tlsSecret(const std::string& ns, const std::string& name,
                                const std::string& certPem, const std::string& keyPem) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"type", "kubernetes.io/tls"},
          {"data", {{"tls.crt", base64(certPem)}, {"tls.key", base64(keyPem)}}}};
}

// An Opaque Secret; `data` values are plain text, base64-encoded here.
inline nlohmann::json opaqueSecret(const std::string& ns, const std::string& name,
                                   const std::map<std::string, std::string>& data) {
  nlohmann::json encoded = nlohmann::json::object();
  for (const auto& [k, v] : data) encoded[k] = base64(v);
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"type", "Opaque"},
          {"data", std::move(encoded)}};
}

// A discovery.k8s.io/v1 EndpointSlice of Service `svc`.
inline nlohmann::json slice(const std::string& ns, const std::string& name, const std::string& svc,
                            nlohmann::json ports, nlohmann::json endpoints) {
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"namespace", ns}, {"name", name}, {"labels", {{"kubernetes.io/service-name", svc}}}}},
          {"addressType", "IPv4"},
          {"ports", std::move(ports)},
          {"endpoints", std::move(endpoints)}};
}

inline std::string certA() { return readText(testdataPath("tls/cert-a.pem")); }
inline std::string keyA() { return readText(testdataPath("tls/key-a.pem")); }
inline std::string certB() { return readText(testdataPath("tls/cert-b.pem")); }
inline std::string keyB() { return readText(testdataPath("tls/key-b.pem")); }

// Renders APIRoutes (plus optional other objects) in cluster mode unless told otherwise.
inline RenderResult renderRoutes(std::vector<nlohmann::json> routes, bool standalone = false,
                                 ObjectSnapshot extra = {}) {
  extra.apiRoutes = std::move(routes);
  RenderOptions options;
  options.standalone = standalone;
  return render(extra, options);
}

// The diagnostics whose field is exactly `field`.
inline std::vector<Diagnostic> diagnosticsAt(const RenderResult& result, const std::string& field) {
  std::vector<Diagnostic> out;
  for (const auto& d : result.diagnostics) {
    if (d.field == field) out.push_back(d);
  }
  return out;
}

// A fresh directory under TMPDIR, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "portico-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data()) ? pattern : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace portico::controller::test
