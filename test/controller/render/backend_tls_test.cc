// TLS to backends as an APIRoute asks for it (backendTLS on a backend entry), and the CA
// bundle Secret decoder. The Ingress annotations are in ingress_test.cc.
#include <doctest/doctest.h>

#include "controller/render/render.h"
#include "controller/render/secrets.h"
#include "test/controller/test_support.h"

using nlohmann::json;
using namespace portico::controller;
using namespace portico::controller::test;
namespace proxy = portico::proxy;

namespace {

json service(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"spec", {{"type", "ClusterIP"}, {"ports", {{{"name", "https"}, {"port", 443}}}}}}};
}

// APIRoute shop/orders with one rule whose single backend is `backend`, beside the Service
// shop/ledger (one endpoint), a CA Secret and a client certificate Secret.
RenderResult renderBackend(json backend, std::vector<json> secrets = {}) {
  ObjectSnapshot extra;
  extra.services = {service("shop", "ledger")};
  extra.endpointSlices = {slice("shop", "ledger-1", "ledger", {{{"name", "https"}, {"port", 8443}}},
                                {{{"addresses", {"10.0.0.7"}}, {"conditions", json::object()}}})};
  extra.secrets = std::move(secrets);
  json rule = {{"name", "r"}, {"backends", {std::move(backend)}}};
  return renderRoutes({apiRoute("shop", "orders", {{"rules", {rule}}})}, false, std::move(extra));
}

std::vector<json> goodSecrets() {
  return {opaqueSecret("shop", "ledger-ca", {{"ca.crt", certA() + certB()}}), tlsSecret("shop", "edge", certB(), keyB())};
}

}  // namespace

TEST_SUITE("render") {

TEST_CASE("backendTLS on a Service backend: CA, client certificate, default name <service>.<namespace>.svc") {
  auto result = renderBackend({{"service", "ledger"},
                               {"port", 443},
                               {"backendTLS", {{"caSecretName", "ledger-ca"}, {"clientCertificateSecretName", "edge"}}}},
                              goodSecrets());
  CHECK(result.diagnostics.empty());
  const auto& backend = result.table.routes.at(0).backends.at(0);
  REQUIRE(backend.tls.has_value());
  CHECK(backend.tls->serverName == "ledger.shop.svc");
  CHECK(backend.tls->caPem == certA() + certB());
  CHECK(backend.tls->caSource == "shop/ledger-ca");
  CHECK(backend.tls->clientCertificatePem == certB());
  CHECK(backend.tls->clientKeyPem == keyB());
  CHECK(backend.tls->clientCertificateSource == "shop/edge");
  CHECK(backend.endpoints.at(0).port == 8443);
}

TEST_CASE("backendTLS sni and subjectAltNames are lower-cased; an https url defaults to its host") {
  auto result = renderBackend(
      {{"url", "https://Ledger.Example.com:8443"}, {"backendTLS", {{"sni", "LEDGER.internal"}, {"subjectAltNames", {"a.internal", "10.1.2.3"}}}}});
  CHECK(result.diagnostics.empty());
  const auto& tls = result.table.routes.at(0).backends.at(0).tls;
  REQUIRE(tls.has_value());
  CHECK(tls->serverName == "ledger.internal");
  CHECK(tls->subjectAltNames == std::vector<std::string>{"a.internal", "10.1.2.3"});

  auto plainUrl = renderBackend({{"url", "https://ledger.example.com"}});
  REQUIRE(plainUrl.table.routes.at(0).backends.at(0).tls.has_value());
  CHECK(plainUrl.table.routes[0].backends[0].tls->serverName == "ledger.example.com");
  CHECK(plainUrl.table.routes[0].backends[0].tls->caPem.empty());  // the system trust store
}

TEST_CASE("backendTLS problems: http url, bad names, skip-verify with what it would skip, unknown fields") {
  const std::string at = "spec.rules[0].backends[0].backendTLS";
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"url", "http://ledger.example.com"}, {"backendTLS", json::object()}}, at},
      {{{"url", "https://ledger.example.com"}, {"backendTLS", {{"sni", "bad name"}}}}, at + ".sni"},
      {{{"url", "https://ledger.example.com"}, {"backendTLS", {{"subjectAltNames", {"ok.example", "-bad-"}}}}},
       at + ".subjectAltNames[1]"},
      {{{"url", "https://ledger.example.com"},
        {"backendTLS", {{"insecureSkipVerify", true}, {"caSecretName", "ledger-ca"}}}},
       at + ".caSecretName"},
      {{{"url", "https://ledger.example.com"}, {"backendTLS", {{"caSecret", "ledger-ca"}}}}, at + ".caSecret"},
  };
  for (const auto& [backend, field] : cases) {
    CAPTURE(backend.dump());
    auto result = renderBackend(backend, goodSecrets());
    CHECK(result.table.routes.empty());
    CHECK(diagnosticsAt(result, field).size() == 1);
  }
}

TEST_CASE("a backendTLS Secret that is missing or unusable drops the backend, never serves it in plaintext") {
  for (bool present : {false, true}) {
    CAPTURE(present);
    std::vector<json> secrets;
    if (present) secrets = {opaqueSecret("shop", "ledger-ca", {{"tls.crt", certA()}})};  // no ca.crt
    auto result = renderBackend({{"service", "ledger"}, {"port", 443}, {"backendTLS", {{"caSecretName", "ledger-ca"}}}},
                                secrets);
    REQUIRE(result.table.routes.size() == 1);  // served: 503 until the Secret is fixed
    CHECK(result.table.routes[0].backends.empty());
    auto at = diagnosticsAt(result, "spec.rules[0].backends[0].backendTLS.caSecretName");
    REQUIRE(at.size() == 1);
    CHECK(at[0].condition == "ResolvedRefs");
    CHECK(at[0].reason == (present ? "InvalidSecret" : "SecretNotFound"));
  }
}

TEST_CASE("insecureSkipVerify alone is accepted and kept in the spec") {
  auto result = renderBackend({{"url", "https://10.0.0.9:8443"}, {"backendTLS", {{"insecureSkipVerify", true}}}});
  CHECK(result.diagnostics.empty());
  const auto& tls = result.table.routes.at(0).backends.at(0).tls;
  REQUIRE(tls.has_value());
  CHECK(tls->insecureSkipVerify);
  CHECK(tls->serverName == "10.0.0.9");
}

TEST_CASE("caBundleFromSecret: ca.crt with at least one certificate, all of them parsing") {
  auto bundle = caBundleFromSecret(opaqueSecret("ns", "ca", {{"ca.crt", certA() + certB()}}));
  REQUIRE(bundle);
  CHECK(*bundle == certA() + certB());
  CHECK_FALSE(caBundleFromSecret(opaqueSecret("ns", "ca", {{"tls.crt", certA()}})));
  CHECK_FALSE(caBundleFromSecret(opaqueSecret("ns", "ca", {{"ca.crt", "hello"}})));
  std::string broken = certB();
  broken.replace(broken.find('\n') + 5, 8, "!!!!!!!!");
  auto partly = caBundleFromSecret(opaqueSecret("ns", "ca", {{"ca.crt", certA() + broken}}));
  REQUIRE_FALSE(partly);
  CHECK(partly.error().message.find("block 2") != std::string::npos);
}

}  // TEST_SUITE
