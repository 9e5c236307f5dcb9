// TLS: Secret resolution, certificates, https redirects and what a bad Secret does.
#include <doctest/doctest.h>

#include "controller/render/render.h"
#include "controller/render/secrets.h"
#include "test/controller/test_support.h"

using nlohmann::json;
using namespace portico::controller;
using namespace portico::controller::test;

namespace {

json tlsRoute(const std::string& name, json hosts, const std::string& secret, bool redirect,
              const std::string& created = "") {
  return apiRoute("shop", name,
                  {{"hosts", std::move(hosts)},
                   {"tls", {{"secretName", secret}, {"redirectHTTP", redirect}}},
                   {"rules", {rule("r")}}},
                  created);
}

RenderResult renderWithSecrets(std::vector<json> routes, std::vector<json> secrets) {
  ObjectSnapshot s;
  s.secrets = std::move(secrets);
  return renderRoutes(std::move(routes), false, s);
}

}  // namespace

TEST_SUITE("render") {

TEST_CASE("a kubernetes.io/tls Secret becomes a certificate for the route's hosts") {
  auto result = renderWithSecrets({tlsRoute("api", {"a.example.com", "*.a.example.com"}, "api-tls", false)},
                                  {tlsSecret("shop", "api-tls", certA(), keyA())});
  CHECK(result.diagnostics.empty());
  REQUIRE(result.table.certificates.size() == 1);
  const auto& c = result.table.certificates[0];
  CHECK(c.name == "shop/api-tls");
  CHECK(c.hosts == std::vector<std::string>{"a.example.com", "*.a.example.com"});
  CHECK(c.certificatePem == certA());
  CHECK(c.privateKeyPem == keyA());
  CHECK(result.table.httpsRedirectHosts.empty());
  CHECK(result.table.routes.size() == 1);
}

TEST_CASE("redirectHTTP adds the hosts to httpsRedirectHosts, sorted") {
  auto result = renderWithSecrets({tlsRoute("api", {"z.example.com", "a.example.com"}, "api-tls", true)},
                                  {tlsSecret("shop", "api-tls", certA(), keyA())});
  CHECK(result.diagnostics.empty());
  CHECK(result.table.httpsRedirectHosts == std::vector<std::string>{"a.example.com", "z.example.com"});
}

TEST_CASE("two routes sharing a Secret share one certificate with the union of their hosts") {
  auto result = renderWithSecrets({tlsRoute("one", {"a.example.com"}, "api-tls", false, "2024-01-01T00:00:00Z"),
                                   tlsRoute("two", {"b.example.com", "a.example.com"}, "api-tls", false,
                                            "2024-01-02T00:00:00Z")},
                                  {tlsSecret("shop", "api-tls", certA(), keyA())});
  REQUIRE(result.table.certificates.size() == 1);
  CHECK(result.table.certificates[0].hosts == std::vector<std::string>{"a.example.com", "b.example.com"});
}

TEST_CASE("stringData is accepted and wins over data") {
  json secret = tlsSecret("shop", "api-tls", certB(), keyB());
  secret["stringData"] = {{"tls.crt", certA()}, {"tls.key", keyA()}};
  auto result = renderWithSecrets({tlsRoute("api", {"a.example.com"}, "api-tls", false)}, {secret});
  CHECK(result.diagnostics.empty());
  REQUIRE(result.table.certificates.size() == 1);
  CHECK(result.table.certificates[0].certificatePem == certA());
}

TEST_CASE("a missing Secret is SecretNotFound; the route is served over HTTP without redirect") {
  auto result = renderWithSecrets({tlsRoute("api", {"a.example.com"}, "nope", true)}, {});
  REQUIRE(result.diagnostics.size() == 1);
  const auto& d = result.diagnostics[0];
  CHECK(d.field == "spec.tls.secretName");
  CHECK(d.condition == "ResolvedRefs");
  CHECK(d.reason == "SecretNotFound");
  CHECK(d.message == "spec.tls.secretName: secret \"shop/nope\" not found");
  CHECK(result.table.routes.size() == 1);
  CHECK(result.table.certificates.empty());
  CHECK(result.table.httpsRedirectHosts.empty());
}

TEST_CASE("a Secret in another namespace is not found") {
  auto result = renderWithSecrets({tlsRoute("api", {"a.example.com"}, "api-tls", false)},
                                  {tlsSecret("other", "api-tls", certA(), keyA())});
  REQUIRE(result.diagnostics.size() == 1);
  CHECK(result.diagnostics[0].reason == "SecretNotFound");
}

TEST_CASE("bad Secret data is InvalidSecret, and the route still serves over HTTP") {
  json wrongType = tlsSecret("shop", "s", certA(), keyA());
  wrongType["type"] = "Opaque";
  json badBase64 = tlsSecret("shop", "s", certA(), keyA());
  badBase64["data"]["tls.crt"] = "!!!not base64";
  json notPem = tlsSecret("shop", "s", "hello", keyA());
  json badKey = tlsSecret("shop", "s", certA(), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  json mismatch = tlsSecret("shop", "s", certA(), keyB());
  json missingKey = tlsSecret("shop", "s", certA(), keyA());
  missingKey["data"].erase("tls.key");
  struct Case {
    const char* name;
    json secret;
    const char* text;
  };
  for (const auto& c : {Case{"type", wrongType, "type is \"Opaque\", want \"kubernetes.io/tls\""},
                        Case{"base64", badBase64, "data[tls.crt]: not valid base64"},
                        Case{"pem", notPem, "tls.crt: no PEM certificate"},
                        Case{"key", badKey, "tls.key: no PEM private key"},
                        Case{"mismatch", mismatch, "tls.key does not match the certificate"},
                        Case{"missing", missingKey, "data[tls.key]: missing"}}) {
    CAPTURE(c.name);
    auto result = renderWithSecrets({tlsRoute("api", {"a.example.com"}, "s", true)}, {c.secret});
    REQUIRE(result.diagnostics.size() == 1);
    CHECK(result.diagnostics[0].reason == "InvalidSecret");
    CHECK(result.diagnostics[0].field == "spec.tls.secretName");
    CHECK(result.diagnostics[0].message.find(c.text) != std::string::npos);
    CHECK(result.table.certificates.empty());
    CHECK(result.table.httpsRedirectHosts.empty());
    CHECK(result.table.routes.size() == 1);
  }
}

TEST_CASE("tls without hosts is rejected and the route serves over HTTP") {
  auto result = renderWithSecrets(
      {apiRoute("shop", "api", {{"tls", {{"secretName", "api-tls"}}}, {"rules", {rule("r")}}})},
      {tlsSecret("shop", "api-tls", certA(), keyA())});
  REQUIRE(result.diagnostics.size() == 1);
  CHECK(result.diagnostics[0].field == "spec.tls");
  CHECK(result.table.certificates.empty());
  CHECK(result.table.routes.size() == 1);
}

TEST_CASE("base64 decoding accepts padding, line breaks and no padding; rejects junk") {
  CHECK(*decodeBase64("aGVsbG8=") == "hello");
  CHECK(*decodeBase64("aGVs\nbG8") == "hello");
  CHECK(*decodeBase64("") == "");
  CHECK(*decodeBase64("YQ==") == "a");
  CHECK_FALSE(decodeBase64("a").has_value());
  CHECK_FALSE(decodeBase64("YQ=a").has_value());
  CHECK_FALSE(decodeBase64("Y*==").has_value());
}

// ---- client certificates (tls.clientAuth) ---------------------------------------------

json mtlsRoute(const std::string& name, json hosts, json clientAuth, const std::string& secret = "api-tls") {
  return apiRoute("shop", name,
                  {{"hosts", std::move(hosts)},
                   {"tls", {{"secretName", secret}, {"clientAuth", std::move(clientAuth)}}},
                   {"rules", {rule("r")}}});
}

TEST_CASE("tls.clientAuth puts the CA, the mode and the CRL on the host's certificate") {
  auto result = renderWithSecrets(
      {mtlsRoute("api", {"secure.example.com"},
                 {{"caSecretName", "partners"}, {"mode", "Optional"}, {"crlSecretName", "partners-crl"}})},
      {tlsSecret("shop", "api-tls", certA(), keyA()), opaqueSecret("shop", "partners", {{"ca.crt", certB()}}),
       opaqueSecret("shop", "partners-crl", {{"ca.crl", readText(testdataPath("tls/crl.pem"))}})});
  CHECK(result.diagnostics.empty());
  REQUIRE(result.table.certificates.size() == 1);
  const auto& auth = result.table.certificates[0].clientAuth;
  REQUIRE(auth.has_value());
  CHECK(auth->caPem == certB());
  CHECK(auth->caSource == "shop/partners");
  CHECK(auth->mode == portico::proxy::ClientAuthMode::Optional);
  CHECK(auth->crlPem == readText(testdataPath("tls/crl.pem")));
  CHECK(result.table.routes.size() == 1);
}

TEST_CASE("a tls.clientAuth problem serves none of the routes (fail closed), unlike a plain tls problem") {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"caSecretName", "missing"}}, "spec.tls.clientAuth.caSecretName"},
      {{{"caSecretName", "partners"}, {"mode", "Sometimes"}}, "spec.tls.clientAuth.mode"},
      {{{"mode", "Require"}}, "spec.tls.clientAuth.caSecretName"},
      {{{"caSecretName", "partners"}, {"crlSecretName", "partners"}}, "spec.tls.clientAuth.crlSecretName"},
  };
  for (const auto& [clientAuth, field] : cases) {
    CAPTURE(clientAuth.dump());
    auto result = renderWithSecrets({mtlsRoute("api", {"secure.example.com"}, clientAuth)},
                                    {tlsSecret("shop", "api-tls", certA(), keyA()),
                                     opaqueSecret("shop", "partners", {{"ca.crt", certB()}})});
    CHECK(result.table.routes.empty());
    CHECK(result.table.certificates.empty());
    CHECK(diagnosticsAt(result, field).size() == 1);
  }
  // The certificate's own Secret missing: also nothing (it would serve the host without mTLS).
  auto noCert = renderWithSecrets({mtlsRoute("api", {"secure.example.com"}, {{"caSecretName", "partners"}})},
                                  {opaqueSecret("shop", "partners", {{"ca.crt", certB()}})});
  CHECK(noCert.table.routes.empty());
}

