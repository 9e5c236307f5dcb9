#include "proxy/policy/rate_limiter.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/policy/sha256.h"

namespace portico::proxy::policy {

// ---- decision rendering ----------------------------------------------------------------

uint64_t ceilSeconds(std::chrono::nanoseconds duration) {
  int64_t ns = duration.count();
  if (ns <= 0) return 0;
  constexpr int64_t kSecond = 1'000'000'000;
  return static_cast<uint64_t>(ns / kSecond + (ns % kSecond != 0 ? 1 : 0));
}

RateLimitHeaders renderRateLimitHeaders(const RateLimitDecision& decision) {
  RateLimitHeaders h;
  if (decision.unavailable) return h;
  h.limit = std::to_string(decision.limit);
  h.remaining = std::to_string(decision.remaining);
  h.reset = std::to_string(ceilSeconds(decision.resetAfter));
  if (!decision.allowed) h.retryAfter = std::to_string(std::max<uint64_t>(1, ceilSeconds(decision.retryAfter)));
  return h;
}

std::vector<std::pair<std::string_view, std::string>> RateLimitHeaders::list() const {
  std::vector<std::pair<std::string_view, std::string>> out;
  if (!limit.empty()) out.emplace_back("RateLimit-Limit", limit);
  if (!remaining.empty()) out.emplace_back("RateLimit-Remaining", remaining);
  if (!reset.empty()) out.emplace_back("RateLimit-Reset", reset);
  if (!retryAfter.empty()) out.emplace_back("Retry-After", retryAfter);
  return out;
}

// ---- GCRA parameters -------------------------------------------------------------------

GcraParameters gcraParameters(const RateLimitSpec& spec, int64_t unitsPerMillisecond, int64_t maxWindow) {
  int64_t periodMs = std::max<int64_t>(spec.period.count(), 1);
  periodMs = std::min<int64_t>(periodMs, maxWindow / unitsPerMillisecond);
  const int64_t period = std::max<int64_t>(periodMs * unitsPerMillisecond, 1);
  const uint64_t requests = std::max<uint64_t>(spec.requests, 1);
  GcraParameters p{};
  p.emissionInterval = std::max<int64_t>(1, static_cast<int64_t>(static_cast<uint64_t>(period) / requests));
  p.capacity = spec.requests > std::numeric_limits<uint64_t>::max() - spec.burst
                   ? std::numeric_limits<uint64_t>::max()
                   : spec.requests + spec.burst;
  unsigned __int128 window = static_cast<unsigned __int128>(p.capacity) * static_cast<uint64_t>(p.emissionInterval);
  p.window = window > static_cast<unsigned __int128>(maxWindow) ? maxWindow : static_cast<int64_t>(window);
  if (p.window < p.emissionInterval) p.window = p.emissionInterval;
  return p;
}

// ---- the sharded map -------------------------------------------------------------------

namespace {

// State horizon: a bucket never reaches further than ~36 years ahead.
constexpr int64_t kMaxWindowNs = int64_t{1} << 60;
constexpr size_t kMaxRawKeyBytes = 128;

uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

// SipHash-1-3 with a per-process random key: keys are attacker-chosen, so the hash must not
// let anyone build colliding keys that turn a shard's buckets into one long chain.
uint64_t sipHash(uint64_t k0, uint64_t k1, std::string_view data) {
  uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
  uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
  uint64_t v3 = k1 ^ 0x7465646279746573ULL;
  auto round = [&] {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  };
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  size_t full = n & ~size_t{7};
  for (size_t i = 0; i < full; i += 8) {
    uint64_t m = 0;
    for (int j = 7; j >= 0; --j) m = (m << 8) | p[i + j];
    v3 ^= m;
    round();
    v0 ^= m;
  }
  uint64_t last = static_cast<uint64_t>(n) << 56;
  for (size_t j = 0; j < (n & 7); ++j) last |= static_cast<uint64_t>(p[full + j]) << (8 * j);
  v3 ^= last;
  round();
  v0 ^= last;
  v2 ^= 0xff;
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

struct KeyView {
  std::string_view policy;
  std::string_view key;
  bool digested;
  size_t hash;
};

struct StoredKey {
  std::string bytes;  // policy followed by key
  uint32_t policyLength;
  bool digested;
  size_t hash;
  std::string_view policy() const { return std::string_view(bytes).substr(0, policyLength); }
  std::string_view key() const { return std::string_view(bytes).substr(policyLength); }
};

struct KeyHash {
  using is_transparent = void;
  size_t operator()(const StoredKey& k) const { return k.hash; }
  size_t operator()(const KeyView& k) const { return k.hash; }
};

struct KeyEqual {
  using is_transparent = void;
  static bool same(std::string_view p1, std::string_view k1, bool d1, std::string_view p2, std::string_view k2,
                   bool d2) {
    return d1 == d2 && p1 == p2 && k1 == k2;
  }
  bool operator()(const StoredKey& a, const StoredKey& b) const {
    return a.hash == b.hash && same(a.policy(), a.key(), a.digested, b.policy(), b.key(), b.digested);
  }
  bool operator()(const KeyView& a, const StoredKey& b) const {
    return a.hash == b.hash && same(a.policy, a.key, a.digested, b.policy(), b.key(), b.digested);
  }
  bool operator()(const StoredKey& a, const KeyView& b) const { return (*this)(b, a); }
};

struct Bucket {
  int64_t tat;               // theoretical arrival time, ns on the steady clock
  int64_t emissionInterval;  // T and C*T of the spec that wrote tat, to rescale on a change
  int64_t window;
};

}  // namespace

struct alignas(64) LocalRateLimiter::Shard {
  std::mutex mutex;
  std::unordered_map<StoredKey, Bucket, KeyHash, KeyEqual> buckets;

