// What one routing-table swap costs the proxy when one route out of N changed: the
// controller-side table build, the policy compile for the new table (once per process,
// by the first worker that asks), and each worker's resolve (everything Worker::table()
// does on its first request after the publish). Two workers share the process-wide
// pieces as in the server: the first pays for the policy compile, the second finds it
// done. The old table is released where the server releases it. Times are thread CPU
// time. A benchmark, not a test: it prints medians and asserts nothing.
//   build-b/swap_bench [swaps per size]
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "proxy/policy/route_policies.h"
#include "proxy/runtime/metrics.h"
#include "proxy/runtime/table_publisher.h"
#include "proxy/server/tls.h"
#include "proxy/server/worker.h"
#include "proxy/upstream/upstream_state.h"

using namespace portico::proxy;
// CPU time of this thread, not wall time: the figures then hold on a busy machine (other
// processes' time slices are not counted; their cache pollution still is).
struct Clock {
  using duration = std::chrono::nanoseconds;
  static duration now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  }
};

namespace {

// One self-signed P-256 certificate, PEM: every CertificateSpec of the bench loads it
// under its own name, as distinct Secrets with the same content would be.
std::pair<std::string, std::string> selfSigned() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("bench"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  auto pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, size_t(n));
    BIO_free(bio);
    return out;
  };
  std::string certPem = pem([&](BIO* b) { PEM_write_bio_X509(b, cert); });
  std::string keyPem = pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(cert);
  EVP_PKEY_free(key);
  return {certPem, keyPem};
}

// A route in the shapes render produces: a host, a prefix, one Service backend of three
// endpoints, and a mix of policies so that compiling them costs what it does in practice.
RouteSpec makeRoute(int i, int generation) {
  RouteSpec r;
  r.name = "bench/api-" + std::to_string(i) + "/rule";
  r.hosts = {"svc-" + std::to_string(i) + ".bench.example"};
  r.path = "/api/v1/" + std::to_string(i);
  if (i % 8 == 0) {
    r.loadBalancing = LoadBalancingPolicy::ConsistentHash;
    r.hashOn = {HashSource::Header, "X-User"};
  }
  BackendSpec backend{"bench/svc-" + std::to_string(i) + ":8080", 1, false, {}};
  for (int e = 1; e <= 3; ++e)
    backend.endpoints.push_back({"10." + std::to_string(i / 250 % 250) + "." + std::to_string(i % 250) + "." +
                                     std::to_string(e + generation),
                                 8080, 1});
  r.backends.push_back(std::move(backend));
  if (i % 3 == 0) r.rewritePathRegex = RegexRewriteSpec{"^/api/v1/[0-9]+/(.*)$", "/\\1"};
  if (i % 4 == 0) r.auth.apiKey = ApiKeyAuthSpec{"X-API-Key", "", {{"alice", "k-a-" + std::to_string(i)}, {"bob", "k-b"}}};
  if (i % 5 == 0) r.cors = CorsSpec{{"https://app.example.com"}, {"GET", "POST"}, {}, {}, false, std::nullopt};
  if (i % 7 == 0) r.ipRules.allow = {"10.0.0.0/8", "192.168.0.0/16"};
  if (i % 6 == 0) r.rateLimit = RateLimitSpec{100, Millis(60000), 20, RateLimitKey::ClientIP, "", false, true};
  r.requestHeaders.set = {{"X-Env", "bench"}};
  return r;
}

