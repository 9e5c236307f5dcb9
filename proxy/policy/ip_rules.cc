#include "proxy/policy/ip_rules.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>

namespace portico::proxy::policy {

namespace {

// Untrusted text in an error message: at most 64 bytes, non-printable bytes as \xNN.
std::string quoted(std::string_view text) {
  constexpr size_t kMax = 64;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMax) out += "...";
  out += '"';
  return out;
}

uint64_t load64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void store64(unsigned char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<unsigned char>(v);
    v >>= 8;
  }
}

bool isMapped(uint64_t high, uint64_t low) { return high == 0 && (low >> 32) == 0xffffULL; }

// Masks with the top `bits` bits set, without shifting by the type's width.
uint32_t mask32(unsigned bits) { return bits == 0 ? 0 : ~uint32_t{0} << (32 - bits); }
uint64_t mask64(unsigned bits) { return bits == 0 ? 0 : ~uint64_t{0} << (64 - bits); }
uint64_t maskHigh(unsigned bits) { return mask64(bits > 64 ? 64 : bits); }
uint64_t maskLow(unsigned bits) { return mask64(bits > 64 ? bits - 64 : 0); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One X-Forwarded-For entry: an address, optionally with a port ("1.2.3.4:80",
// "[::1]:80") or in brackets ("[::1]").
Expected<IpAddress> parseForwardedEntry(std::string_view entry) {
  entry = trim(entry);
  if (!entry.empty() && entry.front() == '[') {
    size_t close = entry.find(']');
    if (close == std::string_view::npos) return makeError("unterminated '['");
    std::string_view rest = entry.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) return makeError("bad port");
      for (char c : rest.substr(1))
        if (c < '0' || c > '9') return makeError("bad port");
    }
    Expected<IpAddress> a = IpAddress::parse(entry.substr(1, close - 1));
    if (a && a->isV4()) return makeError("IPv4 in brackets");
    return a;
  }
  size_t colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
    // Exactly one colon: IPv4 with a port.
    std::string_view port = entry.substr(colon + 1);
    if (port.empty() || port.size() > 5) return makeError("bad port");
    for (char c : port)
      if (c < '0' || c > '9') return makeError("bad port");
    Expected<IpAddress> a = IpAddress::parse(entry.substr(0, colon));
    if (a && !a->isV4()) return makeError("IPv6 with a port needs brackets");
    return a;
  }
  return IpAddress::parse(entry);
}

}  // namespace

// ---- IpAddress -----------------------------------------------------------------------

Expected<IpAddress> IpAddress::parse(std::string_view text) {
  // INET6_ADDRSTRLEN (46) covers the longest valid literal, "ffff:...:255.255.255.255".
  std::array<char, INET6_ADDRSTRLEN + 1> buffer{};
  if (text.empty()) return makeError("empty address");
  if (text.size() >= buffer.size() || text.find('\0') != std::string_view::npos)
    return makeError("invalid IP address " + quoted(text));
  std::memcpy(buffer.data(), text.data(), text.size());
  if (text.find(':') == std::string_view::npos) {
    in_addr a4{};
    if (inet_pton(AF_INET, buffer.data(), &a4) != 1)
      return makeError("invalid IP address " + quoted(text));
    const auto* b = reinterpret_cast<const unsigned char*>(&a4);
    return v4((uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3]);
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, buffer.data(), &a6) != 1)
    return makeError("invalid IP address " + quoted(text));
  const auto* b = reinterpret_cast<const unsigned char*>(&a6);
  uint64_t high = load64(b);
  uint64_t low = load64(b + 8);
  if (isMapped(high, low)) return v4(static_cast<uint32_t>(low));
  return v6(high, low);
}

IpAddress IpAddress::v4(uint32_t address) {
  IpAddress a;
  a.family_ = Family::V4;
  a.low_ = address;
  return a;
}

IpAddress IpAddress::v6(uint64_t high, uint64_t low) {
  IpAddress a;
  a.family_ = Family::V6;
  a.high_ = high;
  a.low_ = low;
  return a;
}

