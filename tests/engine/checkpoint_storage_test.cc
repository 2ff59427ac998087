// CheckpointStorage (DESIGN.md §7): both storages must write what they read
// back, refuse every damaged checkpoint (reporting it and falling back to the
// previous complete one), keep the last K complete checkpoints and every
// savepoint, and never reuse an id after a restart.
#include "brook/checkpoint_storage.h"

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::Not;

namespace brook {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;

namespace fs = std::filesystem;

// Byte offsets in every checkpoint file: the 40-byte header message is the
// segment table (8), the root pointer (8), magic (8), payload length (8), then
// the format version (4) and payload CRC (4); the payload follows.
constexpr int64_t kVersionOffset = 32;
constexpr int64_t kHeaderBytes = 40;

// A storage plus the means to damage its files the way a crash or a bad disk
// would.
class Harness {
 public:
  virtual ~Harness() = default;
  virtual CheckpointStorage& storage() = 0;
  virtual void Corrupt(const std::string& path, const std::string& file, int64_t offset) = 0;
  virtual void Remove(const std::string& path, const std::string& file) = 0;
  virtual void Truncate(const std::string& path, const std::string& file, int64_t size) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // The path of checkpoint directory `name` ("chk-3").
  virtual std::string PathOf(const std::string& name) = 0;
};

class MemoryHarness : public Harness {
 public:
  CheckpointStorage& storage() override { return *storage_; }
  void Corrupt(const std::string& path, const std::string& file, int64_t offset) override {
    ASSERT_THAT(storage_->CorruptForTesting(path, file, offset), IsOk());
  }
  void Remove(const std::string& path, const std::string& file) override {
    ASSERT_THAT(storage_->RemoveForTesting(path, file), IsOk());
  }
  void Truncate(const std::string& path, const std::string& file, int64_t size) override {
    ASSERT_THAT(storage_->TruncateForTesting(path, file, size), IsOk());
  }
  bool Exists(const std::string& path) override {
    return !storage_->ListFilesForTesting(path).empty();
  }
  std::string PathOf(const std::string& name) override { return "mem://" + name; }

 private:
  std::unique_ptr<InMemoryCheckpointStorage> storage_ = NewInMemoryCheckpointStorage();
};

std::string MakeTempDir() {
  std::string pattern = ::testing::TempDir() + "/brook_ckpt_XXXXXX";
  char* dir = mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr);
  return pattern;
}

class LocalHarness : public Harness {
 public:
  LocalHarness() : dir_(MakeTempDir()) { Reopen(); }
  ~LocalHarness() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Reopen() {
    auto storage = NewLocalDirectoryCheckpointStorage(dir_);
    ASSERT_THAT(storage, IsOk());
    storage_ = *std::move(storage);
  }
  const std::string& dir() const { return dir_; }
  CheckpointStorage& storage() override { return *storage_; }
  void Corrupt(const std::string& path, const std::string& file, int64_t offset) override {
    std::fstream f(path + "/" + file, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.is_open());
    f.seekg(offset);
    char c = 0;
    ASSERT_TRUE(f.get(c));
    f.seekp(offset);
    f.put(static_cast<char>(~c));
  }
  void Remove(const std::string& path, const std::string& file) override {
    ASSERT_TRUE(fs::remove(path + "/" + file));
  }
  void Truncate(const std::string& path, const std::string& file, int64_t size) override {
    fs::resize_file(path + "/" + file, size);
  }
  bool Exists(const std::string& path) override { return fs::exists(path); }
  std::string PathOf(const std::string& name) override { return dir_ + "/" + name; }

 private:
  std::string dir_;
  std::unique_ptr<CheckpointStorage> storage_;
};

std::string RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

// A keyed operator (three key groups, one of them empty), a non-keyed one
// and one with no state at all.
std::vector<OperatorSubtaskState> SampleStates(int64_t checkpoint_id) {
  OperatorSubtaskState keyed;
  keyed.operator_id = "Dedup";
  keyed.subtask_index = 1;
  keyed.parallelism = 2;
  keyed.key_groups = {{64, RandomBytes(1001, 1 + checkpoint_id)},
                      {65, ""},
                      {127, RandomBytes(13, 2)}};
  OperatorSubtaskState source;
  source.operator_id = "Source: cameras";
  source.subtask_index = 0;
  source.parallelism = 1;
  source.operator_state = "offset=" + std::to_string(checkpoint_id * 100);
  OperatorSubtaskState empty;
  empty.operator_id = "Sink";
  return {keyed, source, empty};
}

