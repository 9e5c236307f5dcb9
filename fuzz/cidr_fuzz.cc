// Fuzz target: IP addresses, CIDR ranges, IP rules and the client address behind trusted
// proxies (proxy/policy/ip_rules.*). All of it sees untrusted text: addresses from sockets,
// X-Forwarded-For from clients, CIDRs from configuration.
//
// Input: text lines. Line 1 is parsed as an address and as a CIDR; every line also goes
// into an allow or deny list (by its first byte) of IpRules, and line 2 is used as an
// X-Forwarded-For value for clientAddress() behind fixed trusted proxies.
//
// Properties checked: a parsed address prints canonically and parses back to itself; a
// parsed CIDR contains its own network, prints as "network/prefix" and parses back to
// itself, and its prefix is within the family's range; a CIDR made from an address
// contains that address; clientAddress() returns an address or the peer unchanged.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "proxy/policy/ip_rules.h"

namespace {

using namespace portico::proxy;
using namespace portico::proxy::policy;
using portico::fuzz::check;

void checkAddress(std::string_view text) {
  const auto address = IpAddress::parse(text);
  if (!address) return;
  const std::string canonical = address->toString();
  const auto again = IpAddress::parse(canonical);
  check(again.has_value() && *again == *address, "an address round-trips through toString", text);
  const auto single = parseCidr(text);
  check(single.has_value() && single->contains(*address), "an address is its own /32 or /128", text);
  for (unsigned prefix : {0u, 1u, 8u, 31u, 32u, 64u, 127u, 128u}) {
    if (address->isV4() && prefix > 32) continue;
    check(Cidr(*address, prefix).contains(*address), "Cidr(a, p) contains a", text);
  }
}

void checkCidr(std::string_view text) {
  const auto cidr = parseCidr(text);
  if (!cidr) return;
  check(cidr->prefixLength() <= (cidr->network().isV4() ? 32u : 128u), "prefix within the family's range", text);
  check(cidr->contains(cidr->network()), "a CIDR contains its network", text);
  const std::string printed = cidr->toString();
  check(printed == cidr->network().toString() + "/" + std::to_string(cidr->prefixLength()), "CIDR text", text);
  const auto again = parseCidr(printed);
  check(again.has_value() && *again == *cidr, "a CIDR round-trips through toString", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string_view> lines = portico::fuzz::splitLines(in, 32);
  checkAddress(lines[0]);
  checkCidr(lines[0]);

  IpRulesSpec spec;
  for (std::string_view line : lines) {
    if (line.empty()) continue;
    (line.front() & 1 ? spec.deny : spec.allow).emplace_back(line.substr(1));
  }
  if (auto rules = IpRules::create(spec)) {
    for (std::string_view line : lines) (void)rules->allows(line);
    check(rules->allows(std::string_view("not an address")) == rules->empty(),
          "a non-address is denied unless the rules are empty");
  }

  static const CidrSet trusted = [] {
    auto set = CidrSet::parse({"10.0.0.0/8", "192.168.1.1", "2001:db8::/32", "::ffff:172.16.0.0/108"});
    if (!set) portico::fuzz::fail("fixed trusted proxies parse");
    return *set;
  }();
  const std::string_view xff = lines.size() > 1 ? lines[1] : std::string_view();
  for (std::string_view peer : {"10.1.2.3", "203.0.113.9", "2001:db8::7", "::ffff:10.0.0.1", "peer"}) {
    const std::string client = clientAddress(peer, xff, trusted);
    if (std::string_view(peer) == "peer") {
      check(client == peer, "a peer that is not an address is returned unchanged", client);
      continue;
    }
    const auto address = IpAddress::parse(client);
    check(address.has_value() && address->toString() == client, "clientAddress is a canonical address", client);
  }
  return 0;
}
