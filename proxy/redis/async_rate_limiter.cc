#include "proxy/redis/async_rate_limiter.h"

#include <hiredis/async.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstring>
#include <deque>
#include <optional>
#include <string>

#include "proxy/policy/redis_gcra.h"
#include "proxy/redis/asio_event_adapter.h"
#include "proxy/redis/resolve_once.h"

namespace portico::proxy::redis {

namespace {

namespace asio = boost::asio;
namespace gcra = policy::redis_gcra;
using Clock = std::chrono::steady_clock;
using policy::RateLimitDecision;

// A decision waiting for Redis. `deadline` is Clock::time_point::max() while the
// connection it was written to is still being set up (see AsyncRateLimiter's header).
struct Pending {
  DecisionCallback done;
  std::string bucket;
  gcra::ScriptArguments args;
  uint64_t limit = 0;
  bool failOpen = true;
  bool resent = false;  // already sent again once, after Redis closed a connection
  Clock::time_point deadline = Clock::time_point::max();
};

RateLimitDecision unavailable(const Pending& p) { return gcra::unavailableDecision(p.failOpen, p.limit); }

bool isNoScript(const redisReply& reply) {
  return reply.type == REDIS_REPLY_ERROR && std::string_view(reply.str, reply.len).substr(0, 8) == "NOSCRIPT";
}

std::string replyText(const redisReply& reply) {
  return reply.str ? std::string(reply.str, reply.len) : std::string("unexpected reply");
}

// See "SIGPIPE" in the header.
void ignoreSigpipeIfDefault() {
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && !(current.sa_flags & SA_SIGINFO) &&
      current.sa_handler == SIG_DFL)
    std::signal(SIGPIPE, SIG_IGN);
}

}  // namespace

class AsyncRateLimiter::Impl {
 public:
  Impl(asio::io_context& io, policy::RedisRateLimiterOptions options, size_t maxInFlight)
      : io_(io),
        options_(std::move(options)),
        address_(resolveOnce(options_.host)),
        maxInFlight_(maxInFlight),
        timer_(io),
        alive_(std::make_shared<Impl*>(this)) {
    ignoreSigpipeIfDefault();
  }

  ~Impl() {
    *alive_ = nullptr;  // a timer handler already queued must not come back here
    timer_.cancel();
    dropConnection();
    for (std::deque<Pending>* queue : {&fallback_, &sent_})
      for (Pending& p : *queue) answerLater(std::move(p.done), unavailable(p));
  }

  void decide(std::string_view policyId, std::string_view key, const RateLimitSpec& spec, DecisionCallback done) {
    if (spec.requests == 0) return answerLater(std::move(done), gcra::zeroRequestsDecision(spec));
    const Clock::time_point now = Clock::now();
    const bool refuse = inFlight() >= maxInFlight_ || now < retryAt_ || (link_ == Link::Down && !connect());
    if (refuse) return answerLater(std::move(done), gcra::unavailableDecision(spec.failOpen, spec.requests));

    Pending p{std::move(done), gcra::bucketKey(policyId, key), gcra::scriptArguments(spec), spec.requests,
              spec.failOpen};
    if (link_ == Link::Up) p.deadline = now + options_.commandTimeout;
    if (!send(p, /*eval=*/false)) return answerLater(std::move(p.done), unavailable(p));
    sent_.push_back(std::move(p));
    if (link_ == Link::Up) scheduleCheck(*earliestDeadline());
  }

  bool healthy() const { return healthy_; }
  size_t inFlight() const { return sent_.size() + fallback_.size(); }

 private:
  enum class Link { Down, Connecting, Up };

  // --- connection lifecycle -------------------------------------------------------------

