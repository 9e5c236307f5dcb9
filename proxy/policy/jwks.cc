#include "proxy/policy/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "proxy/common/base64.h"
#include "proxy/policy/sha256.h"

namespace portico::proxy::policy {

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<std::uint64_t> nextGeneration{1};

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

// A key skipped from the set: the reason.
struct Skip {
  std::string reason;
};

// Optional string member; Skip when present with another type.
std::optional<std::string> optionalString(const nlohmann::json& key, const char* name, std::string* error) {
  const auto it = key.find(name);
  if (it == key.end()) return std::string();
  if (!it->is_string()) {
    *error = std::string("\"") + name + "\" is not a string";
    return std::nullopt;
  }
  return it->get<std::string>();
}

std::optional<std::string> requiredBytes(const nlohmann::json& key, const char* name, std::string* error) {
  const auto it = key.find(name);
  if (it == key.end() || !it->is_string()) {
    *error = std::string("missing or non-string \"") + name + "\"";
    return std::nullopt;
  }
  auto bytes = base64UrlDecode(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty()) {
    *error = std::string("\"") + name + "\" is not non-empty base64url";
    return std::nullopt;
  }
  return bytes;
}

// Public-key sanity checks (EC: the point is on the curve; RSA: n and e plausible).
bool publicCheck(EVP_PKEY* pkey) {
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  return ctx && EVP_PKEY_public_check(ctx.get()) == 1;
}

std::shared_ptr<EVP_PKEY> fromData(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 || raw == nullptr) return nullptr;
  std::shared_ptr<EVP_PKEY> pkey(raw, PkeyFree{});
  if (!publicCheck(pkey.get())) return nullptr;
  return pkey;
}

std::shared_ptr<EVP_PKEY> rsaKey(const std::string& n, const std::string& e, std::string* error) {
  BnPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr));
  BnPtr be(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
  if (!bn || !be) {
    *error = "out of memory";
    return nullptr;
  }
  const int bits = BN_num_bits(bn.get());
  if (bits < 2048 || bits > 16384) {
    *error = "RSA modulus of " + std::to_string(bits) + " bits (2048..16384 accepted)";
    return nullptr;
  }
  if (BN_num_bits(be.get()) > 64 || !BN_is_odd(be.get()) || BN_is_one(be.get())) {
    *error = "implausible RSA exponent";
    return nullptr;
  }
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, be.get()) != 1) {
    *error = "out of memory";
    return nullptr;
  }
  auto pkey = fromData("RSA", bld.get());
  if (!pkey) *error = "RSA key rejected by OpenSSL";
  return pkey;
}

std::shared_ptr<EVP_PKEY> ecKey(const std::string& crv, const std::string& x, const std::string& y,
                                std::string* error) {
  const std::size_t size = crv == "P-256" ? 32 : 48;
  if (x.size() != size || y.size() != size) {
    *error = "EC coordinates must be " + std::to_string(size) + " bytes for " + crv;
    return nullptr;
  }
  std::string point;
  point.reserve(1 + 2 * size);
  point.push_back('\x04');  // uncompressed
  point += x;
  point += y;
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  const char* group = crv == "P-256" ? "prime256v1" : "secp384r1";
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    *error = "out of memory";
    return nullptr;
  }
  auto pkey = fromData("EC", bld.get());
  if (!pkey) *error = "EC point is not on the curve " + crv;
  return pkey;
}

bool algFitsKeyType(std::string_view alg, const Jwk& key) {
  switch (key.kty) {
    case JwkType::Rsa:
      return alg == "RS256" || alg == "RS384" || alg == "RS512" || alg == "PS256";
    case JwkType::Ec:
      return (alg == "ES256" && key.crv == "P-256") || (alg == "ES384" && key.crv == "P-384");
    case JwkType::Oct:
      return alg == "HS256";
  }
  return false;
}

