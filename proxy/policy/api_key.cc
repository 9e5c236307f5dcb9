#include "proxy/policy/api_key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdexcept>

#include "proxy/policy/sha256.h"

namespace portico::proxy::policy {

namespace {

// All ones when `condition` is 1, zero when it is 0, without a branch.
inline std::size_t maskOf(std::size_t condition) { return ~(condition - 1); }

}  // namespace

ApiKeyAuthenticator::ApiKeyAuthenticator(const ApiKeyAuthSpec& spec)
    : header_(spec.header), query_(spec.query), consumerHeader_(spec.consumerHeader) {
  entries_.reserve(spec.keys.size());
  for (const auto& [consumer, key] : spec.keys) {
    if (key.empty()) continue;
    entries_.push_back(Entry{sha256(key), consumer});
  }
}

std::optional<std::string> ApiKeyAuthenticator::authenticate(std::string_view presentedKey) const {
  if (presentedKey.empty() || entries_.empty()) return std::nullopt;
  const auto digest = sha256(presentedKey);
  // Every entry is compared; the index of the first match is picked with masks so that
  // neither the loop nor the selection branches on secret-dependent data.
  std::size_t found = 0;    // 1 once a match is seen
  std::size_t index = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const std::size_t equal = static_cast<std::size_t>(
        CRYPTO_memcmp(digest.data(), entries_[i].digest.data(), digest.size()) == 0);
    const std::size_t take = maskOf(equal & (found ^ 1));
    index = (index & ~take) | (i & take);
    found |= equal;
  }
  if (!found) return std::nullopt;
  return entries_[index].consumer;
}

}  // namespace portico::proxy::policy
