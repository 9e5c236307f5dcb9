// When the reconciler renders: no quiet window, no delay floor.
//  - The first change after a quiet period is due at once.
//  - Changes seen while a render runs are coalesced: when it finishes, one follow-up render
//    is due at once and covers all of them (it snapshots the store as it is then).
//  - Nothing is lost: a change newer than the last rendered generation always leaves a
//    render due, so the last state is always rendered.
// A render never starts less than `minInterval` after the previous one started. The
// default is 0: renders are bounded work and each one makes progress, so back-to-back
// renders under a stream of edits cannot livelock; they only keep the reconciler's thread
// busy, which is the price of being current. Portico's own status writes do not feed back
// into a loop: ObjectStore ignores status-only changes, and when one still gets through (a
// managedFields timestamp), its render finds no status to change and writes nothing. The
// knob is kept for a caller that wants to trade latency for CPU.
//
// A pure state machine with an injected time: the Reconciler drives it from its one
// thread; tests drive it directly. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace portico::controller {

class RenderScheduler {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RenderScheduler(std::chrono::milliseconds minInterval = std::chrono::milliseconds(0))
      : minInterval_(minInterval) {}

  // The store reached `generation` (monotonic; older values are ignored).
  void changed(uint64_t generation);
  // If a render is due at `now`, marks it running and returns the generation it must cover
  // (the newest seen); else nullopt (nothing new, a render is running, or minInterval).
  [[nodiscard]] std::optional<uint64_t> startRender(Clock::time_point now);
  // The running render is done; it covered the generation startRender returned. `covered`
  // may be larger if the caller's snapshot turned out newer (it never counts as lost).
  void finishRender(std::optional<uint64_t> covered = std::nullopt);

  // When a render becomes due if nothing else changes: Clock::time_point::max() when idle
  // or while a render runs (finishRender makes the next one due), `now` or earlier when due.
  [[nodiscard]] Clock::time_point nextDue() const;
  [[nodiscard]] bool rendering() const { return rendering_; }
  [[nodiscard]] uint64_t seen() const { return seen_; }
  [[nodiscard]] uint64_t rendered() const { return rendered_; }
  [[nodiscard]] uint64_t renders() const { return renders_; }

 private:
  std::chrono::milliseconds minInterval_;
  uint64_t seen_ = 0;      // newest generation reported by changed()
  uint64_t rendered_ = 0;  // generation covered by the last finished render
  uint64_t inFlight_ = 0;  // generation the running render covers
  bool rendering_ = false;
  bool started_ = false;  // some render has started (lastStart_ is set)
  Clock::time_point lastStart_{};
  uint64_t renders_ = 0;
};

}  // namespace portico::controller
