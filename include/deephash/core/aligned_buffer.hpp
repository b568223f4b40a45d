#pragma once
// Storage whose first element sits on a cache-line boundary, so SIMD kernels may use aligned
// loads and blocks of codes never straddle two lines.

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace deephash {

inline constexpr std::size_t kCacheLine = 64;

template <class T, std::size_t Alignment = kCacheLine>
struct AlignedAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = AlignedAllocator<U, Alignment>;
  };

  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U, Alignment>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n == 0) return nullptr;
    if (n > std::size_t(-1) / sizeof(T)) throw std::bad_array_new_length();
    void* p = ::operator new(n * sizeof(T), std::align_val_t(Alignment));
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept {
    ::operator delete(p, std::align_val_t(Alignment));
  }

  template <class U>
  bool operator==(const AlignedAllocator<U, Alignment>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const AlignedAllocator<U, Alignment>&) const noexcept { return false; }
};

template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace deephash