void ExpectSameState(const OperatorSubtaskState& actual, const OperatorSubtaskState& expected) {
  EXPECT_EQ(actual.operator_id, expected.operator_id);
  EXPECT_EQ(actual.subtask_index, expected.subtask_index);
  EXPECT_EQ(actual.parallelism, expected.parallelism);
  EXPECT_EQ(actual.operator_state, expected.operator_state);
  EXPECT_EQ(actual.key_groups, expected.key_groups);
}

// Writes and completes checkpoint `id` holding `states`; returns its path.
std::string Checkpoint(CheckpointStorage& storage, int64_t id,
                       const std::vector<OperatorSubtaskState>& states, bool savepoint = false,
                       int retained = 3) {
  CheckpointMetadata metadata;
  metadata.checkpoint_id = id;
  metadata.savepoint = savepoint;
  metadata.timestamp_ms = 1700000000000 + id;
  metadata.max_parallelism = 128;
  metadata.job_name = "camera-top-k";
  for (const auto& state : states) {
    auto file = storage.WriteState(id, savepoint, state);
    EXPECT_THAT(file, IsOk());
    if (file.ok()) metadata.files.push_back(*file);
  }
  auto path = storage.CompleteCheckpoint(metadata, retained);
  EXPECT_THAT(path, IsOk());
  return path.ok() ? *path : "";
}

std::string Checkpoint(CheckpointStorage& storage, int64_t id) {
  return Checkpoint(storage, id, SampleStates(id));
}

class CheckpointStorageTest : public ::testing::TestWithParam<bool> {
 protected:
  CheckpointStorageTest() {
    if (GetParam()) {
      harness_ = std::make_unique<LocalHarness>();
    } else {
      harness_ = std::make_unique<MemoryHarness>();
    }
  }
  CheckpointStorage& storage() { return harness_->storage(); }
  Harness& harness() { return *harness_; }
  // Checkpoints `state` alone as checkpoint 1 and loads it back: its state,
  // checked equal to `state` (nullopt, with a failure, if it did not load).
  std::optional<OperatorSubtaskState> RoundTrip(const OperatorSubtaskState& state) {
    Checkpoint(storage(), 1, {state});
    auto latest = storage().LoadLatest(nullptr);
    EXPECT_THAT(latest, IsOk());
    if (!latest.ok() || !latest->has_value() || (*latest)->states.size() != 1) {
      ADD_FAILURE() << "checkpoint 1 did not load back with one state";
      return std::nullopt;
    }
    ExpectSameState((*latest)->states[0], state);
    return std::move((*latest)->states[0]);
  }

  std::unique_ptr<Harness> harness_;
};

