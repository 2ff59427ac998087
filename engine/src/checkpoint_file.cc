#include "checkpoint_file.h"

#include <zlib.h>

#include <bit>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "capnp/message.h"
#include "capnp/serialize.h"
#include "checkpoint.capnp.h"
#include "kj/exception.h"

namespace brook::checkpoint_internal {

namespace fmt = ::brook::checkpoint_format;

// The segment table is written here rather than by capnp::writeMessage so
// that its bytes can be checksummed without a copy of the message; its layout
// is Cap'n Proto's standard stream framing, little-endian.
static_assert(std::endian::native == std::endian::little,
              "checkpoint framing assumes a little-endian host");

uint32_t Crc32(uint32_t crc, const void* data, size_t size) {
  return static_cast<uint32_t>(
      crc32_z(crc, static_cast<const Bytef*>(data), static_cast<z_size_t>(size)));
}

namespace {

// The canonical 40 bytes of a FileHeader with these fields.
void EncodeHeader(uint64_t magic, uint64_t payload_bytes, uint32_t version, uint32_t payload_crc,
                  unsigned char out[kHeaderBytes]) {
  capnp::word scratch[kHeaderBytes / sizeof(capnp::word)];
  memset(scratch, 0, sizeof(scratch));
  capnp::MallocMessageBuilder builder(kj::arrayPtr(scratch, kHeaderBytes / sizeof(capnp::word)));
  auto header = builder.initRoot<fmt::FileHeader>();
  header.setMagic(magic);
  header.setPayloadBytes(payload_bytes);
  header.setFormatVersion(version);
  header.setPayloadCrc32(payload_crc);
  auto segments = builder.getSegmentsForOutput();
  // One segment of 4 words: root pointer + 3 data words.
  uint32_t table[2] = {0, static_cast<uint32_t>(segments[0].size())};
  memcpy(out, table, sizeof(table));
  memcpy(out + sizeof(table), segments[0].begin(),
         std::min(segments[0].size() * sizeof(capnp::word), kHeaderBytes - sizeof(table)));
}

absl::Status DataLoss(std::string reason) { return absl::DataLossError(std::move(reason)); }

// Checks the frame; returns the payload's words and the whole file's CRC.
absl::StatusOr<kj::ArrayPtr<const capnp::word>> VerifyFrame(const FileBytes& file, uint64_t magic,
                                                             uint32_t* file_crc) {
  if (file.size < kHeaderBytes) {
    return DataLoss(absl::StrFormat("truncated: %d bytes, shorter than the %d-byte header",
                                    file.size, kHeaderBytes));
  }
  if (reinterpret_cast<uintptr_t>(file.data) % alignof(capnp::word) != 0) {
    return absl::InternalError("checkpoint file buffer is not word-aligned");
  }
  const auto* words = reinterpret_cast<const capnp::word*>(file.data);
  uint64_t file_magic = 0, payload_bytes = 0;
  uint32_t version = 0, payload_crc = 0;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
                capnp::FlatArrayMessageReader reader(
                    kj::arrayPtr(words, kHeaderBytes / sizeof(capnp::word)));
                auto header = reader.getRoot<fmt::FileHeader>();
                file_magic = header.getMagic();
                payload_bytes = header.getPayloadBytes();
                version = header.getFormatVersion();
                payload_crc = header.getPayloadCrc32();
              })) {
    return DataLoss(absl::StrCat("corrupt header: ", e->getDescription().cStr()));
  }
  if (file_magic != magic) {
    return DataLoss(file_magic == kDataFileMagic || file_magic == kMetadataMagic
                        ? "wrong kind of checkpoint file"
                        : "bad magic number (not a brook checkpoint file, or a corrupt header)");
  }
  if (version != kFormatVersion) {
    return DataLoss(absl::StrFormat("bad version: format version %d, this build reads %d",
                                    version, kFormatVersion));
  }
  unsigned char canonical[kHeaderBytes];
  EncodeHeader(file_magic, payload_bytes, version, payload_crc, canonical);
  if (memcmp(canonical, file.data, kHeaderBytes) != 0) {
    return DataLoss("corrupt header (not its canonical encoding)");
  }
  const size_t payload_size = file.size - kHeaderBytes;
  if (payload_size < payload_bytes) {
    return DataLoss(absl::StrFormat("truncated: %d bytes, the header says %d", file.size,
                                    kHeaderBytes + payload_bytes));
  }
  if (payload_size > payload_bytes) {
    return DataLoss(absl::StrFormat("size mismatch: %d bytes, the header says %d", file.size,
                                    kHeaderBytes + payload_bytes));
  }
  if (payload_bytes % sizeof(capnp::word) != 0 || payload_bytes == 0) {
    return DataLoss(absl::StrFormat("corrupt header: payload of %d bytes", payload_bytes));
  }
  const uint32_t computed = Crc32(0, file.data + kHeaderBytes, payload_size);
  if (computed != payload_crc) {
    return DataLoss(absl::StrFormat("checksum mismatch: payload CRC-32 %08x, the header says %08x",
                                    computed, payload_crc));
  }
  if (file_crc != nullptr) {
    *file_crc = static_cast<uint32_t>(
        crc32_combine(Crc32(0, file.data, kHeaderBytes), computed, static_cast<z_off_t>(payload_size)));
  }
  return kj::arrayPtr(words + kHeaderBytes / sizeof(capnp::word),
                      payload_size / sizeof(capnp::word));
}

