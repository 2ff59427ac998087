// CheckpointStorage: the directory storage and the in-memory one share
// everything but the byte store (Store below): file framing
// (checkpoint_file.h), verification, retention and reporting.
#include "brook/checkpoint_storage.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "brook/file_system.h"
#include "brook/status.h"
#include "checkpoint_file.h"

namespace brook {
namespace {

namespace ci = ::brook::checkpoint_internal;

constexpr char kCheckpointPrefix[] = "chk-";
constexpr char kSavepointPrefix[] = "savepoint-";
constexpr char kMetadataTemp[] = "_metadata.inprogress";

// "chk-12" -> 12 for `prefix` "chk-"; nullopt for anything else.
std::optional<int64_t> ParseId(absl::string_view name, absl::string_view prefix) {
  if (!absl::StartsWith(name, prefix) || name.size() == prefix.size()) return std::nullopt;
  absl::string_view digits = name.substr(prefix.size());
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  int64_t id = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (ec != std::errc() || end != digits.data() + digits.size() || id < 0) return std::nullopt;
  return id;
}

std::string DirName(int64_t checkpoint_id, bool savepoint) {
  return absl::StrCat(savepoint ? kSavepointPrefix : kCheckpointPrefix, checkpoint_id);
}

// A data file name from `_metadata` must name a file inside the checkpoint.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// Where the bytes live. Directories are named by their full path ("DIR/chk-3"
// or "mem://chk-3"); files by (directory, name).
class Store {
 public:
  virtual ~Store() = default;
  // The directory `name` directly under the root.
  virtual std::string Child(const std::string& name) const = 0;
  virtual absl::Status MakeDir(const std::string& dir) = 0;
  // Makes the directory's entries durable (where there is a disk).
  virtual absl::Status SyncDir(const std::string& /*dir*/) { return absl::OkStatus(); }
  // Writes the file durably; `atomic` files appear complete or not at all.
  virtual absl::Status WriteFile(const std::string& dir, const std::string& name,
                                 const ci::EncodedFile& file, bool atomic) = 0;
  // kNotFound when the file does not exist.
  virtual absl::StatusOr<ci::FileBytes> ReadFile(const std::string& dir,
                                                 const std::string& name) = 0;
  virtual bool Exists(const std::string& dir, const std::string& name) = 0;
  // Names (not paths) of the root's entries.
  virtual absl::StatusOr<std::vector<std::string>> List() = 0;
  virtual absl::Status RemoveDir(const std::string& dir) = 0;
  // Names of the files in `dir` (empty when it does not exist).
  virtual std::vector<std::string> ListFiles(const std::string& dir) = 0;
  virtual absl::Status RemoveFile(const std::string& dir, const std::string& name) = 0;
};

// ---------------------------------------------------------------------------
// Local directory, through a FileSystem (brook/file_system.h; POSIX by
// default, a fault-injecting one in tests).

class LocalStore final : public Store {
 public:
  LocalStore(std::string root, FileSystem* fs) : root_(std::move(root)), fs_(fs) {}

  std::string Child(const std::string& name) const override {
    return absl::StrCat(root_, "/", name);
  }

  absl::Status MakeDir(const std::string& dir) override { return fs_->CreateDir(dir); }

  absl::Status SyncDir(const std::string& dir) override { return fs_->SyncDir(dir); }

  absl::Status WriteFile(const std::string& dir, const std::string& name,
                         const ci::EncodedFile& file, bool atomic) override {
    const std::string path = absl::StrCat(dir, "/", name);
    const std::string target = atomic ? absl::StrCat(dir, "/", kMetadataTemp) : path;
    BROOK_ASSIGN_OR_RETURN(auto out,
                           fs_->OpenFile(target, FileSystem::OpenMode::kCreateOrTruncate));
    std::vector<std::string_view> pieces;
    pieces.reserve(file.pieces().size());
    for (const auto& piece : file.pieces()) {
      pieces.emplace_back(static_cast<const char*>(piece.data), piece.size);
    }
    absl::Status status = out->Write(0, pieces);
    if (status.ok()) status = out->Sync();
    status.Update(out->Close());
    if (!status.ok() || !atomic) return status;
    BROOK_RETURN_IF_ERROR(fs_->Rename(target, path));
    return fs_->SyncDir(dir);
  }