INSTANTIATE_TEST_SUITE_P(Storages, CheckpointStorageTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Local" : "InMemory"; });

TEST_P(CheckpointStorageTest, RoundTripsEveryKindOfState) {
  const auto states = SampleStates(7);
  const std::string path = Checkpoint(storage(), 7, states);
  EXPECT_EQ(path, harness().PathOf("chk-7"));

  std::vector<std::string> skipped;
  auto latest = storage().LoadLatest(&skipped);
  ASSERT_THAT(latest, IsOk());
  ASSERT_TRUE(latest->has_value());
  EXPECT_THAT(skipped, SizeIs(0));
  const RestoredCheckpoint& restored = **latest;
  EXPECT_EQ(restored.path, path);
  EXPECT_EQ(restored.metadata.checkpoint_id, 7);
  EXPECT_FALSE(restored.metadata.savepoint);
  EXPECT_EQ(restored.metadata.timestamp_ms, 1700000000007);
  EXPECT_EQ(restored.metadata.max_parallelism, 128);
  EXPECT_EQ(restored.metadata.job_name, "camera-top-k");
  ASSERT_THAT(restored.states, SizeIs(3));
  for (size_t i = 0; i < states.size(); ++i) ExpectSameState(restored.states[i], states[i]);
  ASSERT_THAT(restored.metadata.files, SizeIs(3));
  EXPECT_EQ(restored.metadata.files[0].name, "Dedup-1");
  EXPECT_EQ(restored.metadata.files[0].operator_id, "Dedup");
  EXPECT_EQ(restored.metadata.files[0].subtask_index, 1);
  EXPECT_EQ(restored.metadata.files[0].parallelism, 2);
  EXPECT_GT(restored.metadata.files[0].size_bytes, 1001 + 13);

  auto by_path = storage().Load(path);
  ASSERT_THAT(by_path, IsOk());
  ASSERT_THAT(by_path->states, SizeIs(3));
  for (size_t i = 0; i < states.size(); ++i) ExpectSameState(by_path->states[i], states[i]);
}

TEST_P(CheckpointStorageTest, RoundTripsAStateOfSeveralMegabytes) {
  OperatorSubtaskState big;
  big.operator_id = "Dedup";
  for (int kg = 0; kg < 16; ++kg) {
    big.key_groups.emplace_back(kg, RandomBytes(300 * 1024 + kg, kg));  // ~4.8 MB in all
  }
  big.operator_state = RandomBytes(100 * 1024 + 3, 99);
  RoundTrip(big);
}

// A restore reads key groups in place: views that share the file's bytes,
// large ones (whole words or not; each one or two Cap'n Proto segments of
// their own) and small ones (copied into the file's first segment) alike.
TEST_P(CheckpointStorageTest, LoadsKeyGroupsAsViewsOfTheFile) {
  OperatorSubtaskState big;
  big.operator_id = "Dedup";
  for (int kg = 0; kg < 1024; ++kg) {
    const size_t size = kg % 3 == 0 ? 100 + static_cast<size_t>(kg % 8)
                                    : 4096 + static_cast<size_t>(kg % 8);
    big.key_groups.emplace_back(kg, RandomBytes(size, static_cast<uint32_t>(kg)));
  }
  const std::optional<OperatorSubtaskState> state = RoundTrip(big);
  ASSERT_TRUE(state.has_value());
  const auto& loaded = state->key_groups;
  for (const auto& [kg, bytes] : loaded) {
    EXPECT_EQ(bytes.owner(), loaded[0].second.owner()) << "key group " << kg;
  }
  // A copy owns its bytes.
  const KeyGroupBytes copy(std::string(loaded[1].second.view()));
  EXPECT_NE(copy.owner(), loaded[1].second.owner());
  EXPECT_EQ(copy, loaded[1].second);
}

TEST_P(CheckpointStorageTest, ACheckpointWithoutStateRoundTrips) {
  Checkpoint(storage(), 1, {});
  auto latest = storage().LoadLatest(nullptr);
  ASSERT_THAT(latest, IsOk());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->metadata.checkpoint_id, 1);
  EXPECT_THAT((*latest)->states, SizeIs(0));
}

TEST_P(CheckpointStorageTest, NothingToLoadInAnEmptyStorage) {
  std::vector<std::string> skipped;
  auto latest = storage().LoadLatest(&skipped);
  ASSERT_THAT(latest, IsOk());
  EXPECT_FALSE(latest->has_value());
  EXPECT_THAT(skipped, SizeIs(0));
  auto id = storage().LatestCheckpointId();
  ASSERT_THAT(id, IsOk());
  EXPECT_EQ(*id, 0);
}

TEST_P(CheckpointStorageTest, OperatorIdsAreSanitisedWithoutCollisions) {
  OperatorSubtaskState a;
  a.operator_id = "Window/Sum (1s)";
  a.operator_state = "a";
  OperatorSubtaskState b;
  b.operator_id = "Window_Sum__1s_";
  b.operator_state = "b";
  OperatorSubtaskState c;
  c.operator_id = "../../etc";
  c.operator_state = "c";
  Checkpoint(storage(), 1, {a, b, c});
  auto latest = storage().LoadLatest(nullptr);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  const auto& files = (*latest)->metadata.files;
  ASSERT_THAT(files, SizeIs(3));
  EXPECT_NE(files[0].name, files[1].name);
  EXPECT_EQ(files[1].name, "Window_Sum__1s_-0");
  for (const auto& f : files) EXPECT_EQ(f.name.find('/'), std::string::npos) << f.name;
  ASSERT_THAT((*latest)->states, SizeIs(3));
  EXPECT_EQ((*latest)->states[0].operator_state, "a");
  EXPECT_EQ((*latest)->states[1].operator_state, "b");
  EXPECT_EQ((*latest)->states[2].operator_state, "c");
}

