// File: engine/src/compact_state_table.cc
#include "brook/internal/compact_state_table.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <new>

namespace brook::internal::compact_table {

namespace {

// Smaller arrays come from the heap, mostly on pages already in use.
constexpr size_t kFaultInBytes = size_t{64} << 10;

// Faults in the whole pages of [p, p + bytes) for writing, now. A probe
// reads a slot before it writes one, so a page first touched by a probe is
// faulted twice: the read maps the shared zero page, the write replaces it,
// and replacing a mapping flushes it from the TLB of every CPU that runs one
// of the job's threads (an interprocessor interrupt each). Faulted in here,
// each page is one fault, with no flush: the camera pipeline with ids kept
// forever went from 0.29 to 0.25 CPU-s per million events at parallelism 1
// and from 0.41 to 0.37 at 2 (docs/performance.md). Advice only: without MADV_POPULATE_WRITE (Linux
// before 5.14) the pages fault in as before.
void FaultInForWrite(void* p, size_t bytes) {
  constexpr uintptr_t kPage = 4096;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kPage - 1) & ~(kPage - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kPage - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
}

}  // namespace

void* AllocateZeroed(size_t bytes, bool huge_pages) {
  if (!huge_pages || bytes < kHugePageBytes) {
    // calloc takes large blocks from mmap, whose pages are zero already.
    void* p = std::calloc(1, bytes);
    if (p == nullptr) throw std::bad_alloc();
    if (bytes >= kFaultInBytes) FaultInForWrite(p, bytes);
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
  FaultInForWrite(p, bytes);  // after the advice, so that the huge pages are what faults in
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