  // Starts a connection with AUTH and SCRIPT LOAD queued; decisions may be pipelined behind
  // them at once (hiredis buffers until the socket is connected). False (failure recorded)
  // when it failed at once.
  bool connect() {
    if (address_.empty()) {
      markFailure("host " + options_.host + " did not resolve");
      return false;
    }
    redisAsyncContext* ac = redisAsyncConnect(address_.c_str(), options_.port);
    if (!ac) {
      markFailure("connect: out of memory");
      return false;
    }
    if (ac->err || !attachToIoContext(ac, io_)) {
      std::string why = std::string("connect: ") + (ac->err ? ac->c.errstr : "cannot watch the socket");
      redisAsyncFree(ac);
      markFailure(why);
      return false;
    }
    ac->data = this;
    ac_ = ac;
    link_ = Link::Connecting;
    servedOnLink_ = false;
    connectDeadline_ = Clock::now() + options_.connectTimeout;
    redisAsyncSetConnectCallback(ac, &Impl::onConnected);  // asks for write readiness
    redisAsyncSetDisconnectCallback(ac, &Impl::onDisconnected);
    if (!options_.password.empty()) command(&Impl::onAuthReply, {"AUTH", options_.password});
    command(&Impl::onScriptLoadReply, {"SCRIPT", "LOAD", gcra::script()});
    scheduleCheck(connectDeadline_);
    return true;
  }

  // Forgets the connection that hiredis is about to free itself.
  void forgetConnection() {
    ac_ = nullptr;
    link_ = Link::Down;
  }

  // Closes the connection ourselves. Its pending hiredis callbacks run with a NULL reply
  // (now, or right after the current callback when called from one) and find no owner.
  void dropConnection() {
    redisAsyncContext* ac = ac_;
    if (!ac) return;
    forgetConnection();
    ac->data = nullptr;
    redisAsyncFree(ac);
  }

  void failConnection(const std::string& why) {
    dropConnection();
    failAll(why);
  }

  // Answers every pending decision with its failure mode and backs off.
  void failAll(const std::string& why) {
    markFailure(why);
    std::deque<Pending> fallback, sent;
    fallback.swap(fallback_);
    sent.swap(sent_);
    for (std::deque<Pending>* queue : {&fallback, &sent})
      for (Pending& p : *queue) answerLater(std::move(p.done), unavailable(p));
  }

  // Redis closed a connection that had served decisions: reconnect now and send what was
  // in flight once more. Without anything in flight the next decision reconnects.
  void reconnectAndResend(const std::string& why) {
    spdlog::info("rate limit: Redis {}:{} closed the connection ({}); reconnecting", options_.host, options_.port,
                 why);
    if (inFlight() == 0) return;
    std::deque<Pending> lost;
    lost.swap(fallback_);  // the older ones first
    for (Pending& p : sent_) lost.push_back(std::move(p));
    sent_.clear();
    const bool connected = connect();
    for (Pending& p : lost) {
      if (!connected || p.resent) {
        answerLater(std::move(p.done), unavailable(p));
        continue;
      }
      p.resent = true;
      p.deadline = Clock::time_point::max();
      if (send(p, /*eval=*/false)) {
        sent_.push_back(std::move(p));
      } else {
        answerLater(std::move(p.done), unavailable(p));
      }
    }
  }

  // --- commands and replies ------------------------------------------------------------

  void command(redisCallbackFn* onReply, std::initializer_list<std::string_view> args) {
    const char* argv[4];
    size_t lengths[4];
    int argc = 0;
    for (std::string_view a : args) {
      argv[argc] = a.data();
      lengths[argc++] = a.size();
    }
    redisAsyncCommandArgv(ac_, onReply, nullptr, argc, argv, lengths);
  }

  bool send(const Pending& p, bool eval) {
    const std::string& script = eval ? gcra::script() : gcra::scriptSha1();
    const char* argv[] = {eval ? "EVAL" : "EVALSHA", script.data(), "1", p.bucket.data(),
                          p.args.emissionIntervalUs.data(), p.args.windowUs.data()};
    const size_t lengths[] = {eval ? 4u : 7u, script.size(), 1, p.bucket.size(), p.args.emissionIntervalUs.size(),
                              p.args.windowUs.size()};
    return redisAsyncCommandArgv(ac_, eval ? &Impl::onEvalReply : &Impl::onEvalShaReply, nullptr, 6, argv,
                                 lengths) == REDIS_OK;
  }

