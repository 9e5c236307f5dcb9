#include <doctest/doctest.h>

#include <fcntl.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/pattern_formatter.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "proxy/server/access_log.h"
#include "proxy/server/access_log_format.h"

using namespace portico::proxy;
using Clock = std::chrono::system_clock;

namespace {

// The access log as it was written before the buffered writer (spdlog pattern + nlohmann),
// kept here as the reference the new formatter must match byte for byte.
std::string legacyText(const AccessRecord& r, Clock::time_point now) {
  auto quoted = [](std::string_view v) {
    return nlohmann::json(std::string(v)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  const double ms = std::chrono::duration<double, std::milli>(r.duration).count();
  const std::string message = fmt::format("{} {} {} {} {} {} {:.3f}ms route={} upstream={} id={}", r.clientIp,
                                          r.method, quoted(r.target), quoted(r.host), r.status, r.responseBodyBytes,
                                          ms, r.route.empty() ? "-" : r.route,
                                          r.upstream.empty() ? "-" : r.upstream, quoted(r.requestId));
  spdlog::pattern_formatter formatter("%Y-%m-%dT%H:%M:%S.%e%z %v");
  spdlog::details::log_msg msg(spdlog::source_loc{}, "access", spdlog::level::info, message);
  msg.time = now;
  spdlog::memory_buf_t line;
  formatter.format(msg, line);
  return fmt::to_string(line);
}

std::string legacyJson(const AccessRecord& r, Clock::time_point now) {
  const double ms = std::chrono::duration<double, std::milli>(r.duration).count();
  nlohmann::json line{{"ts", std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()},
                      {"client", r.clientIp}, {"method", r.method}, {"target", r.target},
                      {"host", r.host}, {"status", r.status}, {"bytes", r.responseBodyBytes},
                      {"durationMs", ms}, {"route", r.route}, {"upstream", r.upstream},
                      {"requestId", r.requestId}};
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string text(const AccessRecord& r, Clock::time_point now, LocalTimestamp& cache) {
  std::string out;
  appendTextLine(out, r, now, cache);
  return out;
}

std::string json(const AccessRecord& r, Clock::time_point now) {
  std::string out;
  appendJsonLine(out, r, now);
  return out;
}

Clock::time_point at(std::int64_t epochMs) {
  return Clock::time_point(std::chrono::milliseconds(epochMs));
}

// Sets TZ for one test and restores it after.
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const char* zone) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    setenv("TZ", zone, 1);
    tzset();
  }
  ~ScopedTimeZone() {
    if (old_) setenv("TZ", old_->c_str(), 1);
    else unsetenv("TZ");
    tzset();
  }

 private:
  std::optional<std::string> old_;
};

AccessRecord sample() {
  return AccessRecord{"10.1.2.3", "GET", "/shop/items?id=7", "shop.example.com", "shop/items/list",
                      "10.0.0.9:8080", "req-42", 200, 1234, std::chrono::microseconds(1500)};
}

}  // namespace

