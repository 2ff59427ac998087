// File: brook/internal/state_table_allocator.h  (internal: not part of the API)
//
// The allocator of the heap backend's hash tables. A table reserved from a
// descriptor's expected_keys hint allocates with huge_pages set: an array of
// 2 MiB or more is placed 2 MiB-aligned and its whole 2 MiB pages advised as
// transparent huge pages (MADV_HUGEPAGE). Such a table is far beyond the
// TLB's reach in 4 KiB pages, so each probe (and each prefetch of a probe)
// would first walk the page tables; a hand-written loop keeps its table on
// huge pages for the same reason. Tables that grow on demand keep 4 KiB
// pages: measured (docs/performance.md), huge pages for every doubling of
// 128 growing tables cost more in faults than they save. Where the kernel
// grants no huge page the advice is ignored and nothing else changes.
#ifndef BROOK_INTERNAL_STATE_TABLE_ALLOCATOR_H_
#define BROOK_INTERNAL_STATE_TABLE_ALLOCATOR_H_

#include <cstddef>
#include <new>

namespace brook::internal {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// Out of line (state_table_allocator.cc), for `bytes` >= kHugePageBytes.
// Throws std::bad_alloc as operator new does.
void* AllocateOnHugePages(size_t bytes);
void FreeOnHugePages(void* p);

template <typename T>
class StateTableAllocator {
 public:
  using value_type = T;

  StateTableAllocator() = default;
  explicit StateTableAllocator(bool huge_pages) : huge_pages_(huge_pages) {}
  template <typename U>
  StateTableAllocator(const StateTableAllocator<U>& other)  // NOLINT: rebinding
      : huge_pages_(other.huge_pages()) {}

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (OnHugePages(bytes)) return static_cast<T*>(AllocateOnHugePages(bytes));
    return static_cast<T*>(::operator new(bytes, std::align_val_t{alignof(T)}));
  }
  void deallocate(T* p, size_t n) {
    const size_t bytes = n * sizeof(T);
    if (OnHugePages(bytes)) {
      FreeOnHugePages(p);
    } else {
      ::operator delete(p, bytes, std::align_val_t{alignof(T)});
    }
  }

  bool huge_pages() const { return huge_pages_; }
  template <typename U>
  bool operator==(const StateTableAllocator<U>& other) const {
    return huge_pages_ == other.huge_pages();
  }

 private:
  bool OnHugePages(size_t bytes) const { return huge_pages_ && bytes >= kHugePageBytes; }

  bool huge_pages_ = false;
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_STATE_TABLE_ALLOCATOR_H_
