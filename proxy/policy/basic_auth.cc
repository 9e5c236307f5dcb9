#include "proxy/policy/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "proxy/common/base64.h"
#include "proxy/policy/sha256.h"

namespace portico::proxy::policy {

namespace {

constexpr unsigned kMinBcryptCost = 4;
constexpr unsigned kMaxBcryptCost = 14;
constexpr unsigned long kMaxShaCryptRounds = 1'000'000;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool isCryptChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '/';
}
bool allCryptChars(std::string_view s) {
  for (char c : s)
    if (!isCryptChar(c)) return false;
  return true;
}

// Empty when `hash` is a supported, well-formed hash; otherwise the reason.
std::string checkHash(std::string_view hash) {
  if (hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
    // $2b$CC$ + 22 salt + 31 hash characters.
    if (hash.size() != 60 || hash[6] != '$' || hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9')
      return "malformed bcrypt hash";
    const unsigned cost = static_cast<unsigned>((hash[4] - '0') * 10 + (hash[5] - '0'));
    if (cost < kMinBcryptCost || cost > kMaxBcryptCost)
      return "bcrypt cost " + std::to_string(cost) + " outside " + std::to_string(kMinBcryptCost) + ".." +
             std::to_string(kMaxBcryptCost);
    if (!allCryptChars(hash.substr(7))) return "malformed bcrypt hash";
    return {};
  }
  if (hash.starts_with("$5$") || hash.starts_with("$6$")) {
    const bool sha512 = hash[1] == '6';
    std::string_view rest = hash.substr(3);
    if (rest.starts_with("rounds=")) {
      rest.remove_prefix(7);
      const auto end = rest.find('$');
      if (end == std::string_view::npos || end == 0 || end > 10) return "malformed SHA-crypt rounds";
      unsigned long rounds = 0;
      for (char c : rest.substr(0, end)) {
        if (c < '0' || c > '9') return "malformed SHA-crypt rounds";
        rounds = rounds * 10 + static_cast<unsigned long>(c - '0');
      }
      if (rounds > kMaxShaCryptRounds)
        return "SHA-crypt rounds above " + std::to_string(kMaxShaCryptRounds);
      rest.remove_prefix(end + 1);
    }
    const auto dollar = rest.find('$');
    if (dollar == std::string_view::npos || dollar == 0 || dollar > 16) return "malformed SHA-crypt salt";
    for (char c : rest.substr(0, dollar))
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == ':') return "malformed SHA-crypt salt";
    const std::string_view digest = rest.substr(dollar + 1);
    if (digest.size() != (sha512 ? 86u : 43u) || !allCryptChars(digest)) return "malformed SHA-crypt hash";
    return {};
  }
  return "unsupported hash scheme (supported: bcrypt $2a$/$2b$/$2y$, SHA-crypt $5$/$6$)";
}

// One libcrypt verification; true when `password` hashes to `stored`.
bool cryptVerify(const std::string& password, const std::string& stored) {
  auto data = std::make_unique<crypt_data>();  // zeroed, as crypt_rn requires
  const char* out = crypt_rn(password.c_str(), stored.c_str(), data.get(), sizeof(crypt_data));
  bool ok = false;
  if (out != nullptr && out[0] != '*') {
    const std::size_t len = std::strlen(out);
    ok = len == stored.size() && CRYPTO_memcmp(out, stored.data(), len) == 0;
  }
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return ok;
}

}  // namespace

std::optional<BasicCredentials> parseBasicAuthorization(std::string_view value) {
  if (value.size() > kMaxAuthorizationLength) return std::nullopt;
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.size() < 7 || !iequals(value.substr(0, 5), "basic") || value[5] != ' ') return std::nullopt;
  value.remove_prefix(5);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  auto decoded = value.empty() ? std::nullopt : decodeBase64(value, Base64Alphabet::Standard);
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  BasicCredentials c;
  c.user = decoded->substr(0, colon);
  c.password = decoded->substr(colon + 1);
  OPENSSL_cleanse(decoded->data(), decoded->size());
  for (char ch : c.user)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) return std::nullopt;
  if (c.password.find('\0') != std::string::npos) return std::nullopt;  // crypt would truncate at it
  return c;
}

struct BasicAuthenticator::Impl {
  std::unordered_map<std::string, std::string> users;  // user -> stored hash
  std::string decoyHash;  // verified for unknown users; the result is never used
  std::array<unsigned char, 32> pepper{};  // per instance: cache keys are useless elsewhere

  std::size_t capacity = 0;
  mutable std::mutex mutex;  // guards `verified` and `order`
  mutable std::unordered_set<std::string> verified;
  mutable std::deque<std::string> order;  // insertion order, for eviction
  mutable std::atomic<std::size_t> hits{0};
  mutable std::atomic<std::size_t> verifications{0};

