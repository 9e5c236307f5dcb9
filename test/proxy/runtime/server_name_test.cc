// The server_name extension reader of the ClientHello callback (per-host TLS versions): the
// bytes of real extensions, and malformed ones that must give "" without reading past the end.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proxy/server/tls.h"

using portico::proxy::serverNameExtensionHost;

namespace {
// list length (2), type (1), name length (2), name
std::vector<unsigned char> extension(const std::string& name, int type = 0, int listDelta = 0, int nameDelta = 0) {
  const size_t list = 3 + name.size() + listDelta;
  const size_t length = name.size() + nameDelta;
  std::vector<unsigned char> out{static_cast<unsigned char>(list >> 8), static_cast<unsigned char>(list),
                                 static_cast<unsigned char>(type), static_cast<unsigned char>(length >> 8),
                                 static_cast<unsigned char>(length)};
  out.insert(out.end(), name.begin(), name.end());
  return out;
}
}  // namespace

TEST_SUITE("runtime") {

TEST_CASE("server_name extension: the host name of a well-formed body") {
  CHECK(serverNameExtensionHost(extension("a.test")) == "a.test");
  CHECK(serverNameExtensionHost(extension(std::string(300, 'x'))) == std::string(300, 'x'));
}

TEST_CASE("server_name extension: malformed bodies give nothing and are never overread") {
  CHECK(serverNameExtensionHost({}).empty());
  const auto good = extension("a.test");
  for (size_t cut = 0; cut < good.size(); ++cut)  // every truncation
    CHECK(serverNameExtensionHost({good.data(), cut}).empty());
  CHECK(serverNameExtensionHost(extension("a.test", 1)).empty());           // not host_name
  CHECK(serverNameExtensionHost(extension("a.test", 0, 1)).empty());        // list says longer
  CHECK(serverNameExtensionHost(extension("a.test", 0, -1)).empty());       // list says shorter
  CHECK(serverNameExtensionHost(extension("a.test", 0, 0, 1)).empty());     // name says longer
  CHECK(serverNameExtensionHost(extension("a.test", 0, 0, 60000)).empty());
}

}  // TEST_SUITE