capnp::ReaderOptions PayloadOptions(kj::ArrayPtr<const capnp::word> payload) {
  capnp::ReaderOptions options;
  // A file is read once, so the traversal limit only has to exceed its size
  // (the default, 64 MiB, is below a 10-million-key state). It is no more
  // than that either: with the default, a small file whose pointers all alias
  // one blob (a list of entries naming the same text) decoded into 64 MiB of
  // copies, seconds of work per 1 KB file (found by fuzz/checkpoint_file).
  options.traversalLimitInWords = 2 * payload.size() + 1024;
  return options;
}

std::string ToString(capnp::Data::Reader data) {
  return std::string(reinterpret_cast<const char*>(data.begin()), data.size());
}

}  // namespace

EncodedFile::EncodedFile() = default;
EncodedFile::~EncodedFile() = default;

std::unique_ptr<EncodedFile> EncodedFile::Frame(uint64_t magic,
                                                std::unique_ptr<capnp::MessageBuilder> payload) {
  auto file = std::make_unique<EncodedFile>();
  auto segments = payload->getSegmentsForOutput();
  file->segment_table_.assign((segments.size() + 2) & ~size_t{1}, 0);
  file->segment_table_[0] = static_cast<uint32_t>(segments.size() - 1);
  for (size_t i = 0; i < segments.size(); ++i) {
    file->segment_table_[i + 1] = static_cast<uint32_t>(segments[i].size());
  }
  file->pieces_.push_back({file->header_, kHeaderBytes});
  file->pieces_.push_back(
      {file->segment_table_.data(), file->segment_table_.size() * sizeof(uint32_t)});
  for (auto segment : segments) {
    file->pieces_.push_back({segment.begin(), segment.size() * sizeof(capnp::word)});
  }
  uint32_t payload_crc = 0;
  uint64_t payload_bytes = 0;
  for (size_t i = 1; i < file->pieces_.size(); ++i) {
    payload_crc = Crc32(payload_crc, file->pieces_[i].data, file->pieces_[i].size);
    payload_bytes += file->pieces_[i].size;
  }
  EncodeHeader(magic, payload_bytes, kFormatVersion, payload_crc, file->header_);
  file->size_bytes_ = static_cast<int64_t>(kHeaderBytes + payload_bytes);
  file->crc32_ = static_cast<uint32_t>(crc32_combine(Crc32(0, file->header_, kHeaderBytes),
                                                     payload_crc,
                                                     static_cast<z_off_t>(payload_bytes)));
  file->payload_ = std::move(payload);
  return file;
}