  absl::StatusOr<ci::FileBytes> ReadFile(const std::string& dir,
                                         const std::string& name) override {
    const std::string path = absl::StrCat(dir, "/", name);
    absl::StatusOr<FileContents> contents = fs_->ReadFile(path);
    if (absl::IsNotFound(contents.status())) {
      return absl::NotFoundError(absl::StrCat(path, ": missing"));
    }
    if (!contents.ok()) return contents.status();
    ci::FileBytes bytes;
    bytes.data = contents->data;
    bytes.size = contents->size;
    bytes.owner = std::const_pointer_cast<void>(std::move(contents->owner));
    return bytes;
  }

  bool Exists(const std::string& dir, const std::string& name) override {
    return fs_->FileExists(absl::StrCat(dir, "/", name));
  }

  absl::StatusOr<std::vector<std::string>> List() override { return fs_->ListDir(root_); }

  absl::Status RemoveDir(const std::string& dir) override { return fs_->RemoveAll(dir); }

  std::vector<std::string> ListFiles(const std::string& dir) override {
    absl::StatusOr<std::vector<std::string>> names = fs_->ListDir(dir);
    return names.ok() ? *std::move(names) : std::vector<std::string>();
  }

  absl::Status RemoveFile(const std::string& dir, const std::string& name) override {
    absl::Status status = fs_->RemoveFile(absl::StrCat(dir, "/", name));
    return absl::IsNotFound(status) ? absl::OkStatus() : status;
  }

 private:
  const std::string root_;
  FileSystem* const fs_;
};

// ---------------------------------------------------------------------------
// In memory.

class MemoryStore final : public Store {
 public:
  static constexpr char kScheme[] = "mem://";

  std::string Child(const std::string& name) const override { return kScheme + name; }

  absl::Status MakeDir(const std::string& dir) override {
    absl::MutexLock lock(&mu_);
    dirs_[dir];
    return absl::OkStatus();
  }

  absl::Status WriteFile(const std::string& dir, const std::string& name,
                         const ci::EncodedFile& file, bool /*atomic*/) override {
    std::string bytes;
    bytes.reserve(file.size_bytes());
    for (const auto& piece : file.pieces()) {
      bytes.append(static_cast<const char*>(piece.data), piece.size);
    }
    absl::MutexLock lock(&mu_);
    auto it = dirs_.find(dir);
    if (it == dirs_.end()) return absl::UnavailableError(absl::StrCat("write ", dir, "/", name,
                                                                      ": no such directory"));
    it->second[name] = std::move(bytes);
    return absl::OkStatus();
  }

  absl::StatusOr<ci::FileBytes> ReadFile(const std::string& dir,
                                         const std::string& name) override {
    absl::MutexLock lock(&mu_);
    std::string* bytes = Find(dir, name);
    if (bytes == nullptr) return absl::NotFoundError(absl::StrCat(dir, "/", name, ": missing"));
    // An aligned copy, as a file read into memory would be.
    auto words = std::shared_ptr<uint64_t[]>(new uint64_t[bytes->size() / 8 + 1]);
    memcpy(words.get(), bytes->data(), bytes->size());
    ci::FileBytes file;
    file.data = reinterpret_cast<const unsigned char*>(words.get());
    file.size = bytes->size();
    file.owner = std::move(words);
    return file;
  }

  bool Exists(const std::string& dir, const std::string& name) override {
    absl::MutexLock lock(&mu_);
    return Find(dir, name) != nullptr;
  }

  absl::StatusOr<std::vector<std::string>> List() override {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> names;
    for (const auto& [dir, files] : dirs_) names.push_back(dir.substr(strlen(kScheme)));
    return names;
  }

  absl::Status RemoveDir(const std::string& dir) override {
    absl::MutexLock lock(&mu_);
    dirs_.erase(dir);
    return absl::OkStatus();
  }

  // For the *ForTesting hooks: runs `f` on the file's bytes under the lock.
  template <typename F>
  absl::Status Mutate(const std::string& dir, const std::string& name, F f) {
    absl::MutexLock lock(&mu_);
    auto it = dirs_.find(dir);
    if (it == dirs_.end() || !it->second.contains(name)) {
      return absl::NotFoundError(absl::StrCat(dir, "/", name, ": no such file"));
    }
    return f(it->second, it->second.find(name));
  }