// One key, or the reason it is skipped.
std::optional<Jwk> parseKey(const nlohmann::json& j, std::string* error) {
  if (!j.is_object()) {
    *error = "not an object";
    return std::nullopt;
  }
  Jwk key;
  auto kid = optionalString(j, "kid", error);
  auto alg = kid ? optionalString(j, "alg", error) : std::nullopt;
  auto use = alg ? optionalString(j, "use", error) : std::nullopt;
  if (!use) return std::nullopt;
  key.kid = std::move(*kid);
  key.alg = std::move(*alg);
  key.use = std::move(*use);
  if (!key.use.empty() && key.use != "sig") {
    *error = "use \"" + key.use + "\" is not \"sig\"";
    return std::nullopt;
  }
  if (const auto ops = j.find("key_ops"); ops != j.end()) {
    if (!ops->is_array() || std::none_of(ops->begin(), ops->end(), [](const nlohmann::json& op) {
          return op.is_string() && op.get_ref<const std::string&>() == "verify";
        })) {
      *error = "key_ops does not allow \"verify\"";
      return std::nullopt;
    }
  }
  const auto kty = j.find("kty");
  if (kty == j.end() || !kty->is_string()) {
    *error = "missing or non-string \"kty\"";
    return std::nullopt;
  }
  const auto& type = kty->get_ref<const std::string&>();
  if (type == "RSA") {
    key.kty = JwkType::Rsa;
    auto n = requiredBytes(j, "n", error);
    auto e = n ? requiredBytes(j, "e", error) : std::nullopt;
    if (!e) return std::nullopt;
    key.publicKey = rsaKey(*n, *e, error);
    if (!key.publicKey) return std::nullopt;
  } else if (type == "EC") {
    key.kty = JwkType::Ec;
    auto crv = optionalString(j, "crv", error);
    if (!crv) return std::nullopt;
    if (*crv != "P-256" && *crv != "P-384") {
      *error = "unsupported EC curve \"" + *crv + "\"";
      return std::nullopt;
    }
    key.crv = std::move(*crv);
    auto x = requiredBytes(j, "x", error);
    auto y = x ? requiredBytes(j, "y", error) : std::nullopt;
    if (!y) return std::nullopt;
    key.publicKey = ecKey(key.crv, *x, *y, error);
    if (!key.publicKey) return std::nullopt;
  } else if (type == "oct") {
    key.kty = JwkType::Oct;
    auto k = requiredBytes(j, "k", error);
    if (!k) return std::nullopt;
    if (k->size() < 32) {
      *error = "HMAC key shorter than 32 bytes";
      OPENSSL_cleanse(k->data(), k->size());
      return std::nullopt;
    }
    key.secret = std::move(*k);
  } else {
    *error = "unsupported kty \"" + type + "\"";
    return std::nullopt;
  }
  if (!key.alg.empty() && !algFitsKeyType(key.alg, key)) {
    *error = "alg \"" + key.alg + "\" is unsupported or does not fit the key";
    return std::nullopt;
  }
  return key;
}

std::string describe(std::size_t index, const nlohmann::json& j) {
  std::string s = "keys[" + std::to_string(index) + "]";
  if (j.is_object()) {
    const auto kid = j.find("kid");
    if (kid != j.end() && kid->is_string()) s += " (kid " + nlohmann::json(kid->get<std::string>()).dump() + ")";
  }
  return s;
}

}  // namespace

bool keyFitsAlg(const Jwk& key, std::string_view alg) {
  return algFitsKeyType(alg, key) && (key.alg.empty() || key.alg == alg);
}

std::optional<std::string> base64UrlDecode(std::string_view in) { return decodeBase64(in, Base64Alphabet::Url); }

Expected<KeySet> parseJwks(std::string_view json) {
  if (json.size() > kMaxJwksBytes) return makeError("JWKS: larger than " + std::to_string(kMaxJwksBytes) + " bytes");
  const auto doc = nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return makeError("JWKS: not valid JSON");
  if (!doc.is_object()) return makeError("JWKS: not a JSON object");
  const auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) return makeError("JWKS: missing \"keys\" array");
  KeySet set;
  for (std::size_t i = 0; i < keys->size(); ++i) {
    const auto& j = (*keys)[i];
    if (i >= kMaxJwksKeys) {
      set.skipped.push_back(describe(i, j) + ": more than " + std::to_string(kMaxJwksKeys) + " keys");
      continue;
    }
    std::string error;
    auto key = parseKey(j, &error);
    if (key)
      set.keys.push_back(std::move(*key));
    else
      set.skipped.push_back(describe(i, j) + ": " + error);
  }
  set.generation = nextGeneration.fetch_add(1);
  return set;
}

