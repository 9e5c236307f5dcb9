#include <doctest/doctest.h>

#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "controller/objects/object_map.h"

using namespace portico::controller;
using nlohmann::json;

namespace {
using Reference = std::map<std::string, ObjectPtr>;

ObjectPtr object(int v) { return std::make_shared<const json>(json{{"v", v}}); }

std::string key(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "ns/obj-%05d", i);
  return buf;
}

void checkSame(const ObjectMap& map, const Reference& reference) {
  REQUIRE(map.size() == reference.size());
  CHECK(map.empty() == reference.empty());
  auto r = reference.begin();
  for (const auto& [k, v] : map) {
    REQUIRE(r != reference.end());
    CHECK(k == r->first);
    CHECK(v == r->second);
    ++r;
  }
  CHECK(r == reference.end());
  for (const auto& [k, v] : reference) {
    auto it = map.find(k);
    REQUIRE(it != map.end());
    CHECK(it->second == v);
  }
}

using Change = std::tuple<std::string, ObjectPtr, ObjectPtr>;

std::vector<Change> naiveDiff(const Reference& a, const Reference& b) {
  std::vector<Change> out;
  std::map<std::string, std::pair<ObjectPtr, ObjectPtr>> all;
  for (const auto& [k, v] : a) all[k].first = v;
  for (const auto& [k, v] : b) all[k].second = v;
  for (const auto& [k, v] : all) {
    if (v.first != v.second) out.emplace_back(k, v.first, v.second);
  }
  return out;
}

std::vector<Change> diff(const ObjectMap& a, const ObjectMap& b) {
  std::vector<Change> out;
  ObjectMap::forEachChange(a, b, [&](const std::string& k, const ObjectPtr& before, const ObjectPtr& after) {
    out.emplace_back(k, before, after);
  });
  return out;
}
}  // namespace

TEST_SUITE("informer") {
  TEST_CASE("object map: random inserts, replacements and erasures match a std::map, copies stay as they were") {
    std::mt19937 rng(7);
    ObjectMap map;
    Reference reference;
    std::vector<std::pair<ObjectMap, Reference>> copies;
    for (int step = 0; step < 20000; ++step) {
      const int i = static_cast<int>(rng() % 3000);
      if (rng() % 4 == 0) {
        auto expected = reference.count(key(i)) ? reference[key(i)] : nullptr;
        CHECK(map.erase(key(i)) == expected);
        reference.erase(key(i));
      } else {
        auto value = object(step);
        map[key(i)] = value;
        reference[key(i)] = value;
      }
      if (step % 2500 == 0) copies.emplace_back(map, reference);
    }
    checkSame(map, reference);
    CHECK(map.find("ns/none") == map.end());
    CHECK(map.count("ns/none") == 0);
    // Every copy still holds what the map held when it was taken: a change copies the
    // chunk it touches instead of writing into one a copy shares.
    for (const auto& [copy, expected] : copies) checkSame(copy, expected);
  }

  TEST_CASE("object map: chunks stay bounded and erasing thins them without leaving empty ones") {
    ObjectMap map;
    for (int i = 0; i < 10000; ++i) map[key(i)] = object(i);
    CHECK(map.chunkCount() >= 10000 / ObjectMap::kMaxChunk);
    CHECK(map.chunkCount() <= 2 * 10000 / ObjectMap::kMaxChunk + 1);
    for (int i = 0; i < 10000; ++i) {
      if (i % 50 != 0) map.erase(key(i));
    }
    CHECK(map.size() == 200);
    // 200 entries left in what were ~250 chunks: merging keeps the list short.
    CHECK(map.chunkCount() < 60);
    for (int i = 0; i < 10000; i += 50) CHECK(map.find(key(i)) != map.end());
    for (int i = 0; i < 10000; i += 50) map.erase(key(i));
    CHECK(map.empty());
    CHECK(map.chunkCount() == 0);
    CHECK(map.begin() == map.end());
    map[key(1)] = object(1);
    CHECK(map.size() == 1);
  }

  TEST_CASE("object map: a copy changed in one key shares every other chunk") {
    ObjectMap map;
    for (int i = 0; i < 10000; ++i) map[key(i)] = object(i);
    ObjectMap copy = map;
    CHECK(copy.chunksSharedWith(map) == map.chunkCount());
    copy[key(5000)] = object(-1);
    CHECK(copy.chunksSharedWith(map) == map.chunkCount() - 1);
    CHECK(map.find(key(5000))->second->at("v") == 5000);
    CHECK(copy.find(key(5000))->second->at("v") == -1);
  }

  TEST_CASE("object map: forEachChange reports exactly what differs, in key order") {
    std::mt19937 rng(11);
    ObjectMap a;
    Reference ra;
    for (int i = 0; i < 5000; i += 2) {
      auto v = object(i);
      a[key(i)] = v;
      ra[key(i)] = v;
    }
    for (int round = 0; round < 30; ++round) {
      ObjectMap b = a;
      Reference rb = ra;
      const int edits = static_cast<int>(rng() % 200);
      for (int e = 0; e < edits; ++e) {
        const int i = static_cast<int>(rng() % 5200);
        switch (rng() % 3) {
          case 0: b.erase(key(i)); rb.erase(key(i)); break;
          default: {
            auto v = object(i + 100000 * round);
            b[key(i)] = v;
            rb[key(i)] = v;
          }
        }
      }
      CHECK(diff(a, b) == naiveDiff(ra, rb));
      CHECK(diff(b, a) == naiveDiff(rb, ra));
      CHECK(diff(b, b).empty());
      a = b;
      ra = rb;
    }
    // Unrelated maps with equal keys but distinct objects: every key differs.
    ObjectMap c;
    Reference rc;
    for (const auto& [k, v] : ra) {
      auto fresh = object(0);
      c[k] = fresh;
      rc[k] = fresh;
    }
    CHECK(diff(a, c) == naiveDiff(ra, rc));
    CHECK(diff(a, c).size() == ra.size());
    CHECK(diff(ObjectMap{}, c).size() == rc.size());
  }
}
