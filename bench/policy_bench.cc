// CPU cost of each gateway policy's decision per request (RoutePolicies::admit and the
// local rate limit), single thread, warm caches: the part of a request's cost the policy
// adds, to set beside Portico's whole per-request CPU time from bench/policies.sh or
// bench/peers.sh (loopback throughput on this shared VM swings too much to resolve a few
// percent). A benchmark, not a test: prints numbers, asserts nothing.
//   build/policy_bench [requests per row]
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "proxy/policy/route_policies.h"
#include "test/proxy/router/fake_request.h"

using namespace portico::proxy;
using portico::proxy::testing::FakeRequest;

namespace {
std::string base64Url(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::string bnBytes(const BIGNUM* bn) {
  std::string out(BN_num_bytes(bn), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// An RS256 token and its JWKS, made with OpenSSL here (bench only).
std::pair<std::string, std::string> rs256TokenAndJwks() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  BIGNUM *n = nullptr, *e = nullptr;
  EVP_PKEY_get_bn_param(key, "n", &n);
  EVP_PKEY_get_bn_param(key, "e", &e);
  const std::string jwks = R"({"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","n":")" + base64Url(bnBytes(n)) +
                           R"(","e":")" + base64Url(bnBytes(e)) + R"("}]})";
  const std::string input = base64Url(R"({"alg":"RS256","kid":"k1"})") + "." +
                            base64Url(R"({"sub":"bench","iss":"bench","exp":)" +
                                      std::to_string(std::time(nullptr) + 3600) + "}");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t length = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string signature(length, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  EVP_MD_CTX_free(ctx);
  BN_free(n);
  BN_free(e);
  EVP_PKEY_free(key);
  return {input + "." + base64Url(signature.substr(0, length)), jwks};
}

double nanosPerRequest(const RouteSpec& spec, const FakeRequest& request, policy::GatewayRuntime& gateway, long n) {
  auto policies = policy::RoutePolicies::compile(spec, gateway);
  if (!policies) {
    std::fprintf(stderr, "%s\n", policies.error().message.c_str());
    std::exit(1);
  }
  unsigned failures = 0;
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    policy::Admission admission;
    policy::Verdict verdict = policies->admit(request, "10.1.2.3", admission);
    if (const RateLimitSpec* limit = policies->rateLimit(); verdict && limit) {
      // What the rate-limit filter does for a local limit.
      std::string key;
      verdict = policies->rateLimitKey(request, "10.1.2.3", admission, key);
      if (verdict)
        verdict = policy::RoutePolicies::rateLimitVerdict(
            gateway.localLimiter().decide(policies->name(), key, *limit), admission);
    }
    failures += !verdict;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  if (failures) std::fprintf(stderr, "warning: %u requests refused\n", failures);
  return std::chrono::duration<double, std::nano>(elapsed).count() / double(n);
}
}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 200000;
  policy::GatewayRuntime gateway({}, [](const std::string&, std::chrono::milliseconds) -> portico::Expected<std::string> {
    return portico::makeError("no fetching in the benchmark");
  });
  const auto [token, jwks] = rs256TokenAndJwks();
  RouteSpec base;
  base.name = "bench/route/r";
  const RateLimitSpec unlimited{.requests = 1'000'000'000, .period = Millis(1000)};

  struct Row {
    const char* name;
    std::function<void(RouteSpec&)> configure;
    FakeRequest request;
  };
  FakeRequest plain("h", "/");
  std::vector<Row> rows = {
      {"ipRules", [](RouteSpec& s) { s.ipRules.allow = {"10.0.0.0/8"}; }, plain},
      {"cors", [](RouteSpec& s) { s.cors = CorsSpec{.allowOrigins = {"https://app.example"}}; },
       FakeRequest("h", "/").withHeader("Origin", "https://app.example")},
      {"apiKey", [](RouteSpec& s) { s.auth.apiKey = ApiKeyAuthSpec{"X-API-Key", "", {{"bench", "k-1234567890abcdef"}}}; },
       FakeRequest("h", "/").withHeader("X-API-Key", "k-1234567890abcdef")},
      {"rateLimit(local)", [&](RouteSpec& s) { s.rateLimit = unlimited; }, plain},
      {"apiKey+rateLimit(Consumer)",
       [&](RouteSpec& s) {
         s.auth.apiKey = ApiKeyAuthSpec{"X-API-Key", "", {{"bench", "k-1234567890abcdef"}}};
         s.rateLimit = unlimited;
         s.rateLimit->key = RateLimitKey::Consumer;
       },
       FakeRequest("h", "/").withHeader("X-API-Key", "k-1234567890abcdef")},
      {"jwt(RS256, cached)",
       [&](RouteSpec& s) { s.auth.jwt = JwtAuthSpec{.issuer = "bench", .jwks = jwks}; },
       FakeRequest("h", "/").withHeader("Authorization", "Bearer " + token)},
  };
  std::printf("ns per request for the policy decision (%ld requests per row, one thread)\n", n);
  for (Row& row : rows) {
    RouteSpec spec = base;
    row.configure(spec);
    std::printf("%-28s %8.0f\n", row.name, nanosPerRequest(spec, row.request, gateway, n));
  }
}