  // Drops buckets that are full again; then, if still at `limit`, the 1/16 closest to full.
  void makeRoom(int64_t now, size_t limit) {
    std::erase_if(buckets, [now](const auto& kv) { return kv.second.tat <= now; });
    if (buckets.size() < limit) return;
    size_t drop = std::max<size_t>(1, limit / 16);
    std::vector<int64_t> tats;
    tats.reserve(buckets.size());
    for (const auto& kv : buckets) tats.push_back(kv.second.tat);
    std::nth_element(tats.begin(), tats.begin() + static_cast<std::ptrdiff_t>(drop - 1), tats.end());
    int64_t threshold = tats[drop - 1];
    for (auto it = buckets.begin(); it != buckets.end() && drop > 0;) {
      if (it->second.tat <= threshold) {
        it = buckets.erase(it);
        --drop;
      } else {
        ++it;
      }
    }
  }
};

LocalRateLimiter::LocalRateLimiter() : LocalRateLimiter(LocalRateLimiterOptions{}) {}

LocalRateLimiter::LocalRateLimiter(const LocalRateLimiterOptions& options) {
  maxKeys_ = std::max<size_t>(options.maxKeys, 1);
  size_t wanted = std::clamp<size_t>(options.shards, 1, maxKeys_);
  shardCount_ = 1;
  while (shardCount_ * 2 <= wanted && shardCount_ < (size_t{1} << 16)) shardCount_ *= 2;
  if (shardCount_ < wanted && shardCount_ * 2 <= maxKeys_) shardCount_ *= 2;
  perShardLimit_ = std::max<size_t>(1, maxKeys_ / shardCount_);
  shards_ = std::make_unique<Shard[]>(shardCount_);
  std::random_device random;
  hashKey0_ = (uint64_t{random()} << 32) ^ random();
  hashKey1_ = (uint64_t{random()} << 32) ^ random();
}

LocalRateLimiter::~LocalRateLimiter() = default;

size_t LocalRateLimiter::maxKeys() const { return maxKeys_; }

RateLimitDecision LocalRateLimiter::decide(std::string_view policyId, std::string_view key, const RateLimitSpec& spec,
                                           Clock::time_point now) {
  RateLimitDecision d;
  d.limit = spec.requests;
  if (spec.requests == 0) {
    d.allowed = false;
    d.retryAfter = std::chrono::milliseconds(std::max<int64_t>(spec.period.count(), 1));
    return d;
  }
  const GcraParameters p = gcraParameters(spec, 1'000'000, kMaxWindowNs);
  const int64_t nowNs = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();

  // Long keys are replaced by their digest (32 raw bytes, marked as such).
  Sha256Digest digest{};
  bool digested = false;
  if (key.size() > kMaxRawKeyBytes) {
    digest = sha256(key);
    key = std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size());
    digested = true;
  }
  const uint64_t policyHash = sipHash(hashKey0_, hashKey1_, policyId);
  const uint64_t hash = sipHash(hashKey0_ ^ policyHash, hashKey1_ + digested, key);
  KeyView view{policyId, key, digested, static_cast<size_t>(hash)};
  Shard& shard = shards_[(hash >> 40) & (shardCount_ - 1)];

  std::lock_guard<std::mutex> lock(shard.mutex);
  auto it = shard.buckets.find(view);
  int64_t tat = nowNs;
  if (it != shard.buckets.end()) {
    const Bucket& b = it->second;
    tat = b.tat;
    if (tat > nowNs && (b.emissionInterval != p.emissionInterval || b.window != p.window)) {
      // The spec changed: keep the used fraction of the bucket.
      auto used = static_cast<__int128>(tat - nowNs) * p.window / std::max<int64_t>(b.window, 1);
      tat = nowNs + static_cast<int64_t>(std::min<__int128>(used, p.window));
    }
  }
  tat = std::max(tat, nowNs);
  const int64_t newTat = tat + p.emissionInterval;
  if (newTat - nowNs > p.window) {
    d.allowed = false;
    d.remaining = 0;
    d.resetAfter = std::chrono::nanoseconds(tat - nowNs);
    d.retryAfter = std::chrono::nanoseconds(tat - (p.window - p.emissionInterval) - nowNs);
    if (it != shard.buckets.end()) it->second = Bucket{tat, p.emissionInterval, p.window};
    return d;
  }
  d.allowed = true;
  d.remaining = static_cast<uint64_t>((p.window - (newTat - nowNs)) / p.emissionInterval);
  d.resetAfter = std::chrono::nanoseconds(newTat - nowNs);
  if (it != shard.buckets.end()) {
    it->second = Bucket{newTat, p.emissionInterval, p.window};
    return d;
  }
  if (shard.buckets.size() >= perShardLimit_) shard.makeRoom(nowNs, perShardLimit_);
  StoredKey stored;
  stored.bytes.reserve(policyId.size() + key.size());
  stored.bytes.append(policyId).append(key);
  stored.policyLength = static_cast<uint32_t>(policyId.size());
  stored.digested = digested;
  stored.hash = view.hash;
  shard.buckets.emplace(std::move(stored), Bucket{newTat, p.emissionInterval, p.window});
  return d;
}

size_t LocalRateLimiter::sweep(Clock::time_point now) {
  const int64_t nowNs = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  size_t removed = 0;
  for (size_t i = 0; i < shardCount_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mutex);
    removed += std::erase_if(shards_[i].buckets, [nowNs](const auto& kv) { return kv.second.tat <= nowNs; });
  }
  return removed;
}

size_t LocalRateLimiter::size() const {
  size_t total = 0;
  for (size_t i = 0; i < shardCount_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mutex);
    total += shards_[i].buckets.size();
  }
  return total;
}

}  // namespace portico::proxy::policy