// One way of damaging checkpoint 2 of {1, 2}.
struct Damage {
  std::string name;
  std::function<void(Harness&, const std::string& path)> apply;
  std::string reason;  // in the report
  std::string file;    // named by Load()'s kDataLoss
};

std::vector<Damage> Damages() {
  return {
      {"FlippedPayloadByteInDataFile",
       [](Harness& h, const std::string& path) { h.Corrupt(path, "Dedup-1", 600); },
       "checksum mismatch", "Dedup-1"},
      {"FlippedLastByteOfDataFile",
       [](Harness& h, const std::string& path) {
         // Padding after the last 13-byte blob: no field reads it, only the
         // checksum can notice.
         auto loaded = h.storage().Load(path);
         ASSERT_THAT(loaded, IsOk());
         h.Corrupt(path, "Dedup-1", loaded->metadata.files[0].size_bytes - 1);
       },
       "checksum mismatch", "Dedup-1"},
      {"FlippedHeaderByteInDataFile",
       [](Harness& h, const std::string& path) { h.Corrupt(path, "Dedup-1", 3); },
       "header", "Dedup-1"},
      {"WrongVersionOfDataFile",
       [](Harness& h, const std::string& path) { h.Corrupt(path, "Dedup-1", kVersionOffset); },
       "bad version", "Dedup-1"},
      {"FlippedByteInMetadata",
       [](Harness& h, const std::string& path) { h.Corrupt(path, "_metadata", kHeaderBytes + 20); },
       "checksum mismatch", "_metadata"},
      {"TruncatedDataFile",
       [](Harness& h, const std::string& path) {
         auto loaded = h.storage().Load(path);
         ASSERT_THAT(loaded, IsOk());
         h.Truncate(path, "Dedup-1", loaded->metadata.files[0].size_bytes / 2);
       },
       "truncated", "Dedup-1"},
      {"TruncatedMetadata",
       [](Harness& h, const std::string& path) { h.Truncate(path, "_metadata", 60); },
       "truncated", "_metadata"},
      {"MissingDataFile",
       [](Harness& h, const std::string& path) { h.Remove(path, "Dedup-1"); }, "missing file",
       "Dedup-1"},
  };
}

class DamagedCheckpointTest
    : public ::testing::TestWithParam<std::tuple<bool, int>> {
 protected:
  DamagedCheckpointTest() {
    if (std::get<0>(GetParam())) {
      harness_ = std::make_unique<LocalHarness>();
    } else {
      harness_ = std::make_unique<MemoryHarness>();
    }
  }
  std::unique_ptr<Harness> harness_;
};

TEST_P(DamagedCheckpointTest, IsReportedAndThePreviousOneLoaded) {
  Harness& h = *harness_;
  Checkpoint(h.storage(), 1);
  const std::string path = Checkpoint(h.storage(), 2);
  const Damage damage = Damages()[std::get<1>(GetParam())];
  SCOPED_TRACE(damage.name);
  damage.apply(h, path);

  std::vector<std::string> skipped;
  auto latest = h.storage().LoadLatest(&skipped);
  ASSERT_THAT(latest, IsOk());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->metadata.checkpoint_id, 1);
  EXPECT_EQ((*latest)->path, h.PathOf("chk-1"));
  ASSERT_THAT((*latest)->states, SizeIs(3));
  ExpectSameState((*latest)->states[0], SampleStates(1)[0]);
  EXPECT_THAT(skipped, ElementsAre(AllOf(StartsWith(path + ": " + damage.file + ": "),
                                         HasSubstr(damage.reason))));

  auto loaded = h.storage().Load(path);
  EXPECT_THAT(loaded.status(), StatusIs(absl::StatusCode::kDataLoss)) << loaded.status();
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(path + "/" + damage.file), HasSubstr(damage.reason)));
}

INSTANTIATE_TEST_SUITE_P(
    Storages, DamagedCheckpointTest,
    ::testing::Combine(::testing::Values(false, true),
                       ::testing::Range(0, static_cast<int>(Damages().size()))),
    [](const auto& info) {
      return (std::get<0>(info.param) ? "Local_" : "InMemory_") +
             Damages()[std::get<1>(info.param)].name;
    });

