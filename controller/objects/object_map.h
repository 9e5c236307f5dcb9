// A sorted map from object key to shared object whose copies share storage in chunks.
//
// The store takes a snapshot for every render and the status writer keeps one, so the
// store's map of a kind is almost always shared when a watch event arrives. A std::map
// would then be copied whole: 10,000 nodes (a megabyte, and as many allocations) per
// edit, churn that fragments the allocator's arenas. Here the entries live in sorted
// chunks of at most kMaxChunk, and a copy shares the chunks: changing one key copies its
// chunk and the list of chunk pointers, a few kilobytes at any size.
//
// The same sharing makes a diff cheap: forEachChange skips every chunk the two maps hold
// in common without looking inside.
//
// Not thread-safe for writes. A chunk is changed in place only while this map is its
// sole owner; other maps, and the snapshots holding them, see it as immutable.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace portico::controller {

using ObjectPtr = std::shared_ptr<const nlohmann::json>;

class ObjectMap {
 public:
  using value_type = std::pair<std::string, ObjectPtr>;
  static constexpr size_t kMaxChunk = 64;

  class const_iterator {
   public:
    using value_type = ObjectMap::value_type;
    using reference = const value_type&;
    using pointer = const value_type*;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::forward_iterator_tag;

    const_iterator() = default;
    reference operator*() const { return (*map_->chunks_[chunk_])[pos_]; }
    pointer operator->() const { return &**this; }
    const_iterator& operator++() {
      if (++pos_ == map_->chunks_[chunk_]->size()) {
        ++chunk_;
        pos_ = 0;
      }
      return *this;
    }
    const_iterator operator++(int) {
      auto before = *this;
      ++*this;
      return before;
    }
    bool operator==(const const_iterator& o) const { return chunk_ == o.chunk_ && pos_ == o.pos_; }

   private:
    friend class ObjectMap;
    const_iterator(const ObjectMap* map, size_t chunk, size_t pos) : map_(map), chunk_(chunk), pos_(pos) {}
    const ObjectMap* map_ = nullptr;
    size_t chunk_ = 0;
    size_t pos_ = 0;
  };
  using iterator = const_iterator;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const_iterator begin() const { return {this, 0, 0}; }
  const_iterator end() const { return {this, chunks_.size(), 0}; }
  const_iterator find(std::string_view key) const;
  size_t count(std::string_view key) const { return find(key) == end() ? 0 : 1; }

  // The slot of `key`, inserted empty if absent; its chunk is copied first if shared.
  // Valid until the next change of this map.
  ObjectPtr& operator[](const std::string& key);
  // The object that was at `key` (null if there was none).
  ObjectPtr erase(std::string_view key);

  // Calls fn(key, before, after) for every key whose object differs between the maps
  // (added: before is null; removed: after is null), in key order. Chunks both maps share
  // are skipped whole.
  template <class F>
  static void forEachChange(const ObjectMap& before, const ObjectMap& after, F&& fn);

  // Chunks shared with `other` (tests: a copy that changed one key shares all but one).
  size_t chunksSharedWith(const ObjectMap& other) const;
  size_t chunkCount() const { return chunks_.size(); }

 private:
  using Chunk = std::vector<value_type>;
  // The chunk `key` belongs in: the last one whose first key is not after it (0 if none).
  size_t chunkFor(std::string_view key) const;
  Chunk& mutableChunk(size_t index);

  std::vector<std::shared_ptr<Chunk>> chunks_;  // none empty; in key order
  size_t size_ = 0;
};

template <class F>
void ObjectMap::forEachChange(const ObjectMap& before, const ObjectMap& after, F&& fn) {
  const ObjectPtr none;
  auto a = before.begin(), b = after.begin();
  const auto aEnd = before.end(), bEnd = after.end();
  while (a != aEnd || b != bEnd) {
    // At the start of the same chunk in both: nothing in it changed.
    if (a != aEnd && b != bEnd && a.pos_ == 0 && b.pos_ == 0 &&
        before.chunks_[a.chunk_] == after.chunks_[b.chunk_]) {
      ++a.chunk_;
      ++b.chunk_;
      continue;
    }
    if (b == bEnd || (a != aEnd && a->first < b->first)) {
      fn(a->first, a->second, none);
      ++a;
    } else if (a == aEnd || b->first < a->first) {
      fn(b->first, none, b->second);
      ++b;
    } else {
      if (a->second != b->second) fn(a->first, a->second, b->second);
      ++a;
      ++b;
    }
  }
}

}  // namespace portico::controller
