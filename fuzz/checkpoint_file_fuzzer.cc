// Fuzz target: one checkpoint file's bytes through the engine's internal
// read path (brook::checkpoint_internal::DecodeDataFile and DecodeMetadata,
// engine/src/checkpoint_file.cc): the frame, its checksum, the Cap'n Proto
// payload. Every outcome must be a state or kDataLoss, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "checkpoint_file.h"
#include "checkpoint_frame.h"

namespace {

namespace ci = brook::checkpoint_internal;

void Decode(const std::string& bytes) {
  // Readers get word-aligned bytes (mmap or an aligned copy); so do we.
  auto aligned = std::shared_ptr<uint64_t[]>(new uint64_t[bytes.size() / 8 + 1]);
  if (!bytes.empty()) std::memcpy(aligned.get(), bytes.data(), bytes.size());
  ci::FileBytes file;
  file.data = reinterpret_cast<const unsigned char*>(aligned.get());
  file.size = bytes.size();
  file.owner = aligned;
  uint32_t crc = 0;
  auto state = ci::DecodeDataFile(file, &crc);
  if (!state.ok() && state.status().code() != absl::StatusCode::kDataLoss) std::abort();
  auto metadata = ci::DecodeMetadata(file);
  if (!metadata.ok() && metadata.status().code() != absl::StatusCode::kDataLoss) std::abort();
  // No amplification: Cap'n Proto charges each list element at least a word
  // against the traversal limit, which PayloadOptions sets to twice the
  // payload's words plus 1,024, so no file decodes into more entries than
  // that (pointers aliasing one blob once made a 680-byte `_metadata`
  // 100,000s of entries). A tiny file may reach the constant: a list of
  // empty structs.
  const size_t max_entries = 2 * (bytes.size() / 8 + 1) + 1024;
  if (state.ok() && state->key_groups.size() > max_entries) std::abort();
  if (metadata.ok() && metadata->files.size() > max_entries) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  Decode(bytes);
  Decode(brook_fuzz::WithConsistentFrame(std::move(bytes)));
  return 0;
}