  std::string cacheKey(const BasicCredentials& c, const std::string& stored) const {
    const std::uint64_t userLen = c.user.size(), passLen = c.password.size();
    auto bytesOf = [](const std::uint64_t& n) { return std::string_view(reinterpret_cast<const char*>(&n), sizeof n); };
    const Sha256Digest out = sha256({std::string_view(reinterpret_cast<const char*>(pepper.data()), pepper.size()),
                                     bytesOf(userLen), c.user, bytesOf(passLen), c.password, stored});
    return std::string(reinterpret_cast<const char*>(out.data()), out.size());
  }

  bool cached(const std::string& key) const {
    std::lock_guard lock(mutex);
    return verified.count(key) != 0;
  }

  void remember(std::string key) const {
    std::lock_guard lock(mutex);
    if (capacity == 0 || !verified.insert(key).second) return;
    order.push_back(std::move(key));
    while (order.size() > capacity) {
      verified.erase(order.front());
      order.pop_front();
    }
  }
};

Expected<BasicAuthenticator> BasicAuthenticator::create(const BasicAuthSpec& spec, std::size_t cacheCapacity) {
  auto impl = std::make_unique<Impl>();
  impl->capacity = cacheCapacity;
  std::string_view text = spec.htpasswd;
  std::size_t lineNo = 0;
  while (!text.empty()) {
    ++lineNo;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    std::string_view trimmed = line;
    while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t')) trimmed.remove_prefix(1);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    const std::string where = "htpasswd line " + std::to_string(lineNo) + ": ";
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return makeError(where + "expected user:hash");
    const std::string_view user = line.substr(0, colon);
    const std::string_view hash = line.substr(colon + 1);
    if (user.empty()) return makeError(where + "empty user name");
    for (char c : user)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return makeError(where + "control character in user name");
    if (auto reason = checkHash(hash); !reason.empty())
      return makeError(where + reason + " for user '" + std::string(user) + "'");
    if (!impl->users.emplace(std::string(user), std::string(hash)).second)
      return makeError(where + "duplicate user '" + std::string(user) + "'");
    if (impl->decoyHash.empty()) impl->decoyHash = std::string(hash);
  }
  if (impl->users.empty()) return makeError("htpasswd: no user entries");
  if (RAND_bytes(impl->pepper.data(), static_cast<int>(impl->pepper.size())) != 1)
    return makeError("htpasswd: no randomness for the verification cache");
  return BasicAuthenticator(std::move(impl), spec);
}

BasicAuthenticator::BasicAuthenticator(std::unique_ptr<Impl> impl, const BasicAuthSpec& spec)
    : impl_(std::move(impl)), realm_(spec.realm), userHeader_(spec.userHeader) {
  std::string escaped;
  for (char c : realm_) {
    if (c == '"' || c == '\\') escaped.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) continue;  // never a header injection
    escaped.push_back(c);
  }
  challenge_ = "Basic realm=\"" + escaped + "\", charset=\"UTF-8\"";
}

BasicAuthenticator::BasicAuthenticator(BasicAuthenticator&&) noexcept = default;
BasicAuthenticator& BasicAuthenticator::operator=(BasicAuthenticator&&) noexcept = default;
BasicAuthenticator::~BasicAuthenticator() = default;

std::size_t BasicAuthenticator::userCount() const { return impl_->users.size(); }
std::size_t BasicAuthenticator::cacheHits() const { return impl_->hits.load(); }
std::size_t BasicAuthenticator::hashVerifications() const { return impl_->verifications.load(); }

std::optional<std::string> BasicAuthenticator::authenticate(std::string_view authorizationHeader) const {
  auto credentials = parseBasicAuthorization(authorizationHeader);
  if (!credentials) return std::nullopt;
  auto result = authenticate(*credentials);
  OPENSSL_cleanse(credentials->password.data(), credentials->password.size());
  return result;
}

std::optional<std::string> BasicAuthenticator::authenticate(const BasicCredentials& credentials) const {
  const auto it = impl_->users.find(credentials.user);
  if (it == impl_->users.end()) {
    // Same cost as a real check, so a missing user cannot be told from a wrong password.
    ++impl_->verifications;
    (void)cryptVerify(credentials.password, impl_->decoyHash);
    return std::nullopt;
  }
  std::string key = impl_->cacheKey(credentials, it->second);
  if (impl_->cached(key)) {
    ++impl_->hits;
    return it->first;
  }
  ++impl_->verifications;
  if (!cryptVerify(credentials.password, it->second)) return std::nullopt;
  impl_->remember(std::move(key));
  return it->first;
}

}  // namespace portico::proxy::policy
