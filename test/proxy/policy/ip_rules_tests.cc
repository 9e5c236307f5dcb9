#include "proxy/policy/ip_rules.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using portico::proxy::IpRulesSpec;
using portico::proxy::policy::Cidr;
using portico::proxy::policy::CidrSet;
using portico::proxy::policy::clientAddress;
using portico::proxy::policy::IpAddress;
using portico::proxy::policy::IpRules;
using portico::proxy::policy::parseCidr;

namespace {
// "<error: ...>" on failure so that a CHECK prints the reason.
std::string cidr(std::string_view text) {
  auto c = parseCidr(text);
  return c ? c->toString() : "<error: " + c.error().message + ">";
}

bool inCidr(std::string_view range, std::string_view address) {
  auto c = parseCidr(range);
  auto a = IpAddress::parse(address);
  REQUIRE(c.has_value());
  REQUIRE(a.has_value());
  return c->contains(*a);
}

CidrSet cidrSet(const std::vector<std::string>& list) {
  auto s = CidrSet::parse(list);
  REQUIRE(s.has_value());
  return *s;
}

IpRules rules(std::vector<std::string> allow, std::vector<std::string> deny) {
  IpRulesSpec spec;
  spec.allow = std::move(allow);
  spec.deny = std::move(deny);
  auto r = IpRules::create(spec);
  REQUIRE(r.has_value());
  return *r;
}
}  // namespace

