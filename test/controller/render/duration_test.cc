#include <doctest/doctest.h>

#include "controller/render/duration.h"

using namespace std::chrono_literals;
using portico::controller::parseDuration;

TEST_SUITE("render") {

TEST_CASE("durations parse Go syntax: units, sums, fractions and signs") {
  CHECK(*parseDuration("2s") == 2s);
  CHECK(*parseDuration("500ms") == 500ms);
  CHECK(*parseDuration("1m") == 1min);
  CHECK(*parseDuration("1h30m") == 90min);
  CHECK(*parseDuration("1.5h") == 90min);
  CHECK(*parseDuration(".5s") == 500ms);
  CHECK(*parseDuration("1s500ms") == 1500ms);
  CHECK(*parseDuration("250us") == 250us);
  CHECK(*parseDuration("250\xC2\xB5s") == 250us);
  CHECK(*parseDuration("7ns") == 7ns);
  CHECK(*parseDuration("0") == 0ns);
  CHECK(*parseDuration("-1.5s") == -1500ms);
  CHECK(*parseDuration("+3s") == 3s);
  CHECK(*parseDuration("2562047h") == 2562047h);
}

TEST_CASE("durations without a unit, with an unknown unit or out of range are rejected") {
  for (const char* bad : {"", "s", "10", "1d", "1.s.", "-", "ms", "1 s", "2562048h", "1e3s", "0x10s"}) {
    CAPTURE(bad);
    CHECK_FALSE(parseDuration(bad).has_value());
  }
  auto unknown = parseDuration("1d");
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().message == "unknown unit \"d\" in duration \"1d\"");
  CHECK(parseDuration("10").error().message == "missing unit in duration \"10\"");
}

}  // TEST_SUITE