  // The limiter of a live connection; nullptr for a connection it dropped or forgot.
  static Impl* ownerOf(const redisAsyncContext* ac) {
    auto* self = static_cast<Impl*>(ac->data);
    return self && self->ac_ == ac ? self : nullptr;
  }

  static void onConnected(const redisAsyncContext* ac, int status) {
    Impl* self = ownerOf(ac);
    if (!self) return;
    if (status != REDIS_OK) {
      std::string why = std::string("connect: ") + ac->c.errstr;
      self->forgetConnection();  // hiredis frees it after this callback
      self->failAll(why);
      return;
    }
    self->link_ = Link::Up;
    const Clock::time_point deadline = Clock::now() + self->options_.commandTimeout;
    for (Pending& p : self->sent_)
      if (p.deadline == Clock::time_point::max()) p.deadline = deadline;
    if (auto earliest = self->earliestDeadline()) self->scheduleCheck(*earliest);
  }

  // Runs after hiredis gave every pending command a NULL reply (ignored below).
  static void onDisconnected(const redisAsyncContext* ac, int /*status*/) {
    Impl* self = ownerOf(ac);
    if (!self) return;
    std::string why = ac->c.errstr[0] ? ac->c.errstr : "connection closed";
    const bool served = self->servedOnLink_;
    self->forgetConnection();  // hiredis frees it after this callback
    if (served) {
      self->reconnectAndResend(why);
    } else {
      self->failAll(why);
    }
  }

  static void onAuthReply(redisAsyncContext* ac, void* r, void* /*privdata*/) {
    Impl* self = ownerOf(ac);
    auto* reply = static_cast<redisReply*>(r);
    if (self && reply && reply->type == REDIS_REPLY_ERROR) self->failConnection("AUTH: " + replyText(*reply));
  }

  static void onScriptLoadReply(redisAsyncContext* ac, void* r, void* /*privdata*/) {
    Impl* self = ownerOf(ac);
    auto* reply = static_cast<redisReply*>(r);
    if (!self || !reply) return;
    if (reply->type != REDIS_REPLY_STRING) {
      self->failConnection("SCRIPT LOAD: " + replyText(*reply));
    } else if (std::string_view(reply->str, reply->len) != gcra::scriptSha1()) {
      // Cannot happen with a real Redis; EVALSHA would then fall back to EVAL every time.
      spdlog::warn("rate limit: Redis SCRIPT LOAD answered {}, expected {}", replyText(*reply), gcra::scriptSha1());
    }
  }

  static void onEvalShaReply(redisAsyncContext* ac, void* r, void* /*privdata*/) {
    Impl* self = ownerOf(ac);
    auto* reply = static_cast<redisReply*>(r);
    // A NULL reply: the connection is going away; onConnected/onDisconnected or the code
    // that dropped it takes care of the pending decisions.
    if (!self || !reply || self->sent_.empty()) return;
    Pending p = std::move(self->sent_.front());
    self->sent_.pop_front();
    if (isNoScript(*reply)) {
      // Behind everything already in the pipeline; it keeps its deadline (fallback_ stays
      // sorted by deadline, and every deadline in it is earlier than those in sent_).
      if (self->send(p, /*eval=*/true)) {
        self->fallback_.push_back(std::move(p));
      } else {
        self->answerLater(std::move(p.done), unavailable(p));
      }
      return;
    }
    self->finish(p, *reply);
  }

  static void onEvalReply(redisAsyncContext* ac, void* r, void* /*privdata*/) {
    Impl* self = ownerOf(ac);
    auto* reply = static_cast<redisReply*>(r);
    if (!self || !reply || self->fallback_.empty()) return;
    Pending p = std::move(self->fallback_.front());
    self->fallback_.pop_front();
    self->finish(p, *reply);
  }

  void finish(Pending& p, const redisReply& reply) {
    RateLimitDecision decision;
    std::string error;
    if (gcra::decisionFromReply(reply, p.limit, decision, error)) {
      servedOnLink_ = true;
      markSuccess();
      answerLater(std::move(p.done), decision);
    } else {
      markFailure(error);
      answerLater(std::move(p.done), unavailable(p));
    }
  }

