// File: engine/src/state_table_allocator.cc
#include "brook/internal/state_table_allocator.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace brook::internal {

void* AllocateOnHugePages(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, kHugePageBytes, bytes) != 0) throw std::bad_alloc();
  // Only the whole huge pages: the tail stays on 4 KiB pages, so a table
  // takes no more memory than its array.
  const size_t whole = bytes / kHugePageBytes * kHugePageBytes;
  madvise(p, whole, MADV_HUGEPAGE);  // advice only: without it, 4 KiB pages
  return p;
}

void FreeOnHugePages(void* p) { std::free(p); }

}  // namespace brook::internal