TEST_SUITE("access_log") {
  TEST_CASE("the text line matches spdlog's pattern and the old message, in several time zones") {
    for (const char* zone : {"UTC0", "CET-1CEST,M3.5.0,M10.5.0/3", "IST-5:30", "NST3:30NDT,M3.2.0,M11.1.0", "<-01>1"}) {
      ScopedTimeZone tz(zone);
      LocalTimestamp cache;
      // Not within 10 s of the epoch: spdlog's own caches start there (a zero tm, no zone).
      for (std::int64_t ms : {1717400000000LL, 1717400000123LL, 1717400000999LL, 1717400001000LL, 1711846799999LL,
                              1711846800000LL, 4102444800007LL}) {
        CHECK_MESSAGE(text(sample(), at(ms), cache) == legacyText(sample(), at(ms)), zone, " ", ms);
      }
    }
  }

  TEST_CASE("the JSON line matches nlohmann's dump, key order and number formats included") {
    AccessRecord r = sample();
    CHECK(json(r, at(1717400000123)) ==
          R"({"bytes":1234,"client":"10.1.2.3","durationMs":1.5,"host":"shop.example.com","method":"GET",)"
          R"("requestId":"req-42","route":"shop/items/list","status":200,"target":"/shop/items?id=7",)"
          R"("ts":1717400000123,"upstream":"10.0.0.9:8080"})"
          "\n");
    for (auto duration : {std::chrono::nanoseconds(0), std::chrono::nanoseconds(1), std::chrono::nanoseconds(999),
                          std::chrono::nanoseconds(1234567), std::chrono::nanoseconds(100000000000000LL),
                          std::chrono::nanoseconds(123456789012345678LL), std::chrono::nanoseconds(3)}) {
      r.duration = duration;
      CHECK_MESSAGE(json(r, at(5)) == legacyJson(r, at(5)), duration.count());
    }
  }

  TEST_CASE("the text duration rounds like fmt's {:.3f}, half microseconds and huge values included") {
    AccessRecord r = sample();
    LocalTimestamp cache;
    const Clock::time_point now = at(1717400000123);
    for (std::int64_t ns : std::initializer_list<std::int64_t>{0, 1, 499, 500LL, 501LL, 1500LL, 2500LL, 999999LL, 1000500LL, 1234567500LL,
                            999999999999499LL, 999999999999500LL, 1000000000000000LL, 1000000000000500LL,
                            123456789012345678LL, -1LL, -500LL, -1500LL, INT64_MAX, INT64_MIN}) {
      r.duration = std::chrono::nanoseconds(ns);
      CHECK_MESSAGE(text(r, now, cache) == legacyText(r, now), ns);
    }
    std::mt19937_64 random(7);
    for (int i = 0; i < 200000; ++i) {
      // Every magnitude, and a share of exact half microseconds.
      std::int64_t ns = static_cast<std::int64_t>(random() >> (random() % 64));
      if (i % 4 == 0) ns = ns / 1000 * 1000 + 500;
      r.duration = std::chrono::nanoseconds(ns);
      std::string ours = text(r, now, cache), theirs = legacyText(r, now);
      if (ours != theirs) REQUIRE_MESSAGE(ours == theirs, ns);
    }
  }

  TEST_CASE("empty route and upstream, and hostile client fields, print as before") {
    AccessRecord r{"::1", "POST", "/a\"b\\c\r\nFAKE 1.2.3.4 GET", "h\x01\xff\xc3", "", "", "id\xed\xa0\x80\"", 502,
                   0, std::chrono::nanoseconds(987654321)};
    LocalTimestamp cache;
    CHECK(text(r, at(1717400000123), cache) == legacyText(r, at(1717400000123)));
    CHECK(json(r, at(1717400000123)) == legacyJson(r, at(1717400000123)));
    CHECK(text(r, at(1717400000123), cache).find('\n') == text(r, at(1717400000123), cache).size() - 1);
  }

  TEST_CASE("agrees with the old formatter on 20,000 random records") {
    std::mt19937_64 random(11);
    const std::string alphabet = std::string("ab/?=%\"\\ \r\n\t\x01\x7f", 16) + "\x80\xbf\xc2\xc3\xe2\xed\xf0\xf4\xff";
    auto field = [&] {
      std::string s(random() % 12, ' ');
      for (char& c : s) c = alphabet[random() % alphabet.size()];
      return s;
    };
    LocalTimestamp cache;
    std::int64_t ms = 1717400000000;
    for (int i = 0; i < 20000; ++i) {
      const std::string client = field(), method = field(), target = field(), host = field(), route = field(),
                        upstream = field(), id = field();
      const AccessRecord r{client, method, target, host, route, upstream, id, static_cast<unsigned>(random() % 600),
                           random() % 3 ? random() % 100000 : random(),
                           std::chrono::nanoseconds(static_cast<std::int64_t>(random() >> (random() % 64)))};
      ms += static_cast<std::int64_t>(random() % 700);  // crosses seconds, sometimes within one
      REQUIRE(text(r, at(ms), cache) == legacyText(r, at(ms)));
      REQUIRE(json(r, at(ms)) == legacyJson(r, at(ms)));
    }
  }

  TEST_CASE("logAccess lines reach stdout after flushAccessLog") {
    char path[] = "/tmp/portico-access-XXXXXX";
    const int file = mkstemp(path);
    REQUIRE(file >= 0);
    std::fflush(stdout);
    const int savedStdout = dup(STDOUT_FILENO);
    dup2(file, STDOUT_FILENO);
    initAccessLog(true);
    AccessRecord r = sample();
    r.requestId = "flush-me";
    std::thread([&] { logAccess(r, true); }).join();  // a thread that is gone by the flush
    logAccess(r, false);
    flushAccessLog();
    dup2(savedStdout, STDOUT_FILENO);
    close(savedStdout);
    close(file);
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    unlink(path);
    const std::string lines = content.str();
    CHECK(lines.find(R"("requestId":"flush-me")") != std::string::npos);
    CHECK(lines.find(R"(id="flush-me")") != std::string::npos);
    CHECK(std::count(lines.begin(), lines.end(), '\n') == 2);
    CHECK(accessLogDroppedLines() == 0);
  }
}