TEST_P(CheckpointStorageTest, MissingMetadataIsAnIncompleteCheckpoint) {
  Checkpoint(storage(), 1);
  const std::string path = Checkpoint(storage(), 2);
  harness().Remove(path, "_metadata");
  std::vector<std::string> skipped;
  auto latest = storage().LoadLatest(&skipped);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->metadata.checkpoint_id, 1);
  EXPECT_THAT(skipped, ElementsAre(AllOf(StartsWith(path + ": "), HasSubstr("_metadata missing"))));
  EXPECT_THAT(storage().Load(path).status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(CheckpointStorageTest, PendingCheckpointsAreSkippedAndEverySkippedOneReported) {
  Checkpoint(storage(), 1);
  const std::string two = Checkpoint(storage(), 2);
  ASSERT_THAT(storage().WriteState(3, false, SampleStates(3)[0]), IsOk());  // never completed
  harness().Corrupt(two, "Dedup-1", 500);
  std::vector<std::string> skipped;
  auto latest = storage().LoadLatest(&skipped);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->metadata.checkpoint_id, 1);
  EXPECT_THAT(skipped, ElementsAre(StartsWith(harness().PathOf("chk-3") + ": "),
                                   StartsWith(two + ": Dedup-1: checksum mismatch")));
}

TEST_P(CheckpointStorageTest, NoCompleteCheckpointLoadsNothing) {
  const std::string one = Checkpoint(storage(), 1);
  harness().Remove(one, "_metadata");
  std::vector<std::string> skipped;
  auto latest = storage().LoadLatest(&skipped);
  ASSERT_THAT(latest, IsOk());
  EXPECT_FALSE(latest->has_value());
  EXPECT_THAT(skipped, SizeIs(1));
}

TEST_P(CheckpointStorageTest, KeepsTheLastThreeCompleteCheckpointsAndEverySavepoint) {
  Checkpoint(storage(), 1);
  const std::string savepoint = Checkpoint(storage(), 2, SampleStates(2), /*savepoint=*/true);
  EXPECT_EQ(savepoint, harness().PathOf("savepoint-2"));
  for (int id = 3; id <= 6; ++id) Checkpoint(storage(), id);
  EXPECT_FALSE(harness().Exists(harness().PathOf("chk-1")));
  EXPECT_FALSE(harness().Exists(harness().PathOf("chk-3")));
  for (int id = 4; id <= 6; ++id) {
    EXPECT_TRUE(harness().Exists(harness().PathOf("chk-" + std::to_string(id)))) << id;
  }
  EXPECT_TRUE(harness().Exists(savepoint));
  auto restored = storage().Load(savepoint);
  ASSERT_THAT(restored, IsOk());
  EXPECT_TRUE(restored->metadata.savepoint);
  ExpectSameState(restored->states[1], SampleStates(2)[1]);
  // A savepoint is not a checkpoint to resume from automatically.
  auto latest = storage().LoadLatest(nullptr);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->metadata.checkpoint_id, 6);
}

TEST_P(CheckpointStorageTest, PrunesOlderIncompleteCheckpointsButNotNewerPendingOnes) {
  Checkpoint(storage(), 1);
  ASSERT_THAT(storage().WriteState(2, false, SampleStates(2)[0]), IsOk());  // failed
  ASSERT_THAT(storage().WriteState(4, false, SampleStates(4)[0]), IsOk());  // still running
  Checkpoint(storage(), 3, SampleStates(3), false, /*retained=*/1);
  EXPECT_FALSE(harness().Exists(harness().PathOf("chk-1")));
  EXPECT_FALSE(harness().Exists(harness().PathOf("chk-2")));
  EXPECT_TRUE(harness().Exists(harness().PathOf("chk-3")));
  EXPECT_TRUE(harness().Exists(harness().PathOf("chk-4")));
}

TEST_P(CheckpointStorageTest, AbortRemovesWhatACheckpointWrote) {
  ASSERT_THAT(storage().WriteState(5, false, SampleStates(5)[0]), IsOk());
  EXPECT_TRUE(harness().Exists(harness().PathOf("chk-5")));
  EXPECT_THAT(storage().AbortCheckpoint(5, false), IsOk());
  EXPECT_FALSE(harness().Exists(harness().PathOf("chk-5")));
  EXPECT_THAT(storage().AbortCheckpoint(5, false), IsOk());  // nothing left: still fine
}

