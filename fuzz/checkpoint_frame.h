// Checkpoint files carry a CRC-32 of their payload in the frame header; a
// mutated input almost never matches it, so the harnesses also decode a
// copy whose header is made consistent with the payload (length and CRC),
// which lets the fuzzer reach the Cap'n Proto decoding behind the check.
#ifndef BROOK_FUZZ_CHECKPOINT_FRAME_H_
#define BROOK_FUZZ_CHECKPOINT_FRAME_H_

#include <cstdint>
#include <cstring>
#include <string>

#include "checkpoint_file.h"

namespace brook_fuzz {

// `file` with the header's payloadBytes and payloadCrc32 fields (bytes 24-31
// and 36-39: checkpoint.capnp's FileHeader, after the segment table and the
// root pointer) set to match the bytes after the 40-byte header. Files
// shorter than the header are returned as they are.
inline std::string WithConsistentFrame(std::string file) {
  namespace ci = brook::checkpoint_internal;
  if (file.size() < ci::kHeaderBytes) return file;
  const uint64_t payload_bytes = file.size() - ci::kHeaderBytes;
  const uint32_t crc = ci::Crc32(0, file.data() + ci::kHeaderBytes, payload_bytes);
  std::memcpy(file.data() + 24, &payload_bytes, sizeof(payload_bytes));
  std::memcpy(file.data() + 36, &crc, sizeof(crc));
  return file;
}

}  // namespace brook_fuzz

#endif  // BROOK_FUZZ_CHECKPOINT_FRAME_H_