// ---- JwksCache -------------------------------------------------------------------------

struct JwksCache::Entry {
  std::string url;
  std::optional<UpstreamTlsSpec> tls;
  // Guarded by `keysMutex`: the last good set.
  mutable std::mutex keysMutex;
  std::shared_ptr<const KeySet> keys;
  // Guarded by Shared::mutex.
  std::chrono::milliseconds interval{0};
  Clock::time_point nextFetch{};
  std::optional<Clock::time_point> lastFetch;  // start of the last attempt
  bool requested = false;
  bool fetching = false;
  std::vector<std::function<void()>> waiters;  // refreshThen callbacks for the next fetch's end
  std::string lastBody;  // of the last good set: an unchanged document keeps its generation

  std::shared_ptr<const KeySet> current() const {
    std::lock_guard lock(keysMutex);
    return keys;
  }
};

struct JwksCache::Shared {
  JwksFetcher fetcher;
  JwksCacheOptions options;
  mutable std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;
  std::map<std::string, std::shared_ptr<Entry>> entries;

  // Caller holds `mutex`. Whether a fetch of `e` is now requested or under way.
  bool requestRefresh(Entry& e) {
    if (stop) return false;
    if (e.requested || e.fetching) return true;
    if (e.lastFetch && Clock::now() - *e.lastFetch < options.minRefreshInterval) return false;
    e.requested = true;
    wake.notify_one();
    return true;
  }
};

std::shared_ptr<const KeySet> JwksCache::Handle::current() const { return entry_ ? entry_->current() : nullptr; }

void JwksCache::Handle::onUnknownKid() const {
  if (!shared_ || !entry_) return;
  std::lock_guard lock(shared_->mutex);
  shared_->requestRefresh(*entry_);
}

bool JwksCache::Handle::refreshThen(std::function<void()> done) const {
  if (!shared_ || !entry_) return false;
  std::lock_guard lock(shared_->mutex);
  if (!shared_->requestRefresh(*entry_)) return false;
  entry_->waiters.push_back(std::move(done));
  return true;
}

const std::string& JwksCache::Handle::url() const {
  static const std::string none;
  return entry_ ? entry_->url : none;
}

JwksCache::JwksCache(JwksFetcher fetcher, JwksCacheOptions options) : shared_(std::make_shared<Shared>()) {
  shared_->fetcher = std::move(fetcher);
  shared_->options = options;
  thread_ = std::thread([shared = shared_] { run(shared); });
}

JwksCache::~JwksCache() { stop(); }

void JwksCache::stop() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stop = true;
  }
  shared_->wake.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(shared_->mutex);
  for (auto& [url, entry] : shared_->entries) entry->waiters.clear();
}

namespace {
// A registration's key besides its URL: a digest of every TLS setting (raw bytes; a map
// key, never shown).
std::string tlsSettingsKey(const UpstreamTlsSpec& tls) {
  std::string names;
  for (const std::string& san : tls.subjectAltNames) names += san + "\n";
  const Sha256Digest digest = sha256({tls.serverName, "\n", names, "\n", tls.caPem, "\n", tls.clientCertificatePem,
                                      "\n", tls.clientKeyPem, tls.insecureSkipVerify ? "\ninsecure" : "\nverify"});
  return std::string(digest.begin(), digest.end());
}
}  // namespace

JwksCache::Handle JwksCache::registerUrl(const std::string& url, std::chrono::milliseconds refreshInterval,
                                         const std::optional<UpstreamTlsSpec>& tls) {
  refreshInterval = std::max(refreshInterval, shared_->options.minRefreshInterval);
  refreshInterval = std::max(refreshInterval, std::chrono::milliseconds(1));
  Handle h;
  h.shared_ = shared_;
  std::lock_guard lock(shared_->mutex);
  auto& entry = shared_->entries[tls ? url + "\n" + tlsSettingsKey(*tls) : url];
  if (!entry) {
    entry = std::make_shared<Entry>();
    entry->url = url;
    entry->tls = tls;
    entry->interval = refreshInterval;
    entry->nextFetch = Clock::now();
    shared_->wake.notify_one();
  } else if (refreshInterval < entry->interval) {
    entry->interval = refreshInterval;
    entry->nextFetch = std::min(entry->nextFetch, Clock::now() + refreshInterval);
    shared_->wake.notify_one();
  }
  h.entry_ = entry;
  return h;
}