TEST_P(CheckpointStorageTest, LatestIdCountsIncompleteCheckpointsAndSavepoints) {
  Checkpoint(storage(), 3);
  EXPECT_EQ(*storage().LatestCheckpointId(), 3);
  ASSERT_THAT(storage().WriteState(4, false, SampleStates(4)[0]), IsOk());
  EXPECT_EQ(*storage().LatestCheckpointId(), 4);
  Checkpoint(storage(), 9, {}, /*savepoint=*/true);
  EXPECT_EQ(*storage().LatestCheckpointId(), 9);
}

TEST_P(CheckpointStorageTest, LoadOfAPathWithoutMetadataIsNotFound) {
  EXPECT_THAT(storage().Load(harness().PathOf("chk-42")).status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST(LocalDirectoryCheckpointStorageTest, IdsAndCheckpointsSurviveARestart) {
  LocalHarness h;
  Checkpoint(h.storage(), 1);
  Checkpoint(h.storage(), 2);
  ASSERT_THAT(h.storage().WriteState(3, false, SampleStates(3)[0]), IsOk());
  h.Reopen();
  EXPECT_EQ(*h.storage().LatestCheckpointId(), 3);
  std::vector<std::string> skipped;
  auto latest = h.storage().LoadLatest(&skipped);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->metadata.checkpoint_id, 2);
  ExpectSameState((*latest)->states[0], SampleStates(2)[0]);
  EXPECT_THAT(skipped, ElementsAre(StartsWith(h.dir() + "/chk-3: _metadata missing")));
  // No stray temp file is left behind by the atomic write of `_metadata`.
  EXPECT_FALSE(fs::exists(h.dir() + "/chk-2/_metadata.inprogress"));
  EXPECT_TRUE(fs::exists(h.dir() + "/chk-2/_metadata"));
  EXPECT_TRUE(fs::exists(h.dir() + "/chk-2/Dedup-1"));
}

TEST(LocalDirectoryCheckpointStorageTest, ASavepointLoadsAfterBeingMoved) {
  LocalHarness h;
  const std::string savepoint = Checkpoint(h.storage(), 4, SampleStates(4), /*savepoint=*/true);
  const std::string moved = MakeTempDir() + "/kept";
  fs::rename(savepoint, moved);
  auto restored = h.storage().Load(moved + "/");
  ASSERT_THAT(restored, IsOk());
  EXPECT_EQ(restored->path, moved);
  ExpectSameState(restored->states[0], SampleStates(4)[0]);
  fs::remove_all(fs::path(moved).parent_path());
}

TEST(LocalDirectoryCheckpointStorageTest, ADirectoryThatCannotBeCreatedIsNamed) {
  LocalHarness h;
  const std::string file = h.dir() + "/a-file";
  std::ofstream(file) << "x";
  auto storage = NewLocalDirectoryCheckpointStorage(file + "/checkpoints");
  ASSERT_THAT(storage, Not(IsOk()));
  EXPECT_THAT(std::string(storage.status().message()), HasSubstr(file + "/checkpoints"));
  auto over_file = NewLocalDirectoryCheckpointStorage(file);
  ASSERT_THAT(over_file, Not(IsOk()));
  EXPECT_THAT(std::string(over_file.status().message()), HasSubstr(file));
  EXPECT_THAT(NewLocalDirectoryCheckpointStorage("").status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(LocalDirectoryCheckpointStorageTest, AWriteIntoAnUnwritableDirectoryFailsNamingIt) {
  LocalHarness h;
  const std::string path = h.dir() + "/chk-1";
  std::ofstream(path) << "not a directory";
  auto file = h.storage().WriteState(1, false, SampleStates(1)[0]);
  ASSERT_THAT(file, Not(IsOk()));
  EXPECT_THAT(std::string(file.status().message()), HasSubstr(path));
}

TEST(InMemoryCheckpointStorageTest, TestingHooksReportWhatTheyCannotDo) {
  auto storage = NewInMemoryCheckpointStorage();
  Checkpoint(*storage, 1);
  EXPECT_THAT(storage->ListFilesForTesting("mem://chk-1"),
              ::testing::Contains("_metadata"));
  EXPECT_THAT(storage->CorruptForTesting("mem://chk-1", "nope", 0), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(storage->CorruptForTesting("mem://chk-1", "_metadata", 1 << 20), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(storage->TruncateForTesting("mem://chk-1", "_metadata", 1 << 20), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(storage->Load("/tmp/chk-1").status(), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace brook
