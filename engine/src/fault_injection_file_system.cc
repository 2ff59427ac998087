// An in-memory file system that tracks what is durable (synced bytes, synced
// directory entries) apart from what is merely written, and fails on demand.
#include "brook/testing/fault_injection_file_system.h"

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "brook/status.h"

namespace brook::testing {

// A file or a directory. Directory entries point at nodes, so that a renamed
// file keeps its bytes (synced or not) under its new name.
struct FaultInjectionFileSystem::Node {
  bool directory = false;
  std::string data;                                      // a file's bytes
  std::string synced;                                    // ... as of its last successful fsync
  std::map<std::string, std::shared_ptr<Node>> entries;  // a directory's
  std::map<std::string, std::shared_ptr<Node>> synced_entries;  // ... as of its last fsync

  static std::shared_ptr<Node> NewDirectory() {
    auto node = std::make_shared<Node>();
    node->directory = true;
    return node;
  }
};

struct FaultInjectionFileSystem::State {
  std::shared_ptr<Node> root = Node::NewDirectory();
  struct ActiveRule {
    Rule rule;
    int seen = 0;
  };
  std::vector<ActiveRule> rules;
  int faults = 0;
  bool crashed = false;
  std::vector<Operation> log;
  std::map<std::pair<Op, std::string>, int> calls;  // per (op, path)

  // The components of a path ("a//b/./c" -> a, b, c).
  static std::vector<std::string> Split(const std::string& path) {
    std::vector<std::string> parts;
    for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
      if (part != ".") parts.emplace_back(part);
    }
    return parts;
  }
  std::shared_ptr<Node> Find(const std::string& path) const {
    std::shared_ptr<Node> node = root;
    for (const auto& part : Split(path)) {
      if (!node->directory) return nullptr;
      auto it = node->entries.find(part);
      if (it == node->entries.end()) return nullptr;
      node = it->second;
    }
    return node;
  }
  // The directory that holds `path`, and the entry's name; null when absent.
  std::shared_ptr<Node> Parent(const std::string& path, std::string* name) const {
    std::vector<std::string> parts = Split(path);
    if (parts.empty()) return nullptr;
    *name = parts.back();
    std::shared_ptr<Node> node = root;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      auto it = node->entries.find(parts[i]);
      if (it == node->entries.end() || !it->second->directory) return nullptr;
      node = it->second;
    }
    return node;
  }
  static void Revert(Node& node) {
    if (!node.directory) {
      node.data = node.synced;
      return;
    }
    node.entries = node.synced_entries;
    for (auto& [name, child] : node.entries) Revert(*child);
  }
};

namespace {

absl::Status Errno(int error, absl::string_view op, const std::string& path) {
  absl::Status status = absl::ErrnoToStatus(error, absl::StrCat(op, " '", path, "'"));
  if (status.code() == absl::StatusCode::kUnknown) return absl::UnavailableError(status.message());
  return status;
}

bool Matches(std::string_view pattern, std::string_view path) {
  if (!pattern.empty() && pattern.back() == '$') {
    pattern.remove_suffix(1);
    return path.size() >= pattern.size() && path.substr(path.size() - pattern.size()) == pattern;
  }
  return path.find(pattern) != std::string_view::npos;
}

}  // namespace

class FaultInjectionFileSystem::MemFile final : public File {
 public:
  MemFile(FaultInjectionFileSystem* fs, std::string path, std::shared_ptr<Node> node)
      : fs_(fs), path_(std::move(path)), node_(std::move(node)) {}

  absl::Status Write(int64_t offset, absl::Span<const std::string_view> pieces) override {
    absl::MutexLock lock(&fs_->mu_);
    bool short_write = false;
    absl::Status status = fs_->Check(Op::kWrite, path_, &short_write);
    if (!status.ok() && !short_write) return status;
    size_t total = 0;
    for (std::string_view piece : pieces) total += piece.size();
    const size_t keep = short_write ? total / 2 : total;
    std::string& data = node_->data;
    if (data.size() < static_cast<size_t>(offset) + keep) data.resize(offset + keep);
    size_t at = static_cast<size_t>(offset), left = keep;
    for (std::string_view piece : pieces) {
      const size_t n = std::min(left, piece.size());
      data.replace(at, n, piece.data(), n);
      at += n;
      left -= n;
    }
    return status;
  }

  absl::StatusOr<size_t> Read(int64_t offset, size_t size, char* out) override {
    absl::MutexLock lock(&fs_->mu_);
    BROOK_RETURN_IF_ERROR(fs_->Check(Op::kRead, path_));
    const std::string& data = node_->data;
    if (static_cast<size_t>(offset) >= data.size()) return size_t{0};
    const size_t n = std::min(size, data.size() - static_cast<size_t>(offset));
    memcpy(out, data.data() + offset, n);
    return n;
  }