RouteTableSpec makeSpec(int routes, int certificates, const std::pair<std::string, std::string>& pem) {
  RouteTableSpec spec;
  for (int i = 0; i < routes; ++i) spec.routes.push_back(makeRoute(i, 0));
  for (int c = 0; c < certificates; ++c)
    spec.certificates.push_back({"bench/cert-" + std::to_string(c), {"*.c" + std::to_string(c) + ".bench.example"},
                                 pem.first, pem.second, c == 0});
  return spec;
}

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void run(int routes, int swaps, const std::pair<std::string, std::string>& pem) {
  ServerOptions options;
  TablePublisher publisher;
  Metrics metrics;
  UpstreamRegistry upstreams;
  policy::GatewayRuntime gateway(policy::GatewayOptions{}, [](const std::string&, std::chrono::milliseconds) {
    return portico::Expected<std::string>(portico::makeError("no fetches in the bench"));
  });
  policy::PolicyCompiler compiler(gateway);
  TlsContexts tls{std::chrono::hours(12)};
  Worker first(0, options, publisher, metrics, upstreams, gateway, compiler, tls);
  Worker second(1, options, publisher, metrics, upstreams, gateway, compiler, tls);

  RouteTableSpec spec = makeSpec(routes, std::max(1, routes / 100), pem);
  uint64_t version = 1;
  auto build = [&](const RouteTableSpec& s, Clock::duration* took) {
    const auto start = Clock::now();
    // As the controller does: from the published table, so unchanged routes keep their spec.
    auto table = RouteTable::build(s, version++, publisher.current().get());
    if (took) *took = Clock::now() - start;
    if (!table) {
      std::fprintf(stderr, "build failed: %s\n", table.error().message.c_str());
      std::exit(1);
    }
    return std::move(*table);
  };

  // The first table: every route is new, on either side of the change.
  Clock::duration took{};
  publisher.publish(build(spec, &took));
  const double fullBuild = micros(took);
  auto start = Clock::now();
  first.table();
  const double fullFirst = micros(Clock::now() - start);
  start = Clock::now();
  second.table();
  const double fullSecond = micros(Clock::now() - start);

  std::vector<double> builds, compiles, firsts, seconds;
  for (int s = 0; s < swaps; ++s) {
    // One route changes: its endpoints move (as an EndpointSlice edit would).
    const int changed = (s * 7919) % routes;
    spec.routes[size_t(changed)] = makeRoute(changed, s + 1);
    publisher.publish(build(spec, &took));
    builds.push_back(micros(took));
    start = Clock::now();
    compiler.forTable(*publisher.current());
    compiles.push_back(micros(Clock::now() - start));
    start = Clock::now();
    first.table();
    firsts.push_back(micros(Clock::now() - start));
    start = Clock::now();
    second.table();
    seconds.push_back(micros(Clock::now() - start));
  }
  // A worker that was idle across two publishes resolves against a table older than the
  // one the new table was built from (no Route::previousIndex to follow).
  std::vector<double> skipped;
  for (int s = 0; s < swaps; ++s) {
    for (int k = 0; k < 2; ++k) {
      const int changed = (s * 104729 + k) % routes;
      spec.routes[size_t(changed)] = makeRoute(changed, swaps + 2 * s + k + 1);
      publisher.publish(build(spec, nullptr));
    }
    compiler.forTable(*publisher.current());
    start = Clock::now();
    first.table();
    skipped.push_back(micros(Clock::now() - start));
    second.table();
  }
  std::printf("%7d routes, first table: build %9.0f us, worker 1 %9.0f us (compiles the policies), worker 2 %9.0f us\n",
              routes, fullBuild, fullFirst, fullSecond);
  std::printf("%7d routes, one changed (median of %d swaps): build %8.0f us | policy compile %8.1f us | "
              "worker resolve %8.1f us, %8.1f us (compile done)\n",
              routes, swaps, median(builds), median(compiles), median(firsts), median(seconds));
  std::printf("%7d routes, worker idle across two publishes (two routes changed): worker resolve %8.1f us "
              "(compile done)\n", routes, median(skipped));
}

}  // namespace

int main(int argc, char** argv) {
  const int swaps = argc > 1 ? std::atoi(argv[1]) : 15;
  const auto pem = selfSigned();
  for (int routes : {1000, 10000}) run(routes, swaps, pem);
}
