// One line per request on the "access" logger (stdout), as text or JSON.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace portico::proxy {

struct AccessRecord {
  std::string_view clientIp;
  std::string_view method;
  std::string_view target;
  std::string_view host;
  std::string_view route;      // empty when no route matched
  std::string_view upstream;   // "host:port" or empty
  std::string_view requestId;
  unsigned status = 0;
  uint64_t responseBodyBytes = 0;
  std::chrono::nanoseconds duration{0};
};

void initAccessLog(bool json);
void logAccess(const AccessRecord& record, bool json);

}  // namespace portico::proxy
