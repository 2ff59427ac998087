// Fuzz target: a checkpoint's `_metadata` through the public read path,
// brook::NewLocalDirectoryCheckpointStorage's Load() and LoadLatest(): a
// real checkpoint (two operator subtasks' files) is written once, then each
// input replaces its `_metadata` (with a frame made consistent, see
// checkpoint_frame.h) and is loaded. The entries name, size and checksum
// the data files, so the input steers which files are opened and verified
// (names such as "../x" must be refused). A load either verifies every file
// or fails with a status; LoadLatest() skips what does not verify.
//
// BROOK_FUZZ_DUMP_SEED=DIR copies the valid checkpoint's files to DIR (the
// seeds of this target and of checkpoint_file).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "brook/checkpoint_storage.h"
#include "checkpoint_frame.h"
#include "fuzz_util.h"

namespace {

struct Fixture {
  std::string dir;
  std::string checkpoint;
  std::unique_ptr<brook::CheckpointStorage> storage;
};

Fixture& GetFixture() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;
    f->dir = brook_fuzz::ProcessTempDir() + "/checkpoints";
    auto storage = brook::NewLocalDirectoryCheckpointStorage(f->dir);
    if (!storage.ok()) std::abort();
    f->storage = std::move(*storage);
    brook::CheckpointMetadata metadata;
    metadata.checkpoint_id = 1;
    metadata.timestamp_ms = 1700000000000;
    metadata.max_parallelism = 128;
    metadata.job_name = "fuzz";
    brook::OperatorSubtaskState source, keyed;
    source.operator_id = "source";
    source.operator_state = "position";
    keyed.operator_id = "top k";  // sanitised in the file name, with a hash
    keyed.subtask_index = 1;
    keyed.parallelism = 2;
    keyed.key_groups = {{64, "key group 64"}, {65, std::string(5000, 'x')}};
    for (const auto* state : {&source, &keyed}) {
      auto file = f->storage->WriteState(1, false, *state);
      if (!file.ok()) std::abort();
      metadata.files.push_back(*file);
    }
    auto path = f->storage->CompleteCheckpoint(metadata, 3);
    if (!path.ok()) std::abort();
    f->checkpoint = *path;
    if (const char* seeds = std::getenv("BROOK_FUZZ_DUMP_SEED")) {
      std::filesystem::copy(f->checkpoint, seeds);
    }
    return f;
  }();
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = GetFixture();
  brook_fuzz::WriteFileOrDie(
      f.checkpoint + "/_metadata",
      brook_fuzz::WithConsistentFrame(std::string(reinterpret_cast<const char*>(data), size)));
  auto loaded = f.storage->Load(f.checkpoint);
  if (loaded.ok()) {
    // Verified: every listed file decoded to a state.
    if (loaded->states.size() != loaded->metadata.files.size()) std::abort();
  } else if (loaded.status().message().empty()) {
    std::abort();
  }
  std::vector<std::string> skipped;
  auto latest = f.storage->LoadLatest(&skipped);
  if (!latest.ok()) std::abort();  // the directory itself is readable
  if (!*latest && skipped.empty()) std::abort();  // chk-1 exists: loaded or reported
  return 0;
}
