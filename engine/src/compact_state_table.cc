// File: engine/src/compact_state_table.cc
#include "brook/internal/compact_state_table.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <new>

namespace brook::internal::compact_table {

void* AllocateZeroed(size_t bytes, bool huge_pages) {
  if (!huge_pages || bytes < kHugePageBytes) {
    // calloc takes large blocks from mmap, whose pages are zero already.
    void* p = std::calloc(1, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  // 2 MiB-aligned anonymous memory (zero), whole huge pages advised.
  const size_t mapped = bytes + kHugePageBytes;
  void* m = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t start = reinterpret_cast<uintptr_t>(m);
  const uintptr_t aligned = (start + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
  if (aligned > start) munmap(m, aligned - start);
  const uintptr_t end = start + mapped;
  const uintptr_t used_end = aligned + bytes;
  const uintptr_t page = 4096;
  const uintptr_t tail = (used_end + page - 1) & ~(page - 1);
  if (end > tail) munmap(reinterpret_cast<void*>(tail), end - tail);
  void* p = reinterpret_cast<void*>(aligned);
  madvise(p, bytes / kHugePageBytes * kHugePageBytes, MADV_HUGEPAGE);  // advice only
  return p;
}

void FreeZeroed(void* p, size_t bytes, bool huge_pages) {
  if (!huge_pages || bytes < kHugePageBytes) {
    std::free(p);
    return;
  }
  munmap(p, bytes);
}

}  // namespace brook::internal::compact_table
