// API key authentication: a request presents a key (in a header or a query parameter, as
// the spec says; extracting it is the caller's job) and is admitted as the consumer that
// owns the key.
//
// Only SHA-256 digests of the configured keys are kept. A lookup hashes the presented key
// and compares it with CRYPTO_memcmp against every stored digest, without early exit and
// with a branch-free selection of the match, so the time taken depends neither on which
// key matched nor on how many bytes of it were right. Immutable after construction, so
// one instance is safely shared by all worker threads.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/route_spec.h"

namespace portico::proxy::policy {

class ApiKeyAuthenticator {
 public:
  // Keys that are empty are ignored (an empty presented key is always rejected). When two
  // consumers share a key, the first one in the spec wins.
  explicit ApiKeyAuthenticator(const ApiKeyAuthSpec& spec);

  // The consumer owning `presentedKey`, or nothing (also for an empty key). Any thread.
  [[nodiscard]] std::optional<std::string> authenticate(std::string_view presentedKey) const;

  const std::string& header() const { return header_; }  // empty when the key is in the query
  const std::string& query() const { return query_; }    // empty when the key is in a header
  const std::string& consumerHeader() const { return consumerHeader_; }
  std::size_t keyCount() const { return entries_.size(); }

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Entry {
    Digest digest;
    std::string consumer;
  };
  std::vector<Entry> entries_;
  std::string header_;
  std::string query_;
  std::string consumerHeader_;
};

}  // namespace portico::proxy::policy