  std::vector<std::string> ListFiles(const std::string& dir) override { return Files(dir); }

  absl::Status RemoveFile(const std::string& dir, const std::string& name) override {
    absl::MutexLock lock(&mu_);
    if (auto it = dirs_.find(dir); it != dirs_.end()) it->second.erase(name);
    return absl::OkStatus();
  }

  std::vector<std::string> Files(const std::string& dir) {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> names;
    auto it = dirs_.find(dir);
    if (it != dirs_.end()) {
      for (const auto& [name, bytes] : it->second) names.push_back(name);
    }
    return names;
  }

 private:
  using Files_ = std::map<std::string, std::string>;
  std::string* Find(const std::string& dir, const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = dirs_.find(dir);
    if (it == dirs_.end()) return nullptr;
    auto file = it->second.find(name);
    return file == it->second.end() ? nullptr : &file->second;
  }

  absl::Mutex mu_;
  std::map<std::string, Files_> dirs_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------
// What both storages do.

class StorageCore {
 public:
  explicit StorageCore(std::unique_ptr<Store> store) : store_(std::move(store)) {}

  Store& store() { return *store_; }

  absl::StatusOr<CheckpointMetadata::File> WriteState(int64_t checkpoint_id, bool savepoint,
                                                      const OperatorSubtaskState& state) {
    const std::string dir = store_->Child(DirName(checkpoint_id, savepoint));
    BROOK_RETURN_IF_ERROR(store_->MakeDir(dir));
    auto file = ci::EncodeDataFile(state);
    CheckpointMetadata::File entry;
    entry.name = ci::DataFileName(state.operator_id, state.subtask_index);
    entry.operator_id = state.operator_id;
    entry.subtask_index = state.subtask_index;
    entry.parallelism = state.parallelism;
    entry.size_bytes = file->size_bytes();
    entry.checksum = file->crc32();
    BROOK_RETURN_IF_ERROR(store_->WriteFile(dir, entry.name, *file, /*atomic=*/false));
    return entry;
  }

  absl::StatusOr<std::string> CompleteCheckpoint(const CheckpointMetadata& metadata,
                                                 int retained, bool sync_dirs) {
    const std::string dir = store_->Child(DirName(metadata.checkpoint_id, metadata.savepoint));
    for (const auto& f : metadata.files) {
      if (!IsPlainFileName(f.name)) {
        return absl::InvalidArgumentError(absl::StrCat("bad file name in metadata: '", f.name, "'"));
      }
    }
    BROOK_RETURN_IF_ERROR(store_->MakeDir(dir));  // a checkpoint may have no state at all
    if (sync_dirs) {
      // The data files' directory entries, and the checkpoint directory's own,
      // must be durable before `_metadata` says the checkpoint is complete.
      BROOK_RETURN_IF_ERROR(store_->SyncDir(dir));
      BROOK_RETURN_IF_ERROR(store_->SyncDir(store_->Child(".")));
    }
    auto file = ci::EncodeMetadata(metadata);
    BROOK_RETURN_IF_ERROR(store_->WriteFile(dir, ci::kMetadataFileName, *file, /*atomic=*/true));
    if (!metadata.savepoint) {
      // Retention is best effort: the checkpoint is complete whatever happens.
      Prune(metadata.checkpoint_id, std::max(retained, 1)).IgnoreError();
    }
    return dir;
  }

  absl::Status AbortCheckpoint(int64_t checkpoint_id, bool savepoint) {
    return store_->RemoveDir(store_->Child(DirName(checkpoint_id, savepoint)));
  }

  absl::StatusOr<std::optional<RestoredCheckpoint>> LoadLatest(std::vector<std::string>* skipped) {
    BROOK_ASSIGN_OR_RETURN(auto ids, Ids(kCheckpointPrefix));
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
      const std::string dir = store_->Child(DirName(*it, false));
      absl::StatusOr<RestoredCheckpoint> restored = LoadDir(dir);
      if (restored.ok() && restored->metadata.checkpoint_id != *it) {
        restored = absl::DataLossError(absl::StrFormat(
            "%s: names checkpoint %d", ci::kMetadataFileName, restored->metadata.checkpoint_id));
      }
      if (restored.ok()) return std::optional<RestoredCheckpoint>(*std::move(restored));
      if (skipped != nullptr) {
        skipped->push_back(absl::StrCat(dir, ": ", restored.status().message()));
      }
    }
    return std::optional<RestoredCheckpoint>();
  }