std::unique_ptr<EncodedFile> EncodeDataFile(const OperatorSubtaskState& state) {
  // Large blobs become segments of their own that point into `state` (no
  // copy: a 10-million-key state is ~150 MB); small ones are copied into the
  // first segment, sized for them so that it is allocated once.
  constexpr size_t kReferenceBytes = 4096;
  const auto referenced = [&](const KeyGroupBytes& bytes) {
    return bytes.size() >= kReferenceBytes &&
           reinterpret_cast<uintptr_t>(bytes.data()) % alignof(capnp::word) == 0;
  };
  size_t words = 64 + (state.operator_id.size() + state.operator_state.size()) / 8 +
                 4 * state.key_groups.size();
  size_t tails = 0;
  for (const auto& [key_group, bytes] : state.key_groups) {
    if (!referenced(bytes)) {
      words += bytes.size() / 8 + 1;
    } else if (bytes.size() % sizeof(capnp::word) != 0) {
      ++tails;
    }
  }
  words = std::min<size_t>(words, std::numeric_limits<uint32_t>::max() / 2);
  // A referenced blob's last partial word, zero-padded: its own segment,
  // written right after the blob's whole words, so that a reader finds the
  // blob's bytes contiguous in the file and can view them in place.
  auto tail_words = std::make_unique<uint64_t[]>(tails);  // zeroed
  size_t next_tail = 0;
  auto builder = std::make_unique<capnp::MallocMessageBuilder>(static_cast<uint>(words));
  auto root = builder->initRoot<fmt::OperatorSubtaskState>();
  root.setOperatorId(state.operator_id);
  root.setSubtaskIndex(state.subtask_index);
  root.setParallelism(state.parallelism);
  root.setOperatorState(capnp::Data::Reader(
      reinterpret_cast<const kj::byte*>(state.operator_state.data()), state.operator_state.size()));
  auto groups = root.initKeyGroups(static_cast<uint>(state.key_groups.size()));
  auto orphanage = builder->getOrphanage();
  for (size_t i = 0; i < state.key_groups.size(); ++i) {
    const auto& [key_group, bytes] = state.key_groups[i];
    const auto* data = reinterpret_cast<const kj::byte*>(bytes.data());
    groups[i].setKeyGroup(key_group);
    if (referenced(bytes)) {
      // Only whole words may be referenced: capnp writes a segment out to its
      // last word, which must not run past the string's allocation.
      const size_t whole = bytes.size() / sizeof(capnp::word) * sizeof(capnp::word);
      groups[i].adoptData(orphanage.referenceExternalData(capnp::Data::Reader(data, whole)));
      if (whole < bytes.size()) {
        auto* tail = reinterpret_cast<kj::byte*>(&tail_words[next_tail++]);
        memcpy(tail, data + whole, bytes.size() - whole);
        groups[i].adoptTail(
            orphanage.referenceExternalData(capnp::Data::Reader(tail, bytes.size() - whole)));
      }
    } else {
      groups[i].setData(capnp::Data::Reader(data, bytes.size()));
    }
  }
  auto file = EncodedFile::Frame(kDataFileMagic, std::move(builder));
  file->tail_words_ = std::move(tail_words);
  return file;
}

std::unique_ptr<EncodedFile> EncodeMetadata(const CheckpointMetadata& metadata) {
  auto builder = std::make_unique<capnp::MallocMessageBuilder>();
  auto root = builder->initRoot<fmt::CheckpointMetadata>();
  root.setCheckpointId(metadata.checkpoint_id);
  root.setSavepoint(metadata.savepoint);
  root.setTimestampMs(metadata.timestamp_ms);
  root.setMaxParallelism(metadata.max_parallelism);
  root.setJobName(metadata.job_name);
  auto files = root.initFiles(static_cast<uint>(metadata.files.size()));
  for (size_t i = 0; i < metadata.files.size(); ++i) {
    const auto& f = metadata.files[i];
    files[i].setName(f.name);
    files[i].setOperatorId(f.operator_id);
    files[i].setSubtaskIndex(f.subtask_index);
    files[i].setParallelism(f.parallelism);
    files[i].setSizeBytes(f.size_bytes);
    files[i].setChecksum(f.checksum);
    files[i].setOwnerCheckpointId(f.owner_checkpoint_id);
  }
  return EncodedFile::Frame(kMetadataMagic, std::move(builder));
}