  absl::StatusOr<int64_t> Size() override {
    absl::MutexLock lock(&fs_->mu_);
    return static_cast<int64_t>(node_->data.size());
  }

  absl::Status Truncate(int64_t size) override {
    absl::MutexLock lock(&fs_->mu_);
    BROOK_RETURN_IF_ERROR(fs_->Check(Op::kTruncate, path_));
    node_->data.resize(static_cast<size_t>(size));
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    absl::MutexLock lock(&fs_->mu_);
    BROOK_RETURN_IF_ERROR(fs_->Check(Op::kSync, path_));
    node_->synced = node_->data;
    return absl::OkStatus();
  }

  absl::Status Close() override { return absl::OkStatus(); }
  const std::string& path() const override { return path_; }

 private:
  FaultInjectionFileSystem* fs_;
  const std::string path_;
  std::shared_ptr<Node> node_;
};

FaultInjectionFileSystem::FaultInjectionFileSystem() : state_(std::make_unique<State>()) {}
FaultInjectionFileSystem::~FaultInjectionFileSystem() = default;

const char* FaultInjectionFileSystem::OpName(Op op) {
  switch (op) {
    case Op::kOpen:
      return "open";
    case Op::kWrite:
      return "write";
    case Op::kSync:
      return "fsync";
    case Op::kTruncate:
      return "truncate";
    case Op::kRename:
      return "rename";
    case Op::kRemove:
      return "remove";
    case Op::kCreateDir:
      return "mkdir";
    case Op::kSyncDir:
      return "fsync-dir";
    case Op::kRead:
      return "read";
  }
  return "?";
}

const char* FaultInjectionFileSystem::FaultName(Fault fault) {
  switch (fault) {
    case Fault::kNoSpace:
      return "NoSpace";
    case Fault::kIoError:
      return "IoError";
    case Fault::kShortWrite:
      return "ShortWrite";
    case Fault::kCrash:
      return "Crash";
  }
  return "?";
}

void FaultInjectionFileSystem::InjectFault(Rule rule) {
  absl::MutexLock lock(&mu_);
  state_->rules.push_back({std::move(rule), 0});
}

void FaultInjectionFileSystem::ClearFaults() {
  absl::MutexLock lock(&mu_);
  state_->rules.clear();
}

int FaultInjectionFileSystem::faults_injected() const {
  absl::MutexLock lock(&mu_);
  return state_->faults;
}

void FaultInjectionFileSystem::PowerCut() {
  absl::MutexLock lock(&mu_);
  State::Revert(*state_->root);
  state_->crashed = false;
}

std::vector<FaultInjectionFileSystem::Operation> FaultInjectionFileSystem::operations() const {
  absl::MutexLock lock(&mu_);
  return state_->log;
}

void FaultInjectionFileSystem::ClearOperations() {
  absl::MutexLock lock(&mu_);
  state_->log.clear();
  state_->calls.clear();
}