  // The message of an error names the file (relative to `dir`) and the reason.
  absl::StatusOr<RestoredCheckpoint> LoadDir(const std::string& dir) {
    auto meta_bytes = store_->ReadFile(dir, ci::kMetadataFileName);
    if (absl::IsNotFound(meta_bytes.status())) {
      return absl::NotFoundError(
          absl::StrCat(ci::kMetadataFileName, " missing (an incomplete checkpoint)"));
    }
    if (!meta_bytes.ok()) return meta_bytes.status();
    auto metadata = ci::DecodeMetadata(*meta_bytes);
    if (!metadata.ok()) {
      return absl::DataLossError(absl::StrCat(ci::kMetadataFileName, ": ",
                                              metadata.status().message()));
    }
    RestoredCheckpoint restored;
    restored.path = dir;
    restored.states.reserve(metadata->files.size());
    for (const auto& f : metadata->files) {
      // A shared file of an incremental chain lives in an earlier checkpoint.
      const bool shared = f.owner_checkpoint_id != 0;
      const std::string label =
          shared ? absl::StrCat(DirName(f.owner_checkpoint_id, false), "/", f.name) : f.name;
      auto error = [&](absl::string_view reason) {
        return absl::DataLossError(absl::StrCat(label, ": ", reason));
      };
      if (!IsPlainFileName(f.name)) return error("not a file name");
      if (shared && (metadata->savepoint || f.owner_checkpoint_id < 0 ||
                     f.owner_checkpoint_id >= metadata->checkpoint_id)) {
        return error("a shared file must be an earlier checkpoint's (and never a savepoint's)");
      }
      auto bytes = store_->ReadFile(
          shared ? store_->Child(DirName(f.owner_checkpoint_id, false)) : dir, f.name);
      if (absl::IsNotFound(bytes.status())) return error("missing file");
      if (!bytes.ok()) return bytes.status();
      if (static_cast<int64_t>(bytes->size) < f.size_bytes) {
        return error(absl::StrFormat("truncated: %d bytes, %s says %d", bytes->size,
                                     ci::kMetadataFileName, f.size_bytes));
      }
      if (static_cast<int64_t>(bytes->size) != f.size_bytes) {
        return error(absl::StrFormat("size mismatch: %d bytes, %s says %d", bytes->size,
                                     ci::kMetadataFileName, f.size_bytes));
      }
      uint32_t crc = 0;
      auto state = ci::DecodeDataFile(*bytes, &crc);
      if (!state.ok()) return error(state.status().message());
      if (crc != f.checksum) {
        return error(absl::StrFormat("checksum mismatch: CRC-32 %08x, %s says %08x", crc,
                                     ci::kMetadataFileName, f.checksum));
      }
      if (state->operator_id != f.operator_id || state->subtask_index != f.subtask_index) {
        return error(absl::StrFormat("holds %s subtask %d, %s says %s subtask %d",
                                     state->operator_id, state->subtask_index,
                                     ci::kMetadataFileName, f.operator_id, f.subtask_index));
      }
      // The files of one operator subtask's chain are consecutive, oldest
      // first: their key groups are applied in that order, and the newest
      // file holds the operator state.
      if (!restored.states.empty() && restored.states.back().operator_id == f.operator_id &&
          restored.states.back().subtask_index == f.subtask_index) {
        OperatorSubtaskState& chain = restored.states.back();
        if (chain.parallelism != state->parallelism) {
          return error("an increment taken at another parallelism than its chain");
        }
        chain.operator_state = std::move(state->operator_state);
        for (auto& kg : state->key_groups) chain.key_groups.push_back(std::move(kg));
        continue;
      }
      restored.states.push_back(*std::move(state));
    }
    restored.metadata = *std::move(metadata);
    return restored;
  }

