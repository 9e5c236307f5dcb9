// Replaces every form of the global operator new and delete with ones that report each
// allocation to countAllocation(size), which the including file defines. Include it in
// exactly one source file of a test binary (the replacements are definitions).
// Allocations come from malloc/posix_memalign and are released with free, so that no
// new/delete pair mixes this allocator with the default one (ASan checks that).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace portico::testing {
// Every allocation, on whichever thread makes it; must not allocate.
void countAllocation(std::size_t size) noexcept;

inline void* countedAlloc(std::size_t size) noexcept {
  countAllocation(size);
  return std::malloc(size == 0 ? 1 : size);
}

inline void* countedAlignedAlloc(std::size_t size, std::align_val_t align) noexcept {
  countAllocation(size);
  void* p = nullptr;
  const std::size_t a = std::max(static_cast<std::size_t>(align), sizeof(void*));
  if (::posix_memalign(&p, a, size == 0 ? 1 : size) != 0) return nullptr;
  return p;
}
}  // namespace portico::testing

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t size) {
  if (void* p = portico::testing::countedAlloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* p = portico::testing::countedAlloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return portico::testing::countedAlloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return portico::testing::countedAlloc(size);
}
void* operator new(std::size_t size, std::align_val_t align) {
  if (void* p = portico::testing::countedAlignedAlloc(size, align)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align) {
  if (void* p = portico::testing::countedAlignedAlloc(size, align)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return portico::testing::countedAlignedAlloc(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return portico::testing::countedAlignedAlloc(size, align);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