  // --- deadlines ---------------------------------------------------------------------

  std::optional<Clock::time_point> earliestDeadline() const {
    std::optional<Clock::time_point> earliest;
    if (!fallback_.empty()) earliest = fallback_.front().deadline;
    if (!sent_.empty() && (!earliest || sent_.front().deadline < *earliest)) earliest = sent_.front().deadline;
    return earliest;
  }

  // One timer for the limiter: armed for the earliest deadline, never moved later; when it
  // fires it looks at the deadlines as they are then and re-arms.
  void scheduleCheck(Clock::time_point when) {
    if (timerArmed_ && timerExpiry_ <= when) return;
    timerArmed_ = true;
    timerExpiry_ = when;
    timer_.expires_at(when);  // a wait armed for later completes with operation_aborted
    timer_.async_wait([alive = alive_](const boost::system::error_code& ec) {
      if (!ec && *alive) (*alive)->checkDeadlines();
    });
  }

  void checkDeadlines() {
    timerArmed_ = false;
    const Clock::time_point now = Clock::now();
    if (link_ == Link::Connecting && now >= connectDeadline_) {
      failConnection("connect timed out");
    } else if (link_ == Link::Up) {
      if (auto earliest = earliestDeadline(); earliest && *earliest <= now) failConnection("timed out");
    }
    if (link_ == Link::Connecting) {
      scheduleCheck(connectDeadline_);
    } else if (auto earliest = earliestDeadline()) {
      scheduleCheck(*earliest);
    }
  }

  // --- health ------------------------------------------------------------------------

  void markFailure(const std::string& what) {
    retryAt_ = Clock::now() + options_.retryInterval;
    if (!healthy_) return;
    healthy_ = false;
    spdlog::warn("rate limit: Redis {}:{} unavailable ({}); global limits use their failure mode, retry in {} ms",
                 options_.host, options_.port, what, options_.retryInterval.count());
  }

  void markSuccess() {
    retryAt_ = {};
    if (healthy_) return;
    healthy_ = true;
    spdlog::info("rate limit: Redis {}:{} reachable again", options_.host, options_.port);
  }

  void answerLater(DecisionCallback done, RateLimitDecision decision) {
    asio::post(io_, [done = std::move(done), decision]() mutable { done(decision); });
  }

  asio::io_context& io_;
  const policy::RedisRateLimiterOptions options_;
  const std::string address_;  // numeric; empty when the host did not resolve
  const size_t maxInFlight_;

  redisAsyncContext* ac_ = nullptr;
  Link link_ = Link::Down;
  bool servedOnLink_ = false;  // the connection answered a decision (see reconnectAndResend)
  Clock::time_point connectDeadline_{};

  std::deque<Pending> sent_;      // EVALSHA written, in reply order
  std::deque<Pending> fallback_;  // EVAL written after NOSCRIPT, in reply order

  asio::steady_timer timer_;
  bool timerArmed_ = false;
  Clock::time_point timerExpiry_{};
  std::shared_ptr<Impl*> alive_;  // null once destroyed, for timer handlers already queued

  Clock::time_point retryAt_{};  // backing off before this time
  bool healthy_ = true;
};

AsyncRateLimiter::AsyncRateLimiter(asio::io_context& io, policy::RedisRateLimiterOptions options,
                                   size_t maxInFlight)
    : impl_(std::make_unique<Impl>(io, std::move(options), maxInFlight)) {}

AsyncRateLimiter::~AsyncRateLimiter() = default;

void AsyncRateLimiter::decide(std::string_view policyId, std::string_view key, const RateLimitSpec& spec,
                              Callback done) {
  impl_->decide(policyId, key, spec, std::move(done));
}

bool AsyncRateLimiter::healthy() const { return impl_->healthy(); }

size_t AsyncRateLimiter::inFlight() const { return impl_->inFlight(); }

}  // namespace portico::proxy::redis
