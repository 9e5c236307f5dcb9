#include "controller/reconcile/render_scheduler.h"

#include <algorithm>

namespace portico::controller {

void RenderScheduler::changed(uint64_t generation) { seen_ = std::max(seen_, generation); }

RenderScheduler::Clock::time_point RenderScheduler::nextDue() const {
  if (rendering_ || seen_ <= rendered_) return Clock::time_point::max();
  if (!started_ || minInterval_.count() == 0) return Clock::time_point::min();
  return lastStart_ + minInterval_;
}

std::optional<uint64_t> RenderScheduler::startRender(Clock::time_point now) {
  if (now < nextDue()) return std::nullopt;  // max() when idle or rendering
  rendering_ = true;
  started_ = true;
  lastStart_ = now;
  inFlight_ = seen_;
  ++renders_;
  return inFlight_;
}

void RenderScheduler::finishRender(std::optional<uint64_t> covered) {
  if (!rendering_) return;
  rendering_ = false;
  rendered_ = std::max(rendered_, std::max(inFlight_, covered.value_or(0)));
  seen_ = std::max(seen_, rendered_);
}

}  // namespace portico::controller