absl::Status FaultInjectionFileSystem::Check(Op op, const std::string& path, bool* short_write) {
  State& s = *state_;
  s.log.push_back({op, path, ++s.calls[{op, path}]});
  if (s.crashed && op != Op::kRead) {
    return Errno(EIO, absl::StrCat(OpName(op), " (after a simulated crash)"), path);
  }
  for (auto& active : s.rules) {
    const Rule& rule = active.rule;
    if (rule.op != op || !Matches(rule.path, path)) continue;
    ++active.seen;
    if (active.seen < rule.nth || (active.seen > rule.nth && !rule.sticky)) continue;
    ++s.faults;
    switch (rule.fault) {
      case Fault::kNoSpace:
        return Errno(ENOSPC, OpName(op), path);
      case Fault::kShortWrite:
        if (short_write != nullptr) *short_write = true;
        return Errno(ENOSPC, absl::StrCat(OpName(op), " (short write)"), path);
      case Fault::kCrash:
        s.crashed = true;
        return Errno(EIO, absl::StrCat(OpName(op), " (simulated crash)"), path);
      case Fault::kIoError:
        return Errno(EIO, OpName(op), path);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<File>> FaultInjectionFileSystem::OpenFile(const std::string& path,
                                                                         OpenMode mode) {
  absl::MutexLock lock(&mu_);
  BROOK_RETURN_IF_ERROR(Check(Op::kOpen, path));
  std::string name;
  std::shared_ptr<Node> parent = state_->Parent(path, &name);
  if (parent == nullptr) return Errno(ENOENT, "open", path);
  std::shared_ptr<Node>& node = parent->entries[name];
  if (node == nullptr) node = std::make_shared<Node>();
  if (node->directory) return Errno(EISDIR, "open", path);
  if (mode == OpenMode::kCreateOrTruncate) node->data.clear();
  return std::unique_ptr<File>(new MemFile(this, path, node));
}

absl::StatusOr<FileContents> FaultInjectionFileSystem::ReadFile(const std::string& path) {
  absl::MutexLock lock(&mu_);
  BROOK_RETURN_IF_ERROR(Check(Op::kRead, path));
  std::shared_ptr<Node> node = state_->Find(path);
  if (node == nullptr) return Errno(ENOENT, "open", path);
  if (node->directory) return Errno(EISDIR, "read", path);
  // An aligned copy, as a mapping would be.
  const std::string& data = node->data;
  auto words = std::shared_ptr<uint64_t[]>(new uint64_t[data.size() / 8 + 1]);
  memcpy(words.get(), data.data(), data.size());
  FileContents contents;
  contents.data = reinterpret_cast<const unsigned char*>(words.get());
  contents.size = data.size();
  contents.owner = std::move(words);
  return contents;
}

bool FaultInjectionFileSystem::FileExists(const std::string& path) {
  absl::MutexLock lock(&mu_);
  return state_->Find(path) != nullptr;
}

absl::Status FaultInjectionFileSystem::Rename(const std::string& from, const std::string& to) {
  absl::MutexLock lock(&mu_);
  BROOK_RETURN_IF_ERROR(Check(Op::kRename, from));
  std::string from_name, to_name;
  std::shared_ptr<Node> from_dir = state_->Parent(from, &from_name);
  std::shared_ptr<Node> to_dir = state_->Parent(to, &to_name);
  if (from_dir == nullptr || !from_dir->entries.contains(from_name) || to_dir == nullptr) {
    return Errno(ENOENT, "rename", absl::StrCat(from, "' to '", to));
  }
  std::shared_ptr<Node> node = from_dir->entries[from_name];
  from_dir->entries.erase(from_name);
  to_dir->entries[to_name] = std::move(node);
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::RemoveFile(const std::string& path) {
  absl::MutexLock lock(&mu_);
  BROOK_RETURN_IF_ERROR(Check(Op::kRemove, path));
  std::string name;
  std::shared_ptr<Node> parent = state_->Parent(path, &name);
  auto it = parent == nullptr ? decltype(parent->entries)::iterator() : parent->entries.find(name);
  if (parent == nullptr || it == parent->entries.end()) return Errno(ENOENT, "remove", path);
  if (it->second->directory) return Errno(EISDIR, "remove", path);
  parent->entries.erase(it);
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::RemoveAll(const std::string& path) {
  absl::MutexLock lock(&mu_);
  BROOK_RETURN_IF_ERROR(Check(Op::kRemove, path));
  std::string name;
  std::shared_ptr<Node> parent = state_->Parent(path, &name);
  if (parent != nullptr) parent->entries.erase(name);
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::CreateDir(const std::string& path) {
  absl::MutexLock lock(&mu_);
  BROOK_RETURN_IF_ERROR(Check(Op::kCreateDir, path));
  std::string name;
  std::shared_ptr<Node> parent = state_->Parent(path, &name);
  if (parent == nullptr) {
    if (State::Split(path).empty()) return absl::OkStatus();  // the root
    return Errno(ENOENT, "mkdir", path);
  }
  std::shared_ptr<Node>& node = parent->entries[name];
  if (node == nullptr) node = Node::NewDirectory();
  if (!node->directory) return Errno(EEXIST, "mkdir", path);
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::CreateDirs(const std::string& path) {
  std::string prefix;
  for (const auto& part : State::Split(path)) {
    absl::StrAppend(&prefix, "/", part);
    absl::Status status = CreateDir(prefix);
    if (absl::IsAlreadyExists(status)) {
      return absl::FailedPreconditionError(absl::StrCat("mkdir '", prefix, "': not a directory"));
    }
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::SyncDir(const std::string& path) {
  absl::MutexLock lock(&mu_);
  BROOK_RETURN_IF_ERROR(Check(Op::kSyncDir, path));
  std::shared_ptr<Node> node = state_->Find(path);
  if (node == nullptr) return Errno(ENOENT, "open", path);
  if (!node->directory) return Errno(ENOTDIR, "fsync", path);
  node->synced_entries = node->entries;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> FaultInjectionFileSystem::ListDir(
    const std::string& path) {
  absl::MutexLock lock(&mu_);
  BROOK_RETURN_IF_ERROR(Check(Op::kRead, path));
  std::shared_ptr<Node> node = state_->Find(path);
  if (node == nullptr) return Errno(ENOENT, "list", path);
  if (!node->directory) return Errno(ENOTDIR, "list", path);
  std::vector<std::string> names;
  for (const auto& [name, child] : node->entries) names.push_back(name);
  return names;
}

}  // namespace brook::testing
