#include "controller/objects/object_map.h"

#include <algorithm>
#include <iterator>

namespace portico::controller {

namespace {
bool keyLess(const ObjectMap::value_type& entry, std::string_view key) { return entry.first < key; }
}  // namespace

size_t ObjectMap::chunkFor(std::string_view key) const {
  // The first chunk starting after `key`; the one before it holds `key` (if anything does).
  auto after = std::upper_bound(chunks_.begin(), chunks_.end(), key,
                                [](std::string_view k, const std::shared_ptr<Chunk>& c) { return k < c->front().first; });
  return after == chunks_.begin() ? 0 : static_cast<size_t>(std::distance(chunks_.begin(), after)) - 1;
}

ObjectMap::Chunk& ObjectMap::mutableChunk(size_t index) {
  // Sole owner: no other map (so no snapshot) can see the chunk. A count read while another
  // thread drops its copy can only be too high, which costs an unneeded copy.
  auto& chunk = chunks_[index];
  if (chunk.use_count() != 1) chunk = std::make_shared<Chunk>(*chunk);
  return *chunk;
}

ObjectMap::const_iterator ObjectMap::find(std::string_view key) const {
  if (chunks_.empty()) return end();
  const size_t c = chunkFor(key);
  const Chunk& chunk = *chunks_[c];
  auto it = std::lower_bound(chunk.begin(), chunk.end(), key, keyLess);
  if (it == chunk.end() || it->first != key) return end();
  return {this, c, static_cast<size_t>(it - chunk.begin())};
}

ObjectPtr& ObjectMap::operator[](const std::string& key) {
  if (chunks_.empty()) {
    chunks_.push_back(std::make_shared<Chunk>(1, value_type{key, nullptr}));
    size_ = 1;
    return chunks_.front()->front().second;
  }
  size_t c = chunkFor(key);
  {
    const Chunk& chunk = *chunks_[c];
    auto it = std::lower_bound(chunk.begin(), chunk.end(), key, keyLess);
    if (it != chunk.end() && it->first == key) {
      const size_t pos = static_cast<size_t>(it - chunk.begin());
      return mutableChunk(c)[pos].second;
    }
  }
  Chunk& chunk = mutableChunk(c);
  auto pos = static_cast<size_t>(std::lower_bound(chunk.begin(), chunk.end(), key, keyLess) - chunk.begin());
  chunk.insert(chunk.begin() + static_cast<std::ptrdiff_t>(pos), value_type{key, nullptr});
  ++size_;
  if (chunk.size() > kMaxChunk) {
    // Split in halves: both stay at least half full, so a chunk copy stays small and
    // the pointer list short.
    const size_t half = chunk.size() / 2;
    auto upper = std::make_shared<Chunk>(std::make_move_iterator(chunk.begin() + static_cast<std::ptrdiff_t>(half)),
                                         std::make_move_iterator(chunk.end()));
    chunk.erase(chunk.begin() + static_cast<std::ptrdiff_t>(half), chunk.end());
    chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(c) + 1, std::move(upper));
    if (pos >= half) {
      ++c;
      pos -= half;
    }
  }
  return (*chunks_[c])[pos].second;
}

ObjectPtr ObjectMap::erase(std::string_view key) {
  const const_iterator found = find(key);
  if (found == end()) return nullptr;
  Chunk& chunk = mutableChunk(found.chunk_);
  ObjectPtr gone = std::move(chunk[found.pos_].second);
  chunk.erase(chunk.begin() + static_cast<std::ptrdiff_t>(found.pos_));
  --size_;
  const size_t c = found.chunk_;
  if (chunk.empty()) {
    chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(c));
  } else if (chunk.size() < kMaxChunk / 4 && c + 1 < chunks_.size() &&
             chunk.size() + chunks_[c + 1]->size() <= kMaxChunk) {
    // Merge a thinned chunk into the next one, so that erasures cannot leave a long list
    // of near-empty chunks behind.
    const Chunk& next = *chunks_[c + 1];
    chunk.insert(chunk.end(), next.begin(), next.end());
    chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(c) + 1);
  }
  return gone;
}

size_t ObjectMap::chunksSharedWith(const ObjectMap& other) const {
  size_t shared = 0;
  for (const auto& chunk : chunks_) {
    shared += static_cast<size_t>(std::count(other.chunks_.begin(), other.chunks_.end(), chunk));
  }
  return shared;
}

}  // namespace portico::controller
