// Cost of one access-log line: the spdlog + nlohmann logger Portico used before (a process-
// wide mutex, one write(2) per line) against the per-thread buffers and background writer of
// proxy/server/access_log.cc, on 1 and 2 logging threads, text and JSON. Redirect stdout to
// where the lines should go (/dev/null, a file, a pipe); results go to stderr.
// A benchmark, not a test: it prints numbers and asserts nothing.
//   build/access_log_bench [lines per thread] [both|after] [text|json] > /dev/null
//   ("after": skip the old logger, e.g. under perf record; a format: only that one, e.g.
//   for instructions per line under valgrind --tool=callgrind)
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "proxy/server/access_log.h"

using namespace portico::proxy;

namespace {

// The logger as it was before the buffered writer (access_log.cc at f123ef7).
std::shared_ptr<spdlog::logger> legacyText, legacyJson;

void legacyLog(const AccessRecord& r, bool json) {
  auto& logger = json ? legacyJson : legacyText;
  const double ms = std::chrono::duration<double, std::milli>(r.duration).count();
  if (json) {
    nlohmann::json line{{"ts", std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count()},
                        {"client", r.clientIp}, {"method", r.method}, {"target", r.target},
                        {"host", r.host}, {"status", r.status}, {"bytes", r.responseBodyBytes},
                        {"durationMs", ms}, {"route", r.route}, {"upstream", r.upstream},
                        {"requestId", r.requestId}};
    logger->info(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    auto quoted = [](std::string_view v) {
      return nlohmann::json(std::string(v)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    logger->info("{} {} {} {} {} {} {:.3f}ms route={} upstream={} id={}", r.clientIp, r.method,
                 quoted(r.target), quoted(r.host), r.status, r.responseBodyBytes, ms,
                 r.route.empty() ? "-" : r.route, r.upstream.empty() ? "-" : r.upstream,
                 quoted(r.requestId));
  }
}

double cpuSeconds(int who) {
  rusage usage{};
  getrusage(who, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

struct Result {
  double wallNsPerLine;        // per logging thread
  double callerCpuNsPerLine;   // CPU of the logging threads only
  double processCpuNsPerLine;  // all threads, the background writer included
  std::uint64_t dropped;       // must be 0 for the numbers to count
};

Result run(bool legacy, bool json, int threads, long lines) {
  // A realistic request: ~170 bytes of text, a request id like the session makes.
  const AccessRecord record{"10.244.1.17", "GET", "/api/v1/orders/12345?expand=items&page=2", "shop.example.com",
                            "shop/orders/read", "10.244.3.9:8080", "5f0c6a1e-3b7d-4c2a-9e1f-8a6b2d4c0e13", 200,
                            5321, std::chrono::microseconds(1830)};
  std::vector<double> callerCpu(threads);
  const std::uint64_t droppedBefore = accessLogDroppedLines();
  const double cpuBefore = cpuSeconds(RUSAGE_SELF);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      const double before = threadCpuSeconds();
      for (long i = 0; i < lines; ++i) {
        legacy ? legacyLog(record, json) : logAccess(record, json);
        // A tight loop makes lines far faster than a proxy does (~300 ns against >= 20 us per
        // request) and would outrun the writer into the drop bound, which flatters the
        // numbers. Waiting for the writer every 16k lines (~3 MiB) keeps every line written.
        if (!legacy && (i + 1) % 16384 == 0) flushAccessLog();
      }
      callerCpu[t] = threadCpuSeconds() - before;
    });
  for (auto& thread : pool) thread.join();
  if (legacy) (json ? legacyJson : legacyText)->flush();
  else flushAccessLog();  // the background writer's work is part of the cost
  const double wall = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  const double total = double(lines) * threads;
  double caller = 0;
  for (double c : callerCpu) caller += c;
  return {wall / double(lines), caller * 1e9 / total, (cpuSeconds(RUSAGE_SELF) - cpuBefore) * 1e9 / total,
          accessLogDroppedLines() - droppedBefore};
}

}  // namespace

int main(int argc, char** argv) {
  const long lines = argc > 1 ? std::atol(argv[1]) : 200000;
  const bool afterOnly = argc > 2 && std::string(argv[2]) == "after";
  const std::string only = argc > 3 ? argv[3] : "";
  legacyText = spdlog::stdout_logger_mt("legacy_text");
  legacyText->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %v");
  legacyText->flush_on(spdlog::level::info);
  legacyJson = spdlog::stdout_logger_mt("legacy_json");
  legacyJson->set_pattern("%v");
  legacyJson->flush_on(spdlog::level::info);
  initAccessLog(false);
  std::fprintf(stderr, "%ld lines per thread; ns per line (wall per thread / CPU of callers / CPU of process)\n",
               lines);
  std::fprintf(stderr, "%-6s %-4s %28s %28s %s\n", "format", "thr", "before (spdlog+nlohmann)", "after (buffered)",
               "dropped");
  for (bool json : {false, true}) {
    if (!only.empty() && only != (json ? "json" : "text")) continue;
    for (int threads : {1, 2}) {
      run(false, json, threads, lines / 10);  // warm-up: buffers, page cache
      const Result before = afterOnly ? Result{} : run(true, json, threads, lines);
      const Result after = run(false, json, threads, lines);
      std::fprintf(stderr, "%-6s %-4d %8.0f /%8.0f /%8.0f %8.0f /%8.0f /%8.0f %llu\n", json ? "json" : "text",
                   threads, before.wallNsPerLine, before.callerCpuNsPerLine, before.processCpuNsPerLine,
                   after.wallNsPerLine, after.callerCpuNsPerLine, after.processCpuNsPerLine,
                   static_cast<unsigned long long>(after.dropped));
    }
  }
  return 0;
}
