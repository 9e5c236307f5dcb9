#include "proxy/server/http_errors.h"

#include <nlohmann/json.hpp>

namespace portico::proxy {

std::string errorBody(unsigned status, std::string_view message, std::string_view requestId) {
  nlohmann::json body{{"status", status}, {"error", message}, {"requestId", requestId}};
  return body.dump() + "\n";
}

std::string newRequestId(std::mt19937_64& random) {
  static constexpr char kHex[] = "0123456789abcdef";
  char id[32];
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = random();
    for (int i = 0; i < 16; i += 2, bits >>= 8) {
      id[half * 16 + i] = kHex[(bits >> 4) & 0xf];
      id[half * 16 + i + 1] = kHex[bits & 0xf];
    }
  }
  return std::string(id, sizeof id);
}

bool acceptableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace portico::proxy
