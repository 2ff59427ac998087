// Private to the engine: the framing of checkpoint files (checkpoint.capnp)
// shared by every CheckpointStorage. Encoding builds the bytes of one file as
// pieces to write in order (the header message, the payload's segment table,
// the payload's segments) without flattening the payload into one buffer;
// decoding verifies the frame and reads the payload in place.
#ifndef BROOK_ENGINE_SRC_CHECKPOINT_FILE_H_
#define BROOK_ENGINE_SRC_CHECKPOINT_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "brook/checkpoint_storage.h"

namespace capnp {
class MessageBuilder;
}

namespace brook::checkpoint_internal {

// The format this build writes and the only one it reads.
inline constexpr uint32_t kFormatVersion = 1;
// "BRKDATA1" and "BRKMETA1" read as little-endian words.
inline constexpr uint64_t kDataFileMagic = 0x31415441444b5242ULL;
inline constexpr uint64_t kMetadataMagic = 0x314154454d4b5242ULL;
// Size of the FileHeader message: segment table, root pointer, 3 data words.
inline constexpr size_t kHeaderBytes = 40;

inline constexpr char kMetadataFileName[] = "_metadata";

// zlib's CRC-32, for any length.
uint32_t Crc32(uint32_t crc, const void* data, size_t size);

// One file, ready to be written: `pieces` in order (views into this object).
class EncodedFile {
 public:
  struct Piece {
    const void* data;
    size_t size;
  };
  EncodedFile();
  ~EncodedFile();
  EncodedFile(const EncodedFile&) = delete;
  EncodedFile& operator=(const EncodedFile&) = delete;

  const std::vector<Piece>& pieces() const { return pieces_; }
  int64_t size_bytes() const { return size_bytes_; }
  uint32_t crc32() const { return crc32_; }  // of every byte of the file

  // Frames the finished `payload` message under `magic`.
  static std::unique_ptr<EncodedFile> Frame(uint64_t magic,
                                            std::unique_ptr<capnp::MessageBuilder> payload);

 private:
  friend std::unique_ptr<EncodedFile> EncodeDataFile(const OperatorSubtaskState& state);

  std::unique_ptr<capnp::MessageBuilder> payload_;
  std::unique_ptr<uint64_t[]> tail_words_;  // segments `payload_` references
  std::vector<uint32_t> segment_table_;
  alignas(8) unsigned char header_[kHeaderBytes];
  std::vector<Piece> pieces_;
  int64_t size_bytes_ = 0;
  uint32_t crc32_ = 0;
};

// The result points into `state`'s key-group blobs: `state` must outlive it.
std::unique_ptr<EncodedFile> EncodeDataFile(const OperatorSubtaskState& state);
std::unique_ptr<EncodedFile> EncodeMetadata(const CheckpointMetadata& metadata);

// The bytes of a file read back: word-aligned (mmap or an aligned copy).
struct FileBytes {
  const unsigned char* data = nullptr;
  size_t size = 0;
  std::shared_ptr<void> owner;  // keeps `data` alive
};

// Verifies the frame of `file` (expected `magic`) and decodes its payload.
// Errors are kDataLoss with the reason only (no path: callers add it). With
// `file.owner`, key groups are views that share it (no copy), except those
// not contiguous in the file (an older writer's tails), which are copied.
// `file_crc`, when not null, receives the CRC-32 of every byte of the file.
absl::StatusOr<OperatorSubtaskState> DecodeDataFile(const FileBytes& file, uint32_t* file_crc);
absl::StatusOr<CheckpointMetadata> DecodeMetadata(const FileBytes& file);

// The file name of an operator subtask's state: the operator id with
// characters outside [A-Za-z0-9._#-] replaced by '_' (plus a hash of the id
// when any was, or when the id is long), then "-<subtask>".
std::string DataFileName(const std::string& operator_id, int subtask_index);

}  // namespace brook::checkpoint_internal

#endif  // BROOK_ENGINE_SRC_CHECKPOINT_FILE_H_
