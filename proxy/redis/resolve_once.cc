#include "proxy/redis/resolve_once.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

namespace portico::proxy::redis {

std::string resolveOnce(const std::string& host) {
  unsigned char probe[sizeof(in6_addr)];
  if (inet_pton(AF_INET, host.c_str(), probe) == 1 || inet_pton(AF_INET6, host.c_str(), probe) == 1) return host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || !found) {
    spdlog::error("rate limit: cannot resolve Redis host {} ({}); global limits use their failure mode", host,
                  rc != 0 ? gai_strerror(rc) : "no address");
    return {};
  }
  char text[INET6_ADDRSTRLEN] = {};
  const void* address = found->ai_family == AF_INET6
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr);
  inet_ntop(found->ai_family, address, text, sizeof text);
  freeaddrinfo(found);
  spdlog::info("rate limit: Redis host {} resolved once to {}", host, text);
  return text;
}

}  // namespace portico::proxy::redis
