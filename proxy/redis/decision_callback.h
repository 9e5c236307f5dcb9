// DecisionCallback: a move-only `void(RateLimitDecision)` callable with inline storage.
//
// Why not std::function: it requires a copyable target, and the completion handlers a
// caller wants to store here (an Asio coroutine's handler, a promise) are move-only. Why
// inline storage: one rate-limit decision per request should not cost a heap allocation for
// its callback; targets up to kInlineBytes that move without throwing (a lambda capturing a
// few pointers, a coroutine handler) live inside the object, bigger ones on the heap.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include "proxy/policy/rate_limit_decision.h"

namespace portico::proxy::redis {

class DecisionCallback {
 public:
  static constexpr size_t kInlineBytes = 48;

  DecisionCallback() noexcept = default;

  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, DecisionCallback> &&
             std::is_invocable_v<std::decay_t<F>&, policy::RateLimitDecision>)
  DecisionCallback(F&& f) {  // NOLINT(google-explicit-constructor): a callable converts, as std::function
    using Target = std::decay_t<F>;
    if constexpr (fitsInline<Target>()) {
      ::new (static_cast<void*>(storage_)) Target(std::forward<F>(f));
      ops_ = &kInlineOps<Target>;
    } else {
      ::new (static_cast<void*>(storage_)) Target*(new Target(std::forward<F>(f)));
      ops_ = &kHeapOps<Target>;
    }
  }

  DecisionCallback(DecisionCallback&& other) noexcept : ops_(other.ops_) {
    if (ops_) ops_->relocate(other.storage_, storage_);
    other.ops_ = nullptr;
  }

  DecisionCallback& operator=(DecisionCallback&& other) noexcept {
    if (this != &other) {
      reset();
      ops_ = other.ops_;
      if (ops_) ops_->relocate(other.storage_, storage_);
      other.ops_ = nullptr;
    }
    return *this;
  }

  DecisionCallback(const DecisionCallback&) = delete;
  DecisionCallback& operator=(const DecisionCallback&) = delete;

  ~DecisionCallback() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }

  // Calls the target once and leaves this callback empty (the target is destroyed after the
  // call returns), so that what it captured is released as soon as the answer is delivered.
  void operator()(const policy::RateLimitDecision& decision) {
    DecisionCallback local(std::move(*this));
    local.ops_->invoke(local.storage_, decision);
  }

 private:
  struct Ops {
    void (*invoke)(void* storage, const policy::RateLimitDecision& decision);
    void (*relocate)(void* from, void* to) noexcept;  // move-construct into `to`, destroy `from`
    void (*destroy)(void* storage) noexcept;
  };

  template <class T>
  static constexpr bool fitsInline() {
    return sizeof(T) <= kInlineBytes && alignof(T) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<T>;
  }

  template <class T>
  static constexpr Ops kInlineOps = {
      [](void* s, const policy::RateLimitDecision& d) { (*static_cast<T*>(s))(d); },
      [](void* from, void* to) noexcept {
        ::new (to) T(std::move(*static_cast<T*>(from)));
        static_cast<T*>(from)->~T();
      },
      [](void* s) noexcept { static_cast<T*>(s)->~T(); },
  };

  template <class T>
  static constexpr Ops kHeapOps = {
      [](void* s, const policy::RateLimitDecision& d) { (**static_cast<T**>(s))(d); },
      [](void* from, void* to) noexcept { ::new (to) T*(*static_cast<T**>(from)); },
      [](void* s) noexcept { delete *static_cast<T**>(s); },
  };

  void reset() noexcept {
    if (ops_) ops_->destroy(storage_);
    ops_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char storage_[kInlineBytes];
  const Ops* ops_ = nullptr;
};

}  // namespace portico::proxy::redis
