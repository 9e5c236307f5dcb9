#include "proxy/policy/redis_rate_limiter.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <vector>

#include "proxy/policy/redis_gcra.h"

namespace portico::proxy::policy {

namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t steadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch()).count();
}

timeval toTimeval(std::chrono::nanoseconds d) {
  // At least 1 ms: a zero timeout means "block forever" to the socket options.
  int64_t us = std::max<int64_t>(1000, std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(us / 1'000'000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1'000'000);
  return tv;
}

// Blocks SIGPIPE on this thread for the guard's lifetime and swallows one that the guarded
// writes raised, so a write to a socket Redis closed returns EPIPE instead of killing us.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    pendingBefore_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (!pendingBefore_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{};
        while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool pendingBefore_ = false;
};

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

ReplyPtr command(redisContext* ctx, const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  return ReplyPtr(static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lengths.data())));
}

}  // namespace

struct RedisRateLimiter::Connection {
  redisContext* ctx = nullptr;
  std::string sha;     // of the loaded script
  bool fresh = false;  // connected during the current decision
  ~Connection() { drop(); }
  void drop() {
    if (ctx) redisFree(ctx);
    ctx = nullptr;
    sha.clear();
  }
};

const std::string& RedisRateLimiter::script() { return redis_gcra::script(); }

RedisRateLimiter::RedisRateLimiter(RedisRateLimiterOptions options) : options_(std::move(options)) {}

RedisRateLimiter::~RedisRateLimiter() = default;

std::string RedisRateLimiter::redisKey(std::string_view policyId, std::string_view key) {
  return redis_gcra::bucketKey(policyId, key);
}

RedisRateLimiter::Connection& RedisRateLimiter::connectionForThisThread() {
  std::lock_guard<std::mutex> lock(poolMutex_);
  std::unique_ptr<Connection>& c = pool_[std::this_thread::get_id()];
  if (!c) c = std::make_unique<Connection>();
  return *c;
}

RateLimitDecision RedisRateLimiter::unavailable(const RateLimitSpec& spec) const {
  return redis_gcra::unavailableDecision(spec.failOpen, spec.requests);
}

void RedisRateLimiter::markFailure(const std::string& what) {
  int64_t retryAt = steadyNowNs() + std::chrono::nanoseconds(options_.retryInterval).count();
  if (retryAt == 0) retryAt = 1;
  int64_t before = retryAtNs_.exchange(retryAt, std::memory_order_relaxed);
  if (before == 0)
    spdlog::warn("rate limit: Redis {}:{} unavailable ({}); global limits use their failure mode, retry in {} ms",
                 options_.host, options_.port, what, options_.retryInterval.count());
}

void RedisRateLimiter::markSuccess() {
  if (retryAtNs_.load(std::memory_order_relaxed) != 0 && retryAtNs_.exchange(0, std::memory_order_relaxed) != 0)
    spdlog::info("rate limit: Redis {}:{} reachable again", options_.host, options_.port);
}

RateLimitDecision RedisRateLimiter::decide(std::string_view policyId, std::string_view key,
                                           const RateLimitSpec& spec) {
  if (spec.requests == 0) return redis_gcra::zeroRequestsDecision(spec);
  // Backing off: answer at once; after the interval exactly one caller probes.
  int64_t retryAt = retryAtNs_.load(std::memory_order_relaxed);
  if (retryAt != 0) {
    int64_t now = steadyNowNs();
    if (now < retryAt) return unavailable(spec);
    int64_t next = now + std::chrono::nanoseconds(options_.retryInterval).count();
    if (!retryAtNs_.compare_exchange_strong(retryAt, next, std::memory_order_relaxed)) return unavailable(spec);
  }

  const std::string bucket = redis_gcra::bucketKey(policyId, key);
  const redis_gcra::ScriptArguments args = redis_gcra::scriptArguments(spec);
  const std::string& interval = args.emissionIntervalUs;
  const std::string& window = args.windowUs;

  Connection& c = connectionForThisThread();
  SigpipeGuard sigpipe;
  int64_t deadline = steadyNowNs() + std::chrono::nanoseconds(options_.commandTimeout).count();
  std::string failure;

  // Returns false (with `failure` set) when the connection cannot be used.
  auto connect = [&]() -> bool {
    int64_t started = steadyNowNs();
    c.ctx = redisConnectWithTimeout(options_.host.c_str(), options_.port, toTimeval(options_.connectTimeout));
    // The connect budget is separate from the command budget.
    deadline += steadyNowNs() - started;
    if (!c.ctx || c.ctx->err) {
      failure = c.ctx ? std::string("connect: ") + c.ctx->errstr : "connect: out of memory";
      c.drop();
      return false;
    }
    c.fresh = true;
    redisSetTimeout(c.ctx, toTimeval(std::chrono::nanoseconds(deadline - steadyNowNs())));
    if (!options_.password.empty()) {
      ReplyPtr r = command(c.ctx, {"AUTH", options_.password});
      if (!r || r->type == REDIS_REPLY_ERROR) {
        failure = r ? std::string("AUTH: ") + r->str : std::string("AUTH: ") + c.ctx->errstr;
        c.drop();
        return false;
      }
    }
    ReplyPtr r = command(c.ctx, {"SCRIPT", "LOAD", redis_gcra::script()});
    if (!r || r->type != REDIS_REPLY_STRING) {
      failure = r ? std::string("SCRIPT LOAD: ") + (r->str ? r->str : "unexpected reply")
                  : std::string("SCRIPT LOAD: ") + c.ctx->errstr;
      c.drop();
      return false;
    }
    c.sha.assign(r->str, r->len);
    return true;
  };

  ReplyPtr reply;
  for (int attempt = 0; attempt < 2; ++attempt) {
    c.fresh = false;
    if (!c.ctx && !connect()) break;
    int64_t left = deadline - steadyNowNs();
    if (left <= 0) {
      failure = "timed out";
      c.drop();
      break;
    }
    redisSetTimeout(c.ctx, toTimeval(std::chrono::nanoseconds(left)));
    reply = command(c.ctx, {"EVALSHA", c.sha, "1", bucket, interval, window});
    if (reply && reply->type == REDIS_REPLY_ERROR && std::string_view(reply->str, reply->len).substr(0, 8) == "NOSCRIPT")
      reply = command(c.ctx, {"EVAL", redis_gcra::script(), "1", bucket, interval, window});
    if (reply) break;
    // No reply: I/O error, EOF or timeout. The context is unusable either way.
    int err = errno;
    bool closedByServer = c.ctx->err == REDIS_ERR_EOF ||
                          (c.ctx->err == REDIS_ERR_IO && (err == ECONNRESET || err == EPIPE));
    failure = c.ctx->errstr[0] ? c.ctx->errstr : "I/O error";
    if (c.ctx->err == REDIS_ERR_IO && (err == EAGAIN || err == EWOULDBLOCK)) failure = "timed out";
    bool wasFresh = c.fresh;
    c.drop();
    // A pooled connection Redis closed (restart, idle timeout): reconnect once, now.
    if (!closedByServer || wasFresh) break;
  }

  if (!reply) {
    markFailure(failure.empty() ? "no reply" : failure);
    return unavailable(spec);
  }
  RateLimitDecision d;
  std::string error;
  if (!redis_gcra::decisionFromReply(*reply, spec.requests, d, error)) {
    markFailure(error);
    return unavailable(spec);
  }
  markSuccess();
  return d;
}

}  // namespace portico::proxy::policy