  absl::StatusOr<int64_t> LatestCheckpointId() {
    BROOK_ASSIGN_OR_RETURN(auto checkpoints, Ids(kCheckpointPrefix));
    BROOK_ASSIGN_OR_RETURN(auto savepoints, Ids(kSavepointPrefix));
    int64_t latest = 0;
    if (!checkpoints.empty()) latest = std::max(latest, checkpoints.back());
    if (!savepoints.empty()) latest = std::max(latest, savepoints.back());
    return latest;
  }

 private:
  // Ids of the root's directories named `prefix`<id>, ascending.
  absl::StatusOr<std::vector<int64_t>> Ids(absl::string_view prefix) {
    BROOK_ASSIGN_OR_RETURN(auto names, store_->List());
    std::vector<int64_t> ids;
    for (const auto& name : names) {
      if (auto id = ParseId(name, prefix)) ids.push_back(*id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  // Keeps the newest `retained` complete checkpoints; removes older complete
  // ones and every incomplete one older than `completed_id` (a newer one may
  // still be in progress). Savepoints are not looked at.
  //
  // Incremental checkpoints: a file that a kept checkpoint names (its chain
  // reaches into an older checkpoint) is kept; its directory loses its
  // `_metadata` (it is no longer a checkpoint to restore) and every other
  // file. A kept `_metadata` that cannot be read keeps everything older.
  absl::Status Prune(int64_t completed_id, int retained) {
    absl::MutexLock lock(&prune_mu_);
    BROOK_ASSIGN_OR_RETURN(auto ids, Ids(kCheckpointPrefix));
    absl::Status status;
    int kept = 0;
    std::map<int64_t, std::vector<std::string>> needed;  // owner id -> files
    std::vector<std::string> remove;
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
      const std::string dir = store_->Child(DirName(*it, false));
      const bool complete = store_->Exists(dir, ci::kMetadataFileName);
      if (complete && kept < retained) {
        ++kept;
        auto bytes = store_->ReadFile(dir, ci::kMetadataFileName);
        auto metadata = bytes.ok() ? ci::DecodeMetadata(*bytes)
                                   : absl::StatusOr<CheckpointMetadata>(bytes.status());
        if (!metadata.ok()) return status;  // keep the rest: it may be needed
        for (const auto& f : metadata->files) {
          if (f.owner_checkpoint_id != 0) needed[f.owner_checkpoint_id].push_back(f.name);
        }
        continue;
      }
      if (complete || *it < completed_id) remove.push_back(dir);
      if (auto n = needed.find(*it); n != needed.end() && !remove.empty() &&
                                     remove.back() == dir) {
        remove.pop_back();
        status.Update(store_->RemoveFile(dir, ci::kMetadataFileName));
        for (const auto& name : store_->ListFiles(dir)) {
          if (std::find(n->second.begin(), n->second.end(), name) == n->second.end()) {
            status.Update(store_->RemoveFile(dir, name));
          }
        }
      }
    }
    for (const auto& dir : remove) status.Update(store_->RemoveDir(dir));
    return status;
  }

  std::unique_ptr<Store> store_;
  absl::Mutex prune_mu_;
};

class LocalDirectoryCheckpointStorage final : public CheckpointStorage {
 public:
  LocalDirectoryCheckpointStorage(std::string directory, FileSystem* fs)
      : core_(std::make_unique<LocalStore>(std::move(directory), fs)) {}

  absl::StatusOr<CheckpointMetadata::File> WriteState(int64_t checkpoint_id, bool savepoint,
                                                      const OperatorSubtaskState& state) override {
    return core_.WriteState(checkpoint_id, savepoint, state);
  }
  absl::StatusOr<std::string> CompleteCheckpoint(const CheckpointMetadata& metadata,
                                                 int retained) override {
    return core_.CompleteCheckpoint(metadata, retained, /*sync_dirs=*/true);
  }
  absl::Status AbortCheckpoint(int64_t checkpoint_id, bool savepoint) override {
    return core_.AbortCheckpoint(checkpoint_id, savepoint);
  }
  absl::StatusOr<std::optional<RestoredCheckpoint>> LoadLatest(
      std::vector<std::string>* skipped) override {
    return core_.LoadLatest(skipped);
  }
  absl::StatusOr<RestoredCheckpoint> Load(const std::string& path) override {
    std::string dir = path;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    auto restored = core_.LoadDir(dir);
    if (!restored.ok()) {
      return absl::Status(restored.status().code(),
                          absl::StrCat(dir, "/", restored.status().message()));
    }
    return restored;
  }
  absl::StatusOr<int64_t> LatestCheckpointId() override { return core_.LatestCheckpointId(); }

 private:
  StorageCore core_;
};

class InMemoryCheckpointStorageImpl final : public InMemoryCheckpointStorage {
 public:
  InMemoryCheckpointStorageImpl() : store_(new MemoryStore), core_(std::unique_ptr<Store>(store_)) {}

  absl::StatusOr<CheckpointMetadata::File> WriteState(int64_t checkpoint_id, bool savepoint,
                                                      const OperatorSubtaskState& state) override {
    return core_.WriteState(checkpoint_id, savepoint, state);
  }
  absl::StatusOr<std::string> CompleteCheckpoint(const CheckpointMetadata& metadata,
                                                 int retained) override {
    return core_.CompleteCheckpoint(metadata, retained, /*sync_dirs=*/false);
  }
  absl::Status AbortCheckpoint(int64_t checkpoint_id, bool savepoint) override {
    return core_.AbortCheckpoint(checkpoint_id, savepoint);
  }
  absl::StatusOr<std::optional<RestoredCheckpoint>> LoadLatest(
      std::vector<std::string>* skipped) override {
    return core_.LoadLatest(skipped);
  }
  absl::StatusOr<RestoredCheckpoint> Load(const std::string& path) override {
    if (!absl::StartsWith(path, MemoryStore::kScheme)) {
      return absl::NotFoundError(absl::StrCat(path, ": not a mem:// path"));
    }
    auto restored = core_.LoadDir(path);
    if (!restored.ok()) {
      return absl::Status(restored.status().code(),
                          absl::StrCat(path, "/", restored.status().message()));
    }
    return restored;
  }
  absl::StatusOr<int64_t> LatestCheckpointId() override { return core_.LatestCheckpointId(); }

  absl::Status CorruptForTesting(const std::string& path, const std::string& file,
                                 int64_t offset) override {
    return store_->Mutate(path, file, [&](auto&, auto it) {
      if (offset < 0 || offset >= static_cast<int64_t>(it->second.size())) {
        return absl::OutOfRangeError(absl::StrCat("offset ", offset, " past ", it->second.size()));
      }
      it->second[offset] = static_cast<char>(~it->second[offset]);
      return absl::OkStatus();
    });
  }
  absl::Status RemoveForTesting(const std::string& path, const std::string& file) override {
    return store_->Mutate(path, file, [&](auto& files, auto it) {
      files.erase(it);
      return absl::OkStatus();
    });
  }
  absl::Status TruncateForTesting(const std::string& path, const std::string& file,
                                  int64_t size_bytes) override {
    return store_->Mutate(path, file, [&](auto&, auto it) {
      if (size_bytes < 0 || size_bytes > static_cast<int64_t>(it->second.size())) {
        return absl::OutOfRangeError(absl::StrCat("size ", size_bytes, " past ", it->second.size()));
      }
      it->second.resize(size_bytes);
      return absl::OkStatus();
    });
  }
  std::vector<std::string> ListFilesForTesting(const std::string& path) override {
    return store_->Files(path);
  }

 private:
  MemoryStore* store_;  // owned by core_
  StorageCore core_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CheckpointStorage>> NewLocalDirectoryCheckpointStorage(
    const std::string& directory, FileSystem* fs) {
  if (directory.empty()) {
    return absl::InvalidArgumentError("checkpoint directory: empty path");
  }
  if (fs == nullptr) fs = FileSystem::Default();
  std::string dir = directory;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  absl::Status created = fs->CreateDirs(dir);
  // The directory's own entry must survive a power cut like its checkpoints.
  if (created.ok()) created = fs->SyncDir(ParentDir(dir));
  if (!created.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot create checkpoint directory ", dir, ": ", created.message()));
  }
  return std::make_unique<LocalDirectoryCheckpointStorage>(std::move(dir), fs);
}

std::unique_ptr<InMemoryCheckpointStorage> NewInMemoryCheckpointStorage() {
  return std::make_unique<InMemoryCheckpointStorageImpl>();
}

}  // namespace brook