TEST_CASE("routes sharing a Secret with and without clientAuth get separate certificates") {
  auto result = renderWithSecrets(
      {tlsRoute("public", {"www.example.com"}, "api-tls", false),
       mtlsRoute("secure", {"secure.example.com"}, {{"caSecretName", "partners"}})},
      {tlsSecret("shop", "api-tls", certA(), keyA()), opaqueSecret("shop", "partners", {{"ca.crt", certB()}})});
  CHECK(result.diagnostics.empty());
  REQUIRE(result.table.certificates.size() == 2);
  for (const auto& c : result.table.certificates) {
    CHECK(c.name == "shop/api-tls");
    CHECK(c.clientAuth.has_value() == (c.hosts == std::vector<std::string>{"secure.example.com"}));
  }
}

TEST_CASE("tls.hsts becomes the certificate's Strict-Transport-Security value; preload needs a year and subdomains") {
  auto route = [](json hsts) {
    return apiRoute("shop", "api",
                    {{"hosts", {"a.example.com"}},
                     {"tls", {{"secretName", "api-tls"}, {"hsts", std::move(hsts)}}},
                     {"rules", {rule("r")}}});
  };
  const std::vector<json> secrets = {tlsSecret("shop", "api-tls", certA(), keyA())};
  auto defaults = renderWithSecrets({route(json::object())}, secrets);
  REQUIRE(defaults.table.certificates.size() == 1);
  CHECK(defaults.table.certificates[0].hsts == "max-age=31536000");
  auto full = renderWithSecrets({route({{"maxAge", "17520h"}, {"includeSubDomains", true}, {"preload", true}})}, secrets);
  CHECK(full.diagnostics.empty());
  CHECK(full.table.certificates.at(0).hsts == "max-age=63072000; includeSubDomains; preload");
  auto bad = renderWithSecrets({route({{"maxAge", "1h"}, {"preload", true}})}, secrets);
  CHECK(diagnosticsAt(bad, "spec.tls.hsts.preload").size() == 1);
  CHECK(bad.table.certificates.empty());  // a tls problem: served over plain HTTP only
}

TEST_CASE("tls.minVersion 1.3 marks the certificate TLS 1.3 only; other values are refused") {
  auto route = [](const std::string& version) {
    return apiRoute("shop", "api",
                    {{"hosts", {"a.example.com"}},
                     {"tls", {{"secretName", "api-tls"}, {"minVersion", version}}},
                     {"rules", {rule("r")}}});
  };
  const std::vector<json> secrets = {tlsSecret("shop", "api-tls", certA(), keyA())};
  CHECK(renderWithSecrets({route("1.3")}, secrets).table.certificates.at(0).tls13Only);
  CHECK_FALSE(renderWithSecrets({route("1.2")}, secrets).table.certificates.at(0).tls13Only);
  auto old = renderWithSecrets({route("1.1")}, secrets);
  CHECK(diagnosticsAt(old, "spec.tls.minVersion").size() == 1);
  CHECK(old.table.certificates.empty());
}

}  // TEST_SUITE