std::shared_ptr<const KeySet> JwksCache::current(const std::string& url) const {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lock(shared_->mutex);
    const auto it = shared_->entries.find(url);
    if (it == shared_->entries.end()) return nullptr;
    entry = it->second;
  }
  return entry->current();
}

void JwksCache::onUnknownKid(const std::string& url) {
  std::lock_guard lock(shared_->mutex);
  const auto it = shared_->entries.find(url);
  if (it != shared_->entries.end()) shared_->requestRefresh(*it->second);
}

std::size_t JwksCache::registeredUrls() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->entries.size();
}

void JwksCache::run(const std::shared_ptr<Shared>& shared) {
  std::unique_lock lock(shared->mutex);
  while (!shared->stop) {
    const auto now = Clock::now();
    std::shared_ptr<Entry> due;
    std::optional<Clock::time_point> wakeAt;
    for (auto it = shared->entries.begin(); it != shared->entries.end();) {
      // Only the map holds it: no Handle refers to this URL any more.
      if (it->second.use_count() == 1) {
        spdlog::info("JWKS {}: no longer used, dropped", it->first);
        it = shared->entries.erase(it);
        continue;
      }
      Entry& e = *it->second;
      if (!due && (e.requested || now >= e.nextFetch)) due = it->second;
      if (!wakeAt || e.nextFetch < *wakeAt) wakeAt = e.nextFetch;
      ++it;
    }
    if (!due) {
      if (wakeAt)
        shared->wake.wait_until(lock, *wakeAt);
      else
        shared->wake.wait(lock);
      continue;
    }

    due->requested = false;
    due->fetching = true;
    due->lastFetch = now;
    due->nextFetch = now + due->interval;  // provisional: no busy loop while fetching
    const std::string url = due->url;
    const std::optional<UpstreamTlsSpec> tls = due->tls;
    const std::string lastBody = due->lastBody;
    lock.unlock();

    Expected<std::string> body = makeError("no fetcher");
    std::string failure;
    bool changed = false;
    try {  // neither a throwing fetcher nor bad_alloc may end the refresh thread
      if (shared->fetcher) body = shared->fetcher(url, tls ? &*tls : nullptr, shared->options.fetchTimeout);
      if (!body) {
        failure = body.error().message;
      } else if (*body != lastBody || !due->current()) {
        auto set = parseJwks(*body);
        if (!set) {
          failure = set.error().message;
        } else {
          for (const auto& reason : set->skipped) spdlog::warn("JWKS {}: key skipped: {}", url, reason);
          if (set->keys.empty()) {
            failure = "no usable key in the set";
          } else {
            auto keys = std::make_shared<const KeySet>(std::move(set).value());
            std::lock_guard keysLock(due->keysMutex);
            due->keys = std::move(keys);
            changed = true;
          }
        }
      }
    } catch (const std::exception& ex) {
      failure = std::string("fetch threw: ") + ex.what();
    }
    if (!failure.empty())
      spdlog::warn("JWKS {}: refresh failed, keeping the last key set: {}", url, failure);
    else if (changed)
      spdlog::info("JWKS {}: key set updated", url);

    lock.lock();
    if (!failure.empty()) {
      due->nextFetch = Clock::now() + std::min(due->interval, shared->options.retryInterval);
    } else {
      if (changed) due->lastBody = std::move(*body);
      due->nextFetch = Clock::now() + due->interval;
    }
    due->fetching = false;
    auto waiters = std::move(due->waiters);
    due->waiters.clear();
    if (waiters.empty()) continue;
    lock.unlock();  // the callbacks may ask again (a kid still unknown): not under the lock
    for (auto& done : waiters) {
      try {
        done();
      } catch (const std::exception& ex) {
        spdlog::error("JWKS {}: a refresh callback threw: {}", url, ex.what());
      }
    }
    lock.lock();
  }
}

}  // namespace portico::proxy::policy