TEST_SUITE("ip_rules") {
  TEST_CASE("IpAddress::parse accepts IPv4 and IPv6 literals and maps ::ffff:a.b.c.d to IPv4") {
    auto a = IpAddress::parse("10.1.2.3");
    REQUIRE(a.has_value());
    CHECK(a->isV4());
    CHECK(a->v4Bits() == 0x0a010203u);
    CHECK(a->toString() == "10.1.2.3");

    auto b = IpAddress::parse("2001:DB8:0:0::1");
    REQUIRE(b.has_value());
    CHECK_FALSE(b->isV4());
    CHECK(b->toString() == "2001:db8::1");

    auto m = IpAddress::parse("::ffff:192.0.2.1");
    REQUIRE(m.has_value());
    CHECK(m->isV4());
    CHECK(m->toString() == "192.0.2.1");
    CHECK(*m == *IpAddress::parse("192.0.2.1"));
    auto mh = IpAddress::parse("::ffff:c000:201");
    REQUIRE(mh.has_value());
    CHECK(*mh == *m);

    // IPv4-compatible (deprecated, not mapped) stays IPv6.
    auto compat = IpAddress::parse("::192.0.2.1");
    REQUIRE(compat.has_value());
    CHECK_FALSE(compat->isV4());
  }

  TEST_CASE("IpAddress::parse rejects malformed input") {
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4", "::g",
                            "1::2::3", "[::1]", "1.2.3.4:80", "fe80::1%eth0", "localhost", "-1.2.3.4",
                            "12345::", "::ffff:1.2.3.4.5"}) {
      CAPTURE(bad);
      CHECK_FALSE(IpAddress::parse(bad).has_value());
    }
    CHECK_FALSE(IpAddress::parse(std::string(5000, '1')).has_value());
    CHECK_FALSE(IpAddress::parse(std::string("1.2.3.4\0", 8)).has_value());
  }

  TEST_CASE("parseCidr: prefixes, single addresses and cleared host bits") {
    CHECK(cidr("10.0.0.0/8") == "10.0.0.0/8");
    CHECK(cidr("10.1.2.3/8") == "10.0.0.0/8");
    CHECK(cidr("10.1.2.3") == "10.1.2.3/32");
    CHECK(cidr("10.1.2.3/32") == "10.1.2.3/32");
    CHECK(cidr("0.0.0.0/0") == "0.0.0.0/0");
    CHECK(cidr("1.2.3.4/0") == "0.0.0.0/0");
    CHECK(cidr("2001:db8::/32") == "2001:db8::/32");
    CHECK(cidr("2001:db8:ffff::1/33") == "2001:db8:8000::/33");
    CHECK(cidr("2001:db8::1") == "2001:db8::1/128");
    CHECK(cidr("::/0") == "::/0");
    CHECK(cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/65") == "ffff:ffff:ffff:ffff:8000::/65");
    CHECK(cidr("::1/128") == "::1/128");
    // Mapped networks with a prefix >= 96 are IPv4 networks.
    CHECK(cidr("::ffff:10.0.0.0/104") == "10.0.0.0/8");
    CHECK(cidr("::ffff:10.1.2.3") == "10.1.2.3/32");
    CHECK(cidr("::ffff:0:0/96") == "0.0.0.0/0");
    CHECK(cidr("::ffff:0:0/95") == "::fffe:0:0/95");  // stays IPv6
  }

  TEST_CASE("parseCidr: clear errors for bad input") {
    auto e = parseCidr("10.0.0.0/33");
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().message == "invalid CIDR \"10.0.0.0/33\": prefix length 33 exceeds 32 for IPv4");
    e = parseCidr("1.2.3");
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().message == "invalid CIDR \"1.2.3\": not an IPv4 or IPv6 address");
    e = parseCidr("::g");
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().message == "invalid CIDR \"::g\": not an IPv4 or IPv6 address");
    e = parseCidr("2001:db8::/129");
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().message.find("exceeds 128 for IPv6") != std::string::npos);
    for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/8",
                            "10.0.0.0/0008", "10.0.0.0 /8", "10.0.0.0/ 8", "10.0.0.0/99999999999999999999"}) {
      CAPTURE(bad);
      CHECK_FALSE(parseCidr(bad).has_value());
    }
    // Control characters are escaped in the message.
    e = parseCidr("1.2.3.4\n/8");
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().message.find("\\x0a") != std::string::npos);
  }

  TEST_CASE("Cidr::contains: IPv4 boundaries, /0, /32") {
    CHECK(inCidr("10.0.0.0/8", "10.0.0.0"));
    CHECK(inCidr("10.0.0.0/8", "10.255.255.255"));
    CHECK_FALSE(inCidr("10.0.0.0/8", "11.0.0.0"));
    CHECK_FALSE(inCidr("10.0.0.0/8", "9.255.255.255"));
    CHECK(inCidr("192.168.1.0/25", "192.168.1.127"));
    CHECK_FALSE(inCidr("192.168.1.0/25", "192.168.1.128"));
    CHECK(inCidr("0.0.0.0/0", "1.2.3.4"));
    CHECK(inCidr("0.0.0.0/0", "255.255.255.255"));
    CHECK(inCidr("1.2.3.4/32", "1.2.3.4"));
    CHECK_FALSE(inCidr("1.2.3.4/32", "1.2.3.5"));
    CHECK(inCidr("1.2.3.4", "::ffff:1.2.3.4"));
  }

  TEST_CASE("Cidr::contains: IPv6 prefixes, /0, /64 boundary, /128, families never mix") {
    CHECK(inCidr("2001:db8::/32", "2001:db8:1234::1"));
    CHECK_FALSE(inCidr("2001:db8::/32", "2001:db9::1"));
    CHECK(inCidr("2001:db8:0:1::/64", "2001:db8:0:1:ffff:ffff:ffff:ffff"));
    CHECK_FALSE(inCidr("2001:db8:0:1::/64", "2001:db8:0:2::"));
    CHECK(inCidr("2001:db8::/65", "2001:db8::7fff:ffff:ffff:ffff"));
    CHECK_FALSE(inCidr("2001:db8::/65", "2001:db8::8000:0:0:0"));
    CHECK(inCidr("::1/128", "::1"));
    CHECK_FALSE(inCidr("::1/128", "::2"));
    CHECK(inCidr("::/0", "2001:db8::1"));
    CHECK(inCidr("::/0", "::"));
    // ::/0 is every IPv6 address, not IPv4 (mapped addresses are IPv4).
    CHECK_FALSE(inCidr("::/0", "1.2.3.4"));
    CHECK_FALSE(inCidr("::/0", "::ffff:1.2.3.4"));
    CHECK_FALSE(inCidr("0.0.0.0/0", "::1"));
    // A mapped network matches plain IPv4 addresses.
    CHECK(inCidr("::ffff:10.0.0.0/104", "10.20.30.40"));
    CHECK_FALSE(inCidr("::ffff:10.0.0.0/104", "11.0.0.1"));
  }

  TEST_CASE("CidrSet: mixed families, string lookup, index in parse errors") {
    CidrSet set = cidrSet({"10.0.0.0/8", "2001:db8::/32", "192.168.0.1"});
    CHECK(set.size() == 3);
    CHECK(set.contains("10.9.9.9"));
    CHECK(set.contains("::ffff:10.9.9.9"));
    CHECK(set.contains("2001:db8::5"));
    CHECK(set.contains("192.168.0.1"));
    CHECK_FALSE(set.contains("192.168.0.2"));
    CHECK_FALSE(set.contains("2001:db9::5"));
    CHECK_FALSE(set.contains("not-an-ip"));
    CHECK(CidrSet().empty());
    CHECK_FALSE(CidrSet().contains("1.2.3.4"));

    auto bad = CidrSet::parse({"10.0.0.0/8", "10.0.0.0/33"});
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().message.rfind("[1]: invalid CIDR", 0) == 0);
  }

  TEST_CASE("IpRules: empty allows all, deny wins, non-empty allow means default deny") {
    IpRules none = rules({}, {});
    CHECK(none.empty());
    CHECK(none.allows("1.2.3.4"));
    CHECK(none.allows("garbage"));

    IpRules denyOnly = rules({}, {"10.0.0.0/8", "2001:db8::/32"});
    CHECK_FALSE(denyOnly.allows("10.1.1.1"));
    CHECK_FALSE(denyOnly.allows("::ffff:10.1.1.1"));
    CHECK_FALSE(denyOnly.allows("2001:db8::1"));
    CHECK(denyOnly.allows("11.1.1.1"));
    CHECK(denyOnly.allows("2001:db9::1"));
    CHECK_FALSE(denyOnly.allows("garbage"));  // fail closed

    IpRules allowOnly = rules({"192.168.0.0/16"}, {});
    CHECK(allowOnly.allows("192.168.3.4"));
    CHECK_FALSE(allowOnly.allows("192.169.0.1"));
    CHECK_FALSE(allowOnly.allows("::1"));

    IpRules both = rules({"10.0.0.0/8"}, {"10.0.0.0/24"});
    CHECK(both.allows("10.0.1.1"));
    CHECK_FALSE(both.allows("10.0.0.5"));  // deny wins over the broader allow
    CHECK_FALSE(both.allows("11.0.0.1"));

    IpRules all = rules({"0.0.0.0/0", "::/0"}, {"203.0.113.7"});
    CHECK(all.allows("8.8.8.8"));
    CHECK(all.allows("2001:4860::8888"));
    CHECK_FALSE(all.allows("203.0.113.7"));
  }

  TEST_CASE("IpRules::create names the field and index of a bad entry") {
    IpRulesSpec spec;
    spec.allow = {"10.0.0.0/8"};
    spec.deny = {"1.2.3.4", "1.2.3"};
    auto r = IpRules::create(spec);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message == "ipRules.deny[1]: invalid CIDR \"1.2.3\": not an IPv4 or IPv6 address");
    spec.deny.clear();
    spec.allow = {"::g"};
    r = IpRules::create(spec);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.rfind("ipRules.allow[0]: ", 0) == 0);
  }

  TEST_CASE("clientAddress: an untrusted peer's X-Forwarded-For is ignored") {
    CidrSet trusted = cidrSet({"10.0.0.0/8"});
    CHECK(clientAddress("203.0.113.9", "1.1.1.1", trusted) == "203.0.113.9");
    CHECK(clientAddress("203.0.113.9", "", trusted) == "203.0.113.9");
    CHECK(clientAddress("203.0.113.9", "10.0.0.1, 1.1.1.1", trusted) == "203.0.113.9");
    CHECK(clientAddress("::ffff:203.0.113.9", "1.1.1.1", trusted) == "203.0.113.9");
    // No trusted proxies at all: always the peer.
    CHECK(clientAddress("10.0.0.1", "1.1.1.1", CidrSet()) == "10.0.0.1");
  }

  TEST_CASE("clientAddress: walks from the right past trusted proxies") {
    CidrSet trusted = cidrSet({"10.0.0.0/8", "fd00::/8"});
    CHECK(clientAddress("10.0.0.1", "", trusted) == "10.0.0.1");
    CHECK(clientAddress("10.0.0.1", "  ", trusted) == "10.0.0.1");
    CHECK(clientAddress("10.0.0.1", "198.51.100.7", trusted) == "198.51.100.7");
    // The client spoofed a left entry; the rightmost untrusted is what our proxies saw.
    CHECK(clientAddress("10.0.0.1", "6.6.6.6, 198.51.100.7, 10.0.0.2", trusted) == "198.51.100.7");
    CHECK(clientAddress("10.0.0.1", "6.6.6.6,198.51.100.7,10.0.0.2,10.0.0.3", trusted) == "198.51.100.7");
    // All trusted: the leftmost.
    CHECK(clientAddress("10.0.0.1", "10.0.0.9, 10.0.0.2", trusted) == "10.0.0.9");
    // IPv6 and ports, canonical output.
    CHECK(clientAddress("fd00::1", "2001:DB8::1", trusted) == "2001:db8::1");
    CHECK(clientAddress("fd00::1", "[2001:db8::1]:443, fd00::2", trusted) == "2001:db8::1");
    CHECK(clientAddress("fd00::1", "[2001:db8::2]", trusted) == "2001:db8::2");
    CHECK(clientAddress("10.0.0.1", "198.51.100.7:5678", trusted) == "198.51.100.7");
    CHECK(clientAddress("10.0.0.1", "::ffff:198.51.100.7", trusted) == "198.51.100.7");
    CHECK(clientAddress("::ffff:10.0.0.1", "198.51.100.7", trusted) == "198.51.100.7");
  }

  TEST_CASE("clientAddress: a malformed entry stops the walk at the last trusted hop") {
    CidrSet trusted = cidrSet({"10.0.0.0/8"});
    CHECK(clientAddress("10.0.0.1", "garbage", trusted) == "10.0.0.1");
    CHECK(clientAddress("10.0.0.1", "1.1.1.1, garbage, 10.0.0.2", trusted) == "10.0.0.2");
    CHECK(clientAddress("10.0.0.1", "1.1.1.1,,10.0.0.2", trusted) == "10.0.0.2");
    CHECK(clientAddress("10.0.0.1", "1.1.1.1, 10.0.0.2,", trusted) == "10.0.0.1");
    CHECK(clientAddress("10.0.0.1", "unknown", trusted) == "10.0.0.1");
    CHECK(clientAddress("10.0.0.1", "1.2.3.4:99999999", trusted) == "10.0.0.1");
    CHECK(clientAddress("10.0.0.1", "[1.2.3.4]", trusted) == "10.0.0.1");
    CHECK(clientAddress("10.0.0.1", "2001:db8::1:443", trusted) == "2001:db8::1:443");  // valid IPv6 literal
    CHECK(clientAddress("10.0.0.1", "[2001:db8::1", trusted) == "10.0.0.1");
    // A peer that is not an address comes back unchanged.
    CHECK(clientAddress("unix:/tmp/sock", "1.1.1.1", trusted) == "unix:/tmp/sock");
  }

  TEST_CASE("clientAddress: a long header with many trusted hops") {
    CidrSet trusted = cidrSet({"10.0.0.0/8"});
    std::string xff = "198.51.100.1";
    for (int i = 0; i < 1000; ++i) xff += ", 10.0.0." + std::to_string(i % 250);
    CHECK(clientAddress("10.0.0.1", xff, trusted) == "198.51.100.1");
  }
}
