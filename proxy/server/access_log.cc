#include "proxy/server/access_log.h"

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace portico::proxy {

namespace {
std::shared_ptr<spdlog::logger>& accessLogger() {
  static std::shared_ptr<spdlog::logger> logger;
  return logger;
}
}  // namespace

void initAccessLog(bool json) {
  // The line is complete JSON or text already; spdlog only adds nothing (pattern %v) for
  // JSON, and a timestamp for text.
  auto logger = spdlog::stdout_logger_mt("access");
  logger->set_pattern(json ? "%v" : "%Y-%m-%dT%H:%M:%S.%e%z %v");
  logger->flush_on(spdlog::level::info);
  accessLogger() = std::move(logger);
}

void logAccess(const AccessRecord& r, bool json) {
  auto& logger = accessLogger();
  if (!logger) return;
  const double ms = std::chrono::duration<double, std::milli>(r.duration).count();
  if (json) {
    nlohmann::json line{{"ts", std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count()},
                        {"client", r.clientIp}, {"method", r.method}, {"target", r.target},
                        {"host", r.host}, {"status", r.status}, {"bytes", r.responseBodyBytes},
                        {"durationMs", ms}, {"route", r.route}, {"upstream", r.upstream},
                        {"requestId", r.requestId}};
    // Invalid UTF-8 from a client must not throw: replace it.
    logger->info(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    // Client-controlled fields are quoted through JSON escaping so they cannot forge lines.
    auto quoted = [](std::string_view v) {
      return nlohmann::json(std::string(v)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    logger->info("{} {} {} {} {} {} {:.3f}ms route={} upstream={} id={}", r.clientIp, r.method,
                 quoted(r.target), quoted(r.host), r.status, r.responseBodyBytes, ms,
                 r.route.empty() ? "-" : r.route, r.upstream.empty() ? "-" : r.upstream,
                 quoted(r.requestId));
  }
}

}  // namespace portico::proxy