std::string IpAddress::toString() const {
  std::array<char, INET6_ADDRSTRLEN> out{};
  if (isV4()) {
    uint32_t v = v4Bits();
    unsigned char b[4] = {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
                          static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
    inet_ntop(AF_INET, b, out.data(), out.size());
  } else {
    unsigned char b[16];
    store64(b, high_);
    store64(b + 8, low_);
    inet_ntop(AF_INET6, b, out.data(), out.size());
  }
  return out.data();
}

// ---- Cidr ----------------------------------------------------------------------------

Cidr::Cidr(const IpAddress& address, unsigned prefixLength) : network_(address), prefixLength_(prefixLength) {
  if (address.isV4()) {
    if (prefixLength_ > 32) prefixLength_ = 32;
    network_ = IpAddress::v4(address.v4Bits() & mask32(prefixLength_));
  } else {
    if (prefixLength_ > 128) prefixLength_ = 128;
    network_ = IpAddress::v6(address.high() & maskHigh(prefixLength_), address.low() & maskLow(prefixLength_));
  }
}

bool Cidr::contains(const IpAddress& address) const {
  if (address.family() != network_.family()) return false;
  if (address.isV4()) return (address.v4Bits() & mask32(prefixLength_)) == network_.v4Bits();
  return (address.high() & maskHigh(prefixLength_)) == network_.high() &&
         (address.low() & maskLow(prefixLength_)) == network_.low();
}

std::string Cidr::toString() const { return network_.toString() + "/" + std::to_string(prefixLength_); }

Expected<Cidr> parseCidr(std::string_view text) {
  const std::string prefix = "invalid CIDR " + quoted(text) + ": ";
  size_t slash = text.find('/');
  std::string_view addressText = text.substr(0, slash);
  // Parse the address without the mapping so that "::ffff:10.0.0.0/104" can be converted
  // with its IPv6 prefix length.
  std::array<char, INET6_ADDRSTRLEN + 1> buffer{};
  if (addressText.empty()) return makeError(prefix + "missing address");
  if (addressText.size() >= buffer.size() || addressText.find('\0') != std::string_view::npos)
    return makeError(prefix + "not an IPv4 or IPv6 address");
  std::memcpy(buffer.data(), addressText.data(), addressText.size());
  bool isV6 = addressText.find(':') != std::string_view::npos;
  uint64_t high = 0, low = 0;
  if (isV6) {
    in6_addr a6{};
    if (inet_pton(AF_INET6, buffer.data(), &a6) != 1) return makeError(prefix + "not an IPv4 or IPv6 address");
    const auto* b = reinterpret_cast<const unsigned char*>(&a6);
    high = load64(b);
    low = load64(b + 8);
  } else {
    in_addr a4{};
    if (inet_pton(AF_INET, buffer.data(), &a4) != 1) return makeError(prefix + "not an IPv4 or IPv6 address");
    const auto* b = reinterpret_cast<const unsigned char*>(&a4);
    low = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }
  const unsigned maxBits = isV6 ? 128 : 32;
  unsigned bits = maxBits;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty()) return makeError(prefix + "missing prefix length after '/'");
    if (digits.size() > 3) return makeError(prefix + "prefix length out of range");
    bits = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return makeError(prefix + "prefix length is not a number");
      bits = bits * 10 + static_cast<unsigned>(c - '0');
    }
    if (bits > maxBits)
      return makeError(prefix + "prefix length " + std::to_string(bits) + " exceeds " + std::to_string(maxBits) +
                       (isV6 ? " for IPv6" : " for IPv4"));
  }
  if (!isV6) return Cidr(IpAddress::v4(static_cast<uint32_t>(low)), bits);
  if (isMapped(high, low) && bits >= 96) return Cidr(IpAddress::v4(static_cast<uint32_t>(low)), bits - 96);
  return Cidr(IpAddress::v6(high, low), bits);
}

// ---- CidrSet -------------------------------------------------------------------------

Expected<CidrSet> CidrSet::parse(const std::vector<std::string>& cidrs) {
  CidrSet set;
  for (size_t i = 0; i < cidrs.size(); ++i) {
    Expected<Cidr> c = parseCidr(cidrs[i]);
    if (!c) return makeError("[" + std::to_string(i) + "]: " + c.error().message);
    set.add(*c);
  }
  return set;
}

void CidrSet::add(const Cidr& cidr) {
  const IpAddress& n = cidr.network();
  unsigned bits = cidr.prefixLength();
  if (n.isV4())
    v4_.push_back(V4Range{n.v4Bits(), mask32(bits)});
  else
    v6_.push_back(V6Range{n.high(), n.low(), maskHigh(bits), maskLow(bits)});
}

bool CidrSet::contains(const IpAddress& address) const {
  if (address.isV4()) {
    uint32_t a = address.v4Bits();
    for (const V4Range& r : v4_)
      if ((a & r.mask) == r.network) return true;
    return false;
  }
  for (const V6Range& r : v6_)
    if ((address.high() & r.maskHigh) == r.networkHigh && (address.low() & r.maskLow) == r.networkLow) return true;
  return false;
}

bool CidrSet::contains(std::string_view address) const {
  Expected<IpAddress> a = IpAddress::parse(address);
  return a && contains(*a);
}

// ---- IpRules -------------------------------------------------------------------------

Expected<IpRules> IpRules::create(const IpRulesSpec& spec) {
  IpRules rules;
  Expected<CidrSet> allow = CidrSet::parse(spec.allow);
  if (!allow) return makeError("ipRules.allow" + allow.error().message);
  Expected<CidrSet> deny = CidrSet::parse(spec.deny);
  if (!deny) return makeError("ipRules.deny" + deny.error().message);
  rules.allow_ = std::move(*allow);
  rules.deny_ = std::move(*deny);
  return rules;
}

bool IpRules::allows(const IpAddress& client) const {
  if (deny_.contains(client)) return false;
  return allow_.empty() || allow_.contains(client);
}

bool IpRules::allows(std::string_view client) const {
  if (empty()) return true;
  Expected<IpAddress> a = IpAddress::parse(client);
  return a && allows(*a);
}

// ---- clientAddress -------------------------------------------------------------------

std::string clientAddress(std::string_view peerAddress, std::string_view xForwardedFor,
                          const CidrSet& trustedProxies) {
  Expected<IpAddress> peer = IpAddress::parse(trim(peerAddress));
  if (!peer) return std::string(peerAddress);
  if (!trustedProxies.contains(*peer)) return peer->toString();
  IpAddress lastTrusted = *peer;
  std::string_view rest = xForwardedFor;
  if (trim(rest).empty()) return lastTrusted.toString();
  while (true) {
    size_t comma = rest.rfind(',');
    std::string_view entry = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    Expected<IpAddress> hop = parseForwardedEntry(entry);
    if (!hop) return lastTrusted.toString();
    if (!trustedProxies.contains(*hop)) return hop->toString();
    lastTrusted = *hop;
    if (comma == std::string_view::npos) return lastTrusted.toString();
    rest = rest.substr(0, comma);
  }
}

}  // namespace portico::proxy::policy
