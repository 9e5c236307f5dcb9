#include "proxy/policy/redis_gcra.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

#include "proxy/policy/rate_limiter.h"
#include "proxy/policy/sha256.h"

namespace portico::proxy::policy::redis_gcra {

namespace {

constexpr size_t kMaxRawKeyBytes = 128;
// Microseconds; keeps every value in the script an integer below 2^53 (exact in Lua).
constexpr int64_t kMaxWindowUs = int64_t{1} << 50;

std::string hex(const unsigned char* bytes, size_t length) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (size_t i = 0; i < length; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

// KEYS[1]: the bucket. ARGV[1]: T in µs. ARGV[2]: C*T in µs.
// Returns {allowed 0/1, remaining, resetAfter µs, retryAfter µs}.
const std::string kScript = R"lua(
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  local t, w = string.match(stored, '^(%d+) (%d+)$')
  t = tonumber(t)
  w = tonumber(w)
  if t and w and t > now then
    if w ~= window and w > 0 then
      tat = now + math.min(window, math.floor((t - now) / w * window))
    else
      tat = t
    end
  end
end
local newTat = tat + interval
if newTat - now > window then
  return {0, 0, tat - now, tat - (window - interval) - now}
end
redis.call('SET', KEYS[1], string.format('%.0f %.0f', newTat, window),
           'PX', string.format('%.0f', math.ceil((newTat - now) / 1000)))
return {1, math.floor((window - (newTat - now)) / interval), newTat - now, 0}
)lua";

std::string computeScriptSha1() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(kScript.data(), kScript.size(), digest, &length, EVP_sha1(), nullptr) != 1)
    throw std::runtime_error("OpenSSL has no SHA-1");
  return hex(digest, length);
}

}  // namespace

const std::string& script() { return kScript; }

const std::string& scriptSha1() {
  static const std::string sha = computeScriptSha1();
  return sha;
}

std::string bucketKey(std::string_view policyId, std::string_view key) {
  std::string out = "portico:rl:";
  for (char c : policyId) {
    if (c == ':' || c == '#' || c == '%') {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[static_cast<unsigned char>(c) >> 4];
      out += kHex[static_cast<unsigned char>(c) & 15];
    } else {
      out += c;
    }
  }
  if (key.size() > kMaxRawKeyBytes) {
    const Sha256Digest digest = sha256(key);
    out += '#';
    out += hex(digest.data(), digest.size());
  } else {
    out += ':';
    out += key;
  }
  return out;
}

ScriptArguments scriptArguments(const RateLimitSpec& spec) {
  const GcraParameters p = gcraParameters(spec, 1'000, kMaxWindowUs);
  return {std::to_string(p.emissionInterval), std::to_string(p.window)};
}

RateLimitDecision zeroRequestsDecision(const RateLimitSpec& spec) {
  RateLimitDecision d;
  d.allowed = false;
  d.retryAfter = std::chrono::milliseconds(std::max<int64_t>(spec.period.count(), 1));
  return d;
}

RateLimitDecision unavailableDecision(bool failOpen, uint64_t limit) {
  RateLimitDecision d;
  d.allowed = failOpen;
  d.unavailable = true;
  d.limit = limit;
  return d;
}

bool decisionFromReply(const redisReply& reply, uint64_t limit, RateLimitDecision& out, std::string& error) {
  if (reply.type == REDIS_REPLY_ERROR) {
    error.assign(reply.str, reply.len);
    return false;
  }
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 4) {
    error = "unexpected script reply";
    return false;
  }
  long long values[4];
  for (size_t i = 0; i < 4; ++i) {
    if (reply.element[i]->type != REDIS_REPLY_INTEGER) {
      error = "unexpected script reply";
      return false;
    }
    values[i] = reply.element[i]->integer;
  }
  out = RateLimitDecision{};
  out.allowed = values[0] == 1;
  out.limit = limit;
  out.remaining = static_cast<uint64_t>(std::max<long long>(0, values[1]));
  out.resetAfter = std::chrono::microseconds(std::max<long long>(0, values[2]));
  out.retryAfter = out.allowed ? std::chrono::nanoseconds(0)
                               : std::chrono::nanoseconds(std::chrono::microseconds(std::max<long long>(0, values[3])));
  return true;
}

}  // namespace portico::proxy::policy::redis_gcra