absl::StatusOr<OperatorSubtaskState> DecodeDataFile(const FileBytes& file, uint32_t* file_crc) {
  auto payload = VerifyFrame(file, kDataFileMagic, file_crc);
  if (!payload.ok()) return payload.status();
  OperatorSubtaskState state;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
                capnp::FlatArrayMessageReader reader(*payload, PayloadOptions(*payload));
                auto root = reader.getRoot<fmt::OperatorSubtaskState>();
                state.operator_id = root.getOperatorId();
                state.subtask_index = root.getSubtaskIndex();
                state.parallelism = root.getParallelism();
                state.operator_state = ToString(root.getOperatorState());
                auto groups = root.getKeyGroups();
                state.key_groups.reserve(groups.size());
                for (auto group : groups) {
                  auto data = group.getData();
                  auto tail = group.getTail();
                  const auto* begin = reinterpret_cast<const char*>(data.begin());
                  if (file.owner != nullptr && data.size() > 0 &&
                      (tail.size() == 0 || tail.begin() == data.end())) {
                    // In place: the blob's bytes are contiguous in the file
                    // (EncodeDataFile writes a tail right after its blob).
                    state.key_groups.emplace_back(
                        group.getKeyGroup(),
                        KeyGroupBytes(std::string_view(begin, data.size() + tail.size()),
                                      file.owner));
                    continue;
                  }
                  std::string bytes;
                  bytes.reserve(data.size() + tail.size());
                  bytes.append(begin, data.size());
                  bytes.append(reinterpret_cast<const char*>(tail.begin()), tail.size());
                  state.key_groups.emplace_back(group.getKeyGroup(), std::move(bytes));
                }
              })) {
    // The CRC matched, so this is a writer's bug or a different schema.
    return DataLoss(absl::StrCat("malformed state: ", e->getDescription().cStr()));
  }
  return state;
}

absl::StatusOr<CheckpointMetadata> DecodeMetadata(const FileBytes& file) {
  auto payload = VerifyFrame(file, kMetadataMagic, nullptr);
  if (!payload.ok()) return payload.status();
  CheckpointMetadata metadata;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
                capnp::FlatArrayMessageReader reader(*payload, PayloadOptions(*payload));
                auto root = reader.getRoot<fmt::CheckpointMetadata>();
                metadata.checkpoint_id = root.getCheckpointId();
                metadata.savepoint = root.getSavepoint();
                metadata.timestamp_ms = root.getTimestampMs();
                metadata.max_parallelism = root.getMaxParallelism();
                metadata.job_name = root.getJobName();
                for (auto f : root.getFiles()) {
                  CheckpointMetadata::File entry;
                  entry.name = f.getName();
                  entry.operator_id = f.getOperatorId();
                  entry.subtask_index = f.getSubtaskIndex();
                  entry.parallelism = f.getParallelism();
                  entry.size_bytes = f.getSizeBytes();
                  entry.checksum = f.getChecksum();
                  entry.owner_checkpoint_id = f.getOwnerCheckpointId();
                  metadata.files.push_back(std::move(entry));
                }
              })) {
    return DataLoss(absl::StrCat("malformed metadata: ", e->getDescription().cStr()));
  }
  return metadata;
}

std::string DataFileName(const std::string& operator_id, int subtask_index) {
  constexpr size_t kMaxIdChars = 160;  // file names are at most 255 bytes
  std::string name;
  name.reserve(operator_id.size());
  bool changed = operator_id.empty() || operator_id.size() > kMaxIdChars;
  for (char c : operator_id.substr(0, kMaxIdChars)) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '#';
    name.push_back(ok ? c : '_');
    changed |= !ok;
  }
  if (changed) {
    absl::StrAppend(&name, "~", absl::Hex(Crc32(0, operator_id.data(), operator_id.size()),
                                          absl::kZeroPad8));
  }
  absl::StrAppend(&name, "-", subtask_index);
  return name;
}

}  // namespace brook::checkpoint_internal
