// IP addresses, CIDR ranges and the per-route allow/deny rules (RouteSpec::ipRules), plus
// the client address behind trusted proxies (X-Forwarded-For).
//
// Address model: IPv4 and IPv6 are separate families. An IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) is the IPv4 address a.b.c.d everywhere: parsing maps it, and a mapped
// CIDR with a prefix of at least 96 ("::ffff:10.0.0.0/104") is the IPv4 CIDR 10.0.0.0/8.
// A mapped CIDR with a shorter prefix stays IPv6 (it covers more than the mapped block) and,
// like every IPv6 CIDR, never matches an IPv4 address; "::/0" therefore means "every IPv6
// address" and "0.0.0.0/0" "every IPv4 address".
//
// Everything here is immutable after construction, never throws on untrusted input
// (addresses come from sockets and request headers) and is safe to share between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/expected.h"
#include "proxy/config/route_spec.h"

namespace portico::proxy::policy {

class IpAddress {
 public:
  enum class Family : uint8_t { V4, V6 };

  // A literal as inet_pton takes it: dotted quad ("10.1.2.3", no leading zeros, exactly four
  // parts) or IPv6 text ("2001:db8::1", "::ffff:1.2.3.4"). No brackets, ports, zone ids or
  // surrounding spaces. IPv4-mapped IPv6 becomes V4.
  [[nodiscard]] static Expected<IpAddress> parse(std::string_view text);

  // IPv4 from a host-order 32-bit value, IPv6 from its two host-order 64-bit halves.
  static IpAddress v4(uint32_t address);
  static IpAddress v6(uint64_t high, uint64_t low);

  Family family() const { return family_; }
  bool isV4() const { return family_ == Family::V4; }
  uint32_t v4Bits() const { return static_cast<uint32_t>(low_); }  // V4 only
  uint64_t high() const { return high_; }                          // V6 only
  uint64_t low() const { return low_; }                            // V6 only

  // Canonical text (inet_ntop): "10.1.2.3", "2001:db8::1".
  std::string toString() const;

  bool operator==(const IpAddress&) const = default;

 private:
  IpAddress() = default;
  Family family_ = Family::V4;
  uint64_t high_ = 0;
  uint64_t low_ = 0;  // V4: the address in the low 32 bits
};

// A network: the address with host bits cleared, and the prefix length (0..32 or 0..128).
class Cidr {
 public:
  // Host bits set in the text are cleared ("10.1.2.3/8" is 10.0.0.0/8).
  Cidr(const IpAddress& address, unsigned prefixLength);

  const IpAddress& network() const { return network_; }
  unsigned prefixLength() const { return prefixLength_; }
  // False for an address of the other family.
  bool contains(const IpAddress& address) const;
  std::string toString() const;  // "10.0.0.0/8"
  bool operator==(const Cidr&) const = default;

 private:
  IpAddress network_;
  unsigned prefixLength_;
};

// "10.0.0.0/8", "2001:db8::/32", or a single address ("10.1.2.3" is /32, "::1" is /128).
// Errors name the input and the reason: a bad address ("1.2.3", "::g"), a prefix out of range
// for the family ("10.0.0.0/33"), a missing or non-numeric prefix ("10.0.0.0/", "1.2.3.4/x").
[[nodiscard]] Expected<Cidr> parseCidr(std::string_view text);

// A set of CIDRs (e.g. trusted proxies). Lookup scans the set, which is meant for the tens
// of entries a route or a proxy list has, not for large geo databases.
class CidrSet {
 public:
  CidrSet() = default;
  // Parses every entry; the first bad one fails the whole set with its index in the message.
  [[nodiscard]] static Expected<CidrSet> parse(const std::vector<std::string>& cidrs);

  void add(const Cidr& cidr);
  bool contains(const IpAddress& address) const;
  // False when `address` is not a valid literal (see IpAddress::parse).
  bool contains(std::string_view address) const;
  bool empty() const { return v4_.empty() && v6_.empty(); }
  size_t size() const { return v4_.size() + v6_.size(); }

 private:
  struct V4Range {
    uint32_t network;
    uint32_t mask;
  };
  struct V6Range {
    uint64_t networkHigh, networkLow;
    uint64_t maskHigh, maskLow;
  };
  std::vector<V4Range> v4_;
  std::vector<V6Range> v6_;
};

// The compiled RouteSpec::ipRules. Deny wins; a non-empty allow list denies everything it
// does not contain; empty rules allow everything.
class IpRules {
 public:
  // Fails on the first invalid entry, naming it ("ipRules.deny[1]: invalid CIDR ...").
  [[nodiscard]] static Expected<IpRules> create(const IpRulesSpec& spec);

  bool empty() const { return allow_.empty() && deny_.empty(); }
  bool allows(const IpAddress& client) const;
  // `client` as clientAddress() returns it. A string that is not an address is denied
  // unless the rules are empty (fail closed: it cannot be shown to be outside `deny`).
  bool allows(std::string_view client) const;

 private:
  CidrSet allow_;
  CidrSet deny_;
};

// The client's address for policies (IP rules, rate-limit keys, logs).
//
// If the connection's peer is not in `trustedProxies`, the peer itself: an X-Forwarded-For
// header from an untrusted peer is ignored, since anyone can send one. If the peer is
// trusted, X-Forwarded-For (`xForwardedFor`: every instance of the header joined with ",")
// is walked from the right: trusted entries are skipped, and the first untrusted entry is
// the client. A malformed entry (not an address; empty) stops the walk and the last trusted
// hop is returned: it is the last address a trusted party vouched for. If every entry is
// trusted, the leftmost is returned. Entries may be "1.2.3.4", "1.2.3.4:5678", "2001:db8::1"
// or "[2001:db8::1]:443", with spaces around them.
//
// The result is the canonical text (IpAddress::toString), so "::ffff:1.2.3.4" and "1.2.3.4"
// give the same rate-limit key. A peer that is not an address is returned unchanged.
std::string clientAddress(std::string_view peerAddress, std::string_view xForwardedFor,
                          const CidrSet& trustedProxies);

}  // namespace portico::proxy::policy
