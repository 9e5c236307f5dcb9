// An allocator for the operations of long waits (a parked connection's readability wait,
// a connection's deadline timer): plain operator new, of the exact size. Asio's default
// recycles operation memory per thread and hands out any cached block big enough, so a
// small long-lived operation would often occupy, for as long as it waits, the 500-byte
// block a response write had just freed. Give a handler
//   using allocator_type = ExactSizeAllocator<void>;
//   allocator_type get_allocator() const noexcept { return {}; }
#pragma once

#include <cstddef>
#include <new>

namespace portico::proxy {

template <class T>
struct ExactSizeAllocator {
  using value_type = T;
  ExactSizeAllocator() noexcept = default;
  template <class U>
  ExactSizeAllocator(const ExactSizeAllocator<U>&) noexcept {}  // NOLINT: rebinding
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  template <class U>
  bool operator==(const ExactSizeAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace portico::proxy
